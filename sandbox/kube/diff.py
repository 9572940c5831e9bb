"""Argo CD's three-way comparison and apply (last-applied annotation, live, git): a field set
live that git never had is neither drift nor reverted; a field git dropped is removed."""

from __future__ import annotations

import copy
import json
from typing import Any

Obj = dict[str, Any]
# Top-level fields Argo CD owns on a managed object (status is never synced from git).
SYNCED_FIELDS = ("spec", "data", "stringData", "binaryData", "type", "immutable")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def three_way(last: Any, live: Any, desired: Any) -> Any:
    """What applying `desired` makes of `live`: git's fields win, fields git had before (in
    `last`) and dropped are removed, fields only the live object has are kept. Lists are atomic."""
    if not isinstance(desired, dict) or not isinstance(live, dict):
        return copy.deepcopy(desired)
    last = last if isinstance(last, dict) else {}
    out = copy.deepcopy(live)
    for key, value in desired.items():
        out[key] = three_way(last.get(key), live.get(key), value)
    for key in last:
        if key not in desired:
            out.pop(key, None)
    return out


def last_applied(live: Obj) -> Obj:
    raw = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def drifted(desired: Obj, live: Obj | None) -> bool:
    """True when applying git would change a field Argo CD manages on the live object."""
    if live is None:
        return True
    last = last_applied(live)
    for field in SYNCED_FIELDS:
        if field in desired:
            if three_way(last.get(field), live.get(field), desired[field]) != live.get(field):
                return True
        elif field in last and field in live:
            return True
    for part in ("labels", "annotations"):
        want = (desired.get("metadata") or {}).get(part) or {}
        have = (live.get("metadata") or {}).get(part) or {}
        if any(have.get(k) != v for k, v in want.items()):
            return True
    return False


def selected(obj: Obj, dest_ns: str, wanted: dict[str, Any]) -> bool:
    """Whether a `sync.resources` entry ({group, kind, name, namespace}) names this manifest."""
    meta = obj.get("metadata") or {}
    group = obj["apiVersion"].rpartition("/")[0]
    ns = meta.get("namespace") or dest_ns
    return (
        (wanted.get("group") or "") == group
        and wanted.get("kind") == obj["kind"]
        and wanted.get("name") == meta.get("name")
        and (not wanted.get("namespace") or wanted["namespace"] == ns)
    )


def overlay(live: Obj, desired: Obj) -> None:
    """Apply git to the live object three ways (see `three_way`); keep status and server
    metadata."""
    last = last_applied(live)
    for field in SYNCED_FIELDS:
        if field in desired:
            live[field] = three_way(last.get(field), live.get(field), desired[field])
        elif field in last:
            live.pop(field, None)
    meta = live.setdefault("metadata", {})
    for part in ("labels", "annotations"):
        want = (desired.get("metadata") or {}).get(part)
        if want:
            meta.setdefault(part, {}).update(want)
