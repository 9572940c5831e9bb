"""Admission of client writes: the schema checks a real cluster makes before storing.

- FlinkDeployment: the CRD schema facts of flink-kubernetes-operator 1.x (integer nonces and
  parallelism, enums for job.state, job.upgradeMode, flinkVersion, mode), worded like the
  apiextensions validator (`spec.restartNonce: Invalid value: "string": spec.restartNonce in
  body must be of type integer`).
- Knative Service: every container env entry has a `name`, and a `value` that is a string.
- Core kinds: the OpenAPI schema of Kubernetes itself, through `kubernetes-validate`.
- Events: the upstream event validation (sandbox.kube.events).
Every refusal is 422 Invalid naming each bad field.
"""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]

from sandbox.kube import errors, events
from sandbox.kube.resources import FLINK, KNATIVE_SERVICE, Resource

Obj = dict[str, Any]
Cause = tuple[str, str, str]
FLINK_VERSIONS = [f"v1_{n}" for n in range(13, 21)] + [f"v2_{n}" for n in range(5)]
FLINK_INTEGERS = (
    "spec.restartNonce",
    "spec.job.parallelism",
    "spec.job.savepointTriggerNonce",
    "spec.job.checkpointTriggerNonce",
    "spec.job.savepointRedeployNonce",
)
FLINK_ENUMS = {
    "spec.job.state": ["running", "suspended"],
    "spec.job.upgradeMode": ["last-state", "savepoint", "stateless"],
    "spec.flinkVersion": FLINK_VERSIONS,
    "spec.mode": ["native", "standalone"],
}
K8S_VERSION = kubernetes_validate.latest_version()
_MISSING = object()


def json_type(value: Any) -> str:
    """The OpenAPI type name of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _lookup(obj: Obj, path: str) -> Any:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def type_cause(path: str, value: Any, want: str) -> Cause:
    return (
        path,
        "FieldValueTypeInvalid",
        f'Invalid value: "{json_type(value)}": {path} in body must be of type {want}',
    )


def enum_cause(path: str, value: Any, allowed: list[str]) -> Cause:
    supported = ", ".join(f'"{v}"' for v in allowed)
    return (
        path,
        "FieldValueNotSupported",
        f"Unsupported value: {json.dumps(value)}: supported values: {supported}",
    )


def flink_causes(obj: Obj) -> list[Cause]:
    out: list[Cause] = []
    for path in FLINK_INTEGERS:
        value = _lookup(obj, path)
        if value is not _MISSING and json_type(value) != "integer":
            out.append(type_cause(path, value, "integer"))
    for path, allowed in FLINK_ENUMS.items():
        value = _lookup(obj, path)
        if value is _MISSING:
            continue
        if not isinstance(value, str):
            out.append(type_cause(path, value, "string"))
        elif value not in allowed:
            out.append(enum_cause(path, value, allowed))
    return out


def knative_causes(obj: Obj) -> list[Cause]:
    out: list[Cause] = []
    containers = _lookup(obj, "spec.template.spec.containers")
    if not isinstance(containers, list):
        return out
    for i, container in enumerate(containers):
        env = container.get("env") if isinstance(container, dict) else None
        for j, var in enumerate(env if isinstance(env, list) else []):
            where = f"spec.template.spec.containers[{i}].env[{j}]"
            if not isinstance(var, dict):
                out.append(type_cause(where, var, "object"))
                continue
            if not var.get("name"):
                out.append((f"{where}.name", "FieldValueRequired", "Required value"))
            if "value" in var and not isinstance(var["value"], str):
                out.append(type_cause(f"{where}.value", var["value"], "string"))
    return out


def core_causes(obj: Obj) -> list[Cause]:
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=False)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "<root>"
        return [
            (path, "FieldValueInvalid", f"Invalid value: {json.dumps(exc.instance)}: {exc.message}")
        ]
    except kubernetes_validate.SchemaNotFoundError:
        return []
    return []


def admit(res: Resource, old: Obj | None, new: Obj) -> None:
    """The store's validator: raise 422 for a write a real API server would refuse."""
    if res.group in ("", "events.k8s.io"):
        events.validate(res, new)  # the upstream rules before the schema's
    if res is FLINK:
        causes = flink_causes(new)
    elif res is KNATIVE_SERVICE:
        causes = knative_causes(new)
    elif not res.crd:
        causes = core_causes(new)
    else:
        causes = []
    if causes:
        name = (new.get("metadata") or {}).get("name", "")
        raise errors.invalid_many(res, name, causes)
