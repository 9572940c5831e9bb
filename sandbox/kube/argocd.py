"""Simulated Argo CD application controller for Applications in namespace `argocd`.

- A sync runs when `operation.sync` is set on an Application (merge patch, as `kubectl` users
  do) or via `POST /argocd/api/v1/applications/{name}/sync`: operationState goes Running ->
  Succeeded|Failed|Error; the final state and `operation: null` land in one write.
- The Kubernetes API refuses nothing: a patch of `operation` overwrites a running one, and the
  running one's completion then clears it (the overwrite is lost, as with the real controller).
  Only the REST sync refuses while an operation is set ("another operation is already in
  progress", 400 FailedPrecondition); it clears the previous operationState and writes with the
  resourceVersion it read.
- `sync.resources` limits a sync to the listed objects. Objects are applied and compared three
  ways (last-applied annotation, live, git): a field set live that git never had is kept.
- Every `argocd_refresh` (+ up to `argocd_refresh_jitter`) seconds git is fetched and compared
  with the live objects (status.sync Synced/OutOfSync, status.health, status.resources); a REST
  GET with `?refresh=normal|hard` compares at once. With
  `spec.syncPolicy.automated` a new git revision is synced; with `selfHeal` live drift on an
  already-synced revision is re-synced after a backoff (base `selfheal_backoff`, x3, cap 300 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

from sandbox.kube import errors
from sandbox.kube.diff import LAST_APPLIED, drifted, overlay, selected
from sandbox.kube.gitsource import GitSource, Manifests, SourceError
from sandbox.kube.health import resource_health, worst
from sandbox.kube.resources import APPLICATION, by_kind
from sandbox.kube.store import Obj, Store, now_iso
from sandbox.kube.timings import Timings

log = logging.getLogger(__name__)
NAMESPACE = "argocd"
SUCCESS = "successfully synced (all tasks run)"
BUSY = "another operation is already in progress"
TRACKING_LABEL = "app.kubernetes.io/instance"


class ArgoCD:
    def __init__(self, store: Store, workdir: Path, timings: Timings) -> None:
        self.store = store
        self.timings = timings
        self.git = GitSource(workdir / "argocd-repo-cache")
        self.tasks: dict[str, asyncio.Task[None]] = {}  # app name -> running operation
        self.next_refresh = 0.0
        self.heal: dict[str, tuple[int, float]] = {}  # app -> (attempts, not before)
        self.epoch = 0  # bumped by reset(); work begun before a reset must not write after it
        self.faults: dict[str, dict[str, Any]] = {}  # app -> {"mode": hang|fail, "message"}

    def reset(self) -> None:
        self.epoch += 1
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()
        self.heal.clear()
        self.faults.clear()
        self.next_refresh = 0.0

    def set_fault(self, name: str, mode: str | None, message: str | None = None) -> None:
        """Test hook: the next syncs of `name` hang in Running (`hang`) or fail (`fail`)."""
        if mode in (None, "", "none"):
            self.faults.pop(name, None)
        elif mode in ("hang", "fail"):
            self.faults[name] = {"mode": mode, "message": message}
        else:
            raise errors.bad_request(f'fault mode must be "hang", "fail" or "none", not {mode!r}')

    def request_sync(self, name: str, sync: dict[str, Any], username: str = "admin") -> Obj:
        """Argo CD's SetAppOperation: GET, refuse while an operation is set, clear the previous
        operationState, Update with the resourceVersion read (retrying on 409)."""
        operation = {"initiatedBy": {"username": username}, "sync": sync}
        while True:
            app = self.store.get(APPLICATION, NAMESPACE, name)
            if app.get("operation"):
                raise errors.ApiError(400, BUSY, reason="FailedPrecondition")
            app["operation"] = operation
            (app.get("status") or {}).pop("operationState", None)
            try:
                return self.store.replace(APPLICATION, NAMESPACE, name, app, admit=False)
            except errors.ApiError as err:
                if err.code != 409:
                    raise

    async def refreshed(self, name: str) -> Obj:
        """`GET ...?refresh=normal`: compare git with live now, then answer."""
        await self.refresh(self.store.get(APPLICATION, NAMESPACE, name))
        return self.store.get(APPLICATION, NAMESPACE, name)

    # -- main loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            refresh = time.monotonic() >= self.next_refresh
            if refresh:
                jitter = random.uniform(0.0, self.timings.argocd_refresh_jitter)
                self.next_refresh = time.monotonic() + self.timings.argocd_refresh + jitter
            for app in self.store.list(APPLICATION, NAMESPACE):
                name = app["metadata"]["name"]
                busy = name in self.tasks and not self.tasks[name].done()
                if app.get("operation") and not busy:
                    self.tasks[name] = asyncio.create_task(self.operate(name, delay=True))
                elif refresh and not busy:
                    try:
                        await self.refresh(app)
                    except errors.ApiError as err:
                        log.warning("refresh of %s: %s", name, err.message)
            await asyncio.sleep(self.timings.tick)

    async def refresh(self, app: Obj) -> None:
        """Compare git with live; maybe start an automated sync or a self-heal."""
        name = app["metadata"]["name"]
        epoch = self.epoch
        try:
            manifests = await self._manifests(app, None)
        except SourceError as exc:
            if epoch == self.epoch:
                self._set_status(name, {"sync": {"status": "Unknown"}}, condition=str(exc))
            return
        if epoch != self.epoch:
            return
        resources, out_of_sync = self._compare(app, manifests)
        sync = {"status": "OutOfSync" if out_of_sync else "Synced", "revision": manifests.revision}
        self._set_status(name, self._summary(app, sync, resources))
        policy = ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated")
        if not out_of_sync or policy is None or policy.get("enabled") is False:
            self.heal.pop(name, None)
            return
        synced = ((app.get("status") or {}).get("operationState") or {}).get("syncResult") or {}
        if synced.get("revision") != manifests.revision:
            self._auto_sync(name, manifests.revision, automated=True)
        elif policy.get("selfHeal"):
            attempts, not_before = self.heal.get(name, (0, 0.0))
            now = time.monotonic()
            if not_before == 0.0:  # drift first seen: wait one backoff before healing
                self.heal[name] = (0, now + self.timings.selfheal_backoff)
            elif now >= not_before:
                backoff = min(self.timings.selfheal_backoff * 3 ** (attempts + 1), 300.0)
                self.heal[name] = (attempts + 1, now + backoff)
                self._auto_sync(name, manifests.revision, automated=True)

    def _auto_sync(self, name: str, revision: str, *, automated: bool) -> None:
        operation = {
            "initiatedBy": {"automated": automated},
            "sync": {"revision": revision},
            "retry": {"limit": 5},
        }
        with contextlib.suppress(errors.ApiError):
            self.store.update(
                APPLICATION, NAMESPACE, name, lambda a: a.__setitem__("operation", operation)
            )

    # -- one sync operation ------------------------------------------------------------------
    async def operate(self, name: str, *, delay: bool) -> None:
        app = self.store.get(APPLICATION, NAMESPACE, name)
        operation = copy.deepcopy(app.get("operation") or {})
        started = now_iso()
        running = {"operation": operation, "phase": "Running", "message": "", "startedAt": started}
        self._set_status(name, {"operationState": running})
        if delay:
            await asyncio.sleep(self.timings.argocd_sync)
        await self._hang_while_faulted(name)
        fault = self.faults.get(name) or {}
        sync = operation.get("sync") or {}
        phase, message, results, revision = "Succeeded", SUCCESS, [], ""
        try:
            app = self.store.get(APPLICATION, NAMESPACE, name)
            manifests = await self._manifests(app, sync.get("revision"))
            revision = manifests.revision
            if fault.get("mode") == "fail":
                phase = "Failed"
                message = fault.get("message") or "one or more objects failed to apply"
            elif not sync.get("dryRun"):
                results = self._apply_all(app, manifests, sync.get("resources"))
            if any(r["status"] == "SyncFailed" for r in results):
                phase, message = "Failed", "one or more objects failed to apply"
        except SourceError as exc:
            phase, message = "Error", str(exc)
        except errors.ApiError as exc:
            phase, message = "Error", exc.message
        final = {
            **running,
            "phase": phase,
            "message": message,
            "finishedAt": now_iso(),
            "syncResult": {"revision": revision, "resources": results, "source": _source(app)},
        }
        try:
            fresh = self.store.get(APPLICATION, NAMESPACE, name)
            manifests_now = await self._manifests(fresh, None)
            resources, out_of_sync = self._compare(fresh, manifests_now)
            sync_status = {
                "status": "OutOfSync" if out_of_sync else "Synced",
                "revision": manifests_now.revision,
            }
            summary = self._summary(fresh, sync_status, resources)
        except (SourceError, errors.ApiError):
            summary = {}

        def finish(live: Obj) -> None:
            live.pop("operation", None)  # cleared in the same write as the final state
            status = live.setdefault("status", {})
            status.update(summary)
            status["operationState"] = final
            if phase == "Succeeded":
                history = status.setdefault("history", [])
                history.append(
                    {
                        "id": len(history),
                        "revision": revision,
                        "deployedAt": final["finishedAt"],
                        "deployStartedAt": started,
                        "source": _source(live),
                    }
                )
                del history[:-10]

        with contextlib.suppress(errors.ApiError):
            self.store.update(APPLICATION, NAMESPACE, name, finish)

    async def _hang_while_faulted(self, name: str) -> None:
        """The `hang` fault: the operation stays Running until the fault is lifted."""
        while True:
            if (self.faults.get(name) or {}).get("mode") != "hang":
                return
            await asyncio.sleep(self.timings.tick)

    def _apply_all(
        self, app: Obj, manifests: Manifests, only: list[dict[str, Any]] | None
    ) -> list[dict[str, Any]]:
        dest_ns = ((app.get("spec") or {}).get("destination") or {}).get("namespace", "default")
        return [
            self._apply(app, obj, dest_ns)
            for obj in manifests.objects
            if not only or any(selected(obj, dest_ns, r) for r in only)
        ]

    def _apply(self, app: Obj, desired: Obj, dest_ns: str) -> dict[str, Any]:
        res = by_kind(desired["apiVersion"], desired["kind"])
        meta = desired.get("metadata") or {}
        ns = meta.get("namespace") or dest_ns
        group, _, version = desired["apiVersion"].rpartition("/")
        result = {
            "group": group,
            "version": version,
            "kind": desired["kind"],
            "namespace": ns,
            "name": meta.get("name", ""),
        }
        if res is None:
            return {
                **result,
                "status": "SyncFailed",
                "message": f"the server could not find the requested resource ({desired['kind']})",
            }
        body = copy.deepcopy(desired)
        body.setdefault("metadata", {}).setdefault("labels", {})[TRACKING_LABEL] = app["metadata"][
            "name"
        ]
        body.pop("status", None)
        applied = json.dumps(body, sort_keys=True, separators=(",", ":"))
        body["metadata"].setdefault("annotations", {})[LAST_APPLIED] = applied
        label = f"{res.kind.lower()}{'.' + res.group if res.group else ''}/{result['name']}"
        try:
            live = self.store.find(res, ns, result["name"])
            if live is None:
                self.store.create(res, ns, body, admit=False)
                return {**result, "status": "Synced", "message": f"{label} created"}
            before = live["metadata"]["resourceVersion"]
            after = self.store.update(res, ns, result["name"], lambda o: overlay(o, body))
            verb = "unchanged" if after["metadata"]["resourceVersion"] == before else "configured"
            return {**result, "status": "Synced", "message": f"{label} {verb}"}
        except errors.ApiError as exc:
            return {**result, "status": "SyncFailed", "message": exc.message}

    # -- comparison --------------------------------------------------------------------------
    async def _manifests(self, app: Obj, revision: str | None) -> Manifests:
        source = (app.get("spec") or {}).get("source") or {}
        recurse = bool((source.get("directory") or {}).get("recurse"))
        return await self.git.manifests(
            source.get("repoURL", ""),
            revision or source.get("targetRevision") or "HEAD",
            source.get("path", ""),
            recurse=recurse,
        )

    def _compare(self, app: Obj, manifests: Manifests) -> tuple[list[dict[str, Any]], bool]:
        dest_ns = ((app.get("spec") or {}).get("destination") or {}).get("namespace", "default")
        out, any_drift = [], False
        for desired in manifests.objects:
            meta = desired.get("metadata") or {}
            ns = meta.get("namespace") or dest_ns
            res = by_kind(desired["apiVersion"], desired["kind"])
            live = self.store.find(res, ns, meta.get("name", "")) if res else None
            drift = drifted(desired, live)
            any_drift = any_drift or drift
            group, _, version = desired["apiVersion"].rpartition("/")
            entry: dict[str, Any] = {
                "group": group,
                "version": version,
                "kind": desired["kind"],
                "namespace": ns,
                "name": meta.get("name", ""),
                "status": "OutOfSync" if drift else "Synced",
            }
            health = resource_health(desired["kind"], live)
            if health is not None:
                entry["health"] = health
            out.append(entry)
        return out, any_drift

    @staticmethod
    def _summary(app: Obj, sync: dict[str, Any], resources: list[dict[str, Any]]) -> Obj:
        healths = [r["health"]["status"] for r in resources if "health" in r]
        sync = {
            **sync,
            "comparedTo": {
                "source": _source(app),
                "destination": (app.get("spec") or {}).get("destination"),
            },
        }
        return {"sync": sync, "health": {"status": worst(healths)}, "resources": resources}

    def _set_status(self, name: str, fields: Obj, condition: str | None = None) -> None:
        def mutate(live: Obj) -> None:
            status = live.setdefault("status", {})
            status.update(copy.deepcopy(fields))
            if condition is not None:
                status["conditions"] = [
                    {
                        "type": "ComparisonError",
                        "message": condition,
                        "lastTransitionTime": now_iso(),
                    }
                ]
            elif "sync" in fields:
                status.pop("conditions", None)

        with contextlib.suppress(errors.ApiError):
            self.store.update(APPLICATION, NAMESPACE, name, mutate)


def _source(app: Obj) -> Any:
    return copy.deepcopy((app.get("spec") or {}).get("source"))
