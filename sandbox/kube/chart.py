"""The RBAC objects a cluster gets from this repo's Helm chart, rendered with Helm's own engine
(helm-python-sdk), so the stand-in authorizes with exactly what the chart grants."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import yaml

CHART_DIR = Path(__file__).resolve().parents[2] / "helm" / "torghut-ta-ops"
RELEASE = NAMESPACE = "torghut-ta-ops"
RBAC_KINDS = ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
# Every component the chart can run, so each has its ServiceAccount and its real Role here (the
# remediator's are the probes' gets plus its actuators' calls, in three namespaces).
DEFAULT_VALUES: dict[str, Any] = {"remediator": {"enabled": True}}


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every object `helm template` prints for the chart with `values`."""
    try:
        import helm_python as helm
    except ImportError as exc:  # the `sandbox` extra installs it
        raise RuntimeError(
            "helm-python-sdk is needed to load the chart's RBAC into the kube stand-in: "
            "pip install 'torghut-ta-ops[sandbox]'"
        ) from exc
    helm.disable_logging()
    with helm.Chart.load(CHART_DIR) as chart:
        rendered = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith("NOTES.txt"):
            objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def rbac_objects(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The ServiceAccounts, Roles and bindings of the chart rendered with `values` (rendered
    once per process and values)."""
    chosen = DEFAULT_VALUES if values is None else values
    return copy.deepcopy(list(_rbac(json.dumps(chosen, sort_keys=True))))


@functools.cache
def _rbac(values_json: str) -> tuple[dict[str, Any], ...]:
    return tuple(o for o in render(json.loads(values_json)) if o.get("kind") in RBAC_KINDS)


def service_account(objects: list[dict[str, Any]], component: str) -> tuple[str, str]:
    """(namespace, name) of the chart's ServiceAccount for `component` (exporter, remediator)."""
    for obj in objects:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        if (
            obj.get("kind") == "ServiceAccount"
            and labels.get("app.kubernetes.io/component") == component
        ):
            return meta.get("namespace", NAMESPACE), meta["name"]
    raise LookupError(f"the chart renders no ServiceAccount for component {component!r}")
