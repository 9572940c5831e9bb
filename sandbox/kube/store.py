"""In-memory object store with the API server's bookkeeping: uid, resourceVersion, generation,
preconditions, watch events, and an optional JSON state file so a restart keeps objects."""

from __future__ import annotations

import asyncio
import collections
import copy
import json
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.kube import errors, events, patches, resources
from sandbox.kube.resources import Resource
from sandbox.kube.selectors import field_matcher, label_matcher

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (resource storage key, namespace ("" if cluster-scoped), name)
# An admission check for client writes: (resource, old or None, new) -> raise ApiError to refuse.
Validator = Callable[[Resource, Obj | None, Obj], None]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Event:
    """One watch event, tagged with the resourceVersion it produced."""

    __slots__ = ("key", "obj", "rv", "type")

    def __init__(self, rv: int, type_: str, key: Key, obj: Obj) -> None:
        self.rv, self.type, self.key, self.obj = rv, type_, key, obj


class Store:
    """All objects of all kinds; every mutation bumps one global resourceVersion counter."""

    def __init__(self, state_file: Path | None = None, history: int = 5000) -> None:
        self.rv = 0
        self.objects: dict[Key, Obj] = {}
        self.history: collections.deque[Event] = collections.deque(maxlen=history)
        self.watchers: set[asyncio.Queue[Event]] = set()
        self.validators: list[Validator] = []
        self.state_file = state_file
        if state_file is not None and state_file.exists():
            self._load(state_file)

    # -- persistence -------------------------------------------------------------------------
    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text())
        self.rv = int(data["rv"])
        for item in data["objects"]:
            self.objects[(item["key"], item["namespace"], item["name"])] = item["object"]

    def _save(self) -> None:
        if self.state_file is None:
            return
        data = {
            "rv": self.rv,
            "objects": [
                {"key": k, "namespace": ns, "name": n, "object": o}
                for (k, ns, n), o in self.objects.items()
            ],
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.state_file)

    def reset(self) -> None:
        """Forget every object (the counter keeps going, so old resourceVersions stay stale)."""
        self.objects.clear()
        self.history.clear()
        self._save()

    # -- watch plumbing ----------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self.watchers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self.watchers.discard(queue)

    def events_since(self, rv: int) -> list[Event]:
        """Events newer than `rv`; 410 Expired when the history no longer reaches back that far."""
        if rv < self.rv and (not self.history or self.history[0].rv > rv + 1):
            raise errors.ApiError(
                410, f"too old resource version: {rv} ({self.rv})", reason="Expired"
            )
        return [e for e in self.history if e.rv > rv]

    def _emit(self, type_: str, key: Key, obj: Obj) -> None:
        event = Event(self.rv, type_, key, copy.deepcopy(obj))
        self.history.append(event)
        for queue in self.watchers:
            queue.put_nowait(event)
        self._save()

    # -- reads -------------------------------------------------------------------------------
    @staticmethod
    def view(res: Resource, stored: Obj) -> Obj:
        """A stored object as `res` shows it (a copy)."""
        return events.from_storage(res, copy.deepcopy(stored))

    def get(self, res: Resource, ns: str, name: str) -> Obj:
        obj = self.objects.get((res.storage_key, ns, name))
        if obj is None:
            raise errors.not_found(res, name)
        return self.view(res, obj)

    def find(self, res: Resource, ns: str, name: str) -> Obj | None:
        obj = self.objects.get((res.storage_key, ns, name))
        return self.view(res, obj) if obj is not None else None

    def list(
        self,
        res: Resource,
        ns: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]:
        by_label, by_field = label_matcher(label_selector), field_matcher(field_selector)
        views = [
            self.view(res, o)
            for (k, n, _), o in sorted(self.objects.items())
            if k == res.storage_key and (ns is None or n == ns)
        ]
        return [o for o in views if by_label(o) and by_field(o)]

    # -- writes ------------------------------------------------------------------------------
    def create(
        self, res: Resource, ns: str, body: Obj, *, admit: bool = True, dry_run: bool = False
    ) -> Obj:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        name = meta.get("name")
        if not name:
            raise errors.ApiError(
                422,
                f'{res.kind} "" is invalid: metadata.name: Required value: name or '
                "generateName is required",
            )
        if res.namespaced and meta.get("namespace") not in (None, "", ns):
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        key = (res.storage_key, ns, name)
        if key in self.objects:
            raise errors.already_exists(res, name)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        if res.namespaced:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if admit:
            for check in self.validators:
                check(res, None, obj)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_iso())
        meta.pop("resourceVersion", None)
        if res.crd:
            meta["generation"] = 1
        if dry_run:
            return copy.deepcopy(obj)  # validated and admitted; nothing stored
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        self.objects[key] = events.to_storage(res, copy.deepcopy(obj))
        self._emit("ADDED", key, self.objects[key])
        return copy.deepcopy(obj)

    def replace(
        self,
        res: Resource,
        ns: str,
        name: str,
        body: Obj,
        *,
        subresource: str | None = None,
        admit: bool = True,
        dry_run: bool = False,
    ) -> Obj:
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise errors.bad_request(
                "the name of the object "
                f"({meta.get('name')}) does not match the name on the URL ({name})"
            )
        old = self.find(res, ns, name)
        if old is None:
            if not res.create_on_update or subresource is not None:
                raise errors.not_found(res, name)
            # create-on-update (Lease): the body becomes the object, as a POST would make it
            fresh = copy.deepcopy(body)
            fresh.setdefault("metadata", {})["name"] = name
            if fresh["metadata"].get("resourceVersion"):
                raise errors.not_found(res, name)  # a precondition on a missing object
            return self.create(res, ns, fresh, admit=admit, dry_run=dry_run)
        rv = meta.get("resourceVersion")
        if not rv and not res.unconditional_update:
            raise errors.invalid(
                res,
                name,
                "metadata.resourceVersion",
                "Invalid value: 0x0: must be specified for an update",
                by_resource=True,
            )
        new = copy.deepcopy(body)
        return self._commit(res, ns, name, old, new, rv, subresource, admit, dry_run)

    def patch(
        self,
        res: Resource,
        ns: str,
        name: str,
        content_type: str,
        body: bytes,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        old = self.get(res, ns, name)
        new = patches.apply_patch(content_type, body, old, crd=res.crd)
        if not isinstance(new, dict):
            raise errors.bad_request("the patched object is not a JSON object")
        rv = (new.get("metadata") or {}).get("resourceVersion")
        # A resourceVersion in the patch is a precondition; an untouched one is not.
        precondition = rv if rv != old["metadata"]["resourceVersion"] else None
        return self._commit(res, ns, name, old, new, precondition, subresource, True, dry_run)

    def update(
        self,
        res: Resource,
        ns: str,
        name: str,
        mutate: Callable[[Obj], None],
        *,
        subresource: str | None = None,
    ) -> Obj:
        """A controller write: read-modify-write with no precondition and no admission."""
        old = self.get(res, ns, name)
        new = copy.deepcopy(old)
        mutate(new)
        return self._commit(res, ns, name, old, new, None, subresource, False, False)

    def delete(self, res: Resource, ns: str, name: str, *, dry_run: bool = False) -> Obj:
        key = (res.storage_key, ns, name)
        if key not in self.objects:
            raise errors.not_found(res, name)
        if dry_run:
            return self.view(res, self.objects[key])
        obj = self.objects.pop(key)
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self._emit("DELETED", key, obj)
        return self.view(res, obj)

    def _commit(
        self,
        res: Resource,
        ns: str,
        name: str,
        old: Obj,
        new: Obj,
        precondition: str | None,
        subresource: str | None,
        admit: bool,
        dry_run: bool,
    ) -> Obj:
        if precondition is not None and precondition != old["metadata"]["resourceVersion"]:
            raise errors.conflict(res, name)
        if subresource == "status":
            # A status write changes only status.
            merged = copy.deepcopy(old)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            new = merged
        elif res.status_subresource:
            new.pop("status", None)
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
        meta = new.setdefault("metadata", {})
        for field in ("uid", "creationTimestamp", "namespace", "name", "generation"):
            meta.pop(field, None)
            if field in old["metadata"]:
                meta[field] = old["metadata"][field]
        new["apiVersion"], new["kind"] = res.api_version, res.kind
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return new  # a no-op write changes nothing, like the real API
        if admit:
            for check in self.validators:
                check(res, old, new)
        if res.crd and self._bumps_generation(res, old, new):
            meta["generation"] = int(old["metadata"].get("generation", 0)) + 1
        if dry_run:
            return copy.deepcopy(new)  # validated and admitted; nothing stored
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        key = (res.storage_key, ns, name)
        self.objects[key] = events.to_storage(res, copy.deepcopy(new))
        self._emit("MODIFIED", key, self.objects[key])
        return copy.deepcopy(new)

    @staticmethod
    def _bumps_generation(res: Resource, old: Obj, new: Obj) -> bool:
        ignored = {"metadata", "status"} if res.status_subresource else {"metadata"}
        strip = lambda o: {k: v for k, v in o.items() if k not in ignored}  # noqa: E731
        return strip(old) != strip(new)


def resource_for(api_version: str, kind: str) -> Resource:
    res = resources.by_kind(api_version, kind)
    if res is None:
        raise errors.bad_request(f"no kind {kind!r} is registered for version {api_version!r}")
    return res
