"""Events: `v1` and `events.k8s.io/v1` are two views of one store (stored in the core shape),
with the upstream validation of each (pkg/apis/core/validation/events.go)."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.kube import errors
from sandbox.kube.resources import CORE_EVENT, EVENT, Resource

Obj = dict[str, Any]
# events.k8s.io/v1 field -> core v1 field (the rest share their names)
_RENAMES = {
    "note": "message",
    "regarding": "involvedObject",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_BACK = {v: k for k, v in _RENAMES.items()}
NOTE_LIMIT, ACTION_LIMIT, REASON_LIMIT, INSTANCE_LIMIT = 1024, 128, 128, 128


def _rename(obj: Obj, names: dict[str, str], res: Resource) -> Obj:
    out = {names.get(k, k): copy.deepcopy(v) for k, v in obj.items()}
    out["apiVersion"], out["kind"] = res.api_version, res.kind
    return out


def to_storage(res: Resource, obj: Obj) -> Obj:
    return _rename(obj, _RENAMES, CORE_EVENT) if res is EVENT else obj


def from_storage(res: Resource, obj: Obj) -> Obj:
    return _rename(obj, _BACK, EVENT) if res is EVENT else obj


def validate(res: Resource, obj: Obj) -> None:
    """Refuse an Event write the way the API server does (422 listing every bad field)."""
    if res not in (EVENT, CORE_EVENT):
        return
    core = to_storage(res, obj)
    ns = (obj.get("metadata") or {}).get("namespace", "")
    causes = _legacy(core, ns, res)
    if res is EVENT:
        causes += _strict(core)
    if causes:
        name = (obj.get("metadata") or {}).get("name", "")
        raise errors.invalid_many(res, name, causes)


def _legacy(ev: Obj, ns: str, res: Resource) -> list[tuple[str, str, str]]:
    """(field, reason, message) of legacyValidateEvent, which both versions run."""
    out: list[tuple[str, str, str]] = []
    involved_ns = (ev.get("involvedObject") or {}).get("namespace", "")
    mismatch = (
        "involvedObject.namespace",
        "FieldValueInvalid",
        f'Invalid value: "{involved_ns}": does not match event.namespace',
    )
    if not ev.get("eventTime"):
        if (involved_ns and involved_ns != ns) or (not involved_ns and ns not in ("", "default")):
            out.append(mismatch)
        return out
    if not involved_ns and ns not in ("default", "kube-system"):
        out.append(mismatch)
    elif involved_ns and involved_ns != ns:
        out.append(mismatch)
    controller_field = "reportingController" if res is EVENT else "reportingComponent"
    for field, limit in (
        (controller_field, None),
        ("reportingInstance", INSTANCE_LIMIT),
        ("action", ACTION_LIMIT),
        ("reason", REASON_LIMIT),
    ):
        core_field = "reportingComponent" if field == controller_field else field
        value = ev.get(core_field) or ""
        if not value:
            out.append((field, "FieldValueRequired", "Required value"))
        elif limit is not None and len(value) > limit:
            out.append(
                (
                    field,
                    "FieldValueInvalid",
                    f'Invalid value: "": can have at most {limit} characters',
                )
            )
    note = ev.get("message") or ""
    if len(note.encode()) > NOTE_LIMIT:
        field = "note" if res is EVENT else "message"
        out.append(
            (
                field,
                "FieldValueInvalid",
                f'Invalid value: "": can have at most {NOTE_LIMIT} characters',
            )
        )
    return out


def _strict(ev: Obj) -> list[tuple[str, str, str]]:
    """The extra checks for writes through events.k8s.io/v1."""
    out: list[tuple[str, str, str]] = []
    if not ev.get("eventTime"):
        out.append(("eventTime", "FieldValueRequired", "Required value"))
    if ev.get("type") not in ("Normal", "Warning"):
        out.append(
            (
                "type",
                "FieldValueInvalid",
                f'Invalid value: "": has invalid value: {ev.get("type") or ""}',
            )
        )
    for field, new_name in (
        ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"),
        ("count", "deprecatedCount"),
        ("source", "deprecatedSource"),
    ):
        if ev.get(field):
            out.append((new_name, "FieldValueInvalid", 'Invalid value: "": needs to be unset'))
    return out
