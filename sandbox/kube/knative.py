"""Simulated Knative Serving controller: each new spec generation becomes a Ready Revision."""

from __future__ import annotations

import asyncio
from typing import Any

from sandbox.kube import errors
from sandbox.kube.resources import KNATIVE_SERVICE
from sandbox.kube.store import Obj, Store, now_iso
from sandbox.kube.timings import Timings


def _ready_status(obj: Obj) -> dict[str, Any]:
    meta = obj["metadata"]
    revision = f"{meta['name']}-{int(meta.get('generation', 1)):05d}"
    conditions = [
        {"type": t, "status": "True", "lastTransitionTime": now_iso()}
        for t in ("ConfigurationsReady", "Ready", "RoutesReady")
    ]
    return {
        "observedGeneration": meta.get("generation"),
        "latestCreatedRevisionName": revision,
        "latestReadyRevisionName": revision,
        "url": f"http://{meta['name']}.{meta['namespace']}.svc.cluster.local",
        "address": {"url": f"http://{meta['name']}.{meta['namespace']}.svc.cluster.local"},
        "traffic": [{"revisionName": revision, "percent": 100, "latestRevision": True}],
        "conditions": conditions,
    }


class KnativeController:
    def __init__(self, store: Store, timings: Timings) -> None:
        self.store = store
        self.timings = timings

    async def run(self) -> None:
        while True:
            self.reconcile_all()
            await asyncio.sleep(self.timings.tick)

    def reconcile_all(self) -> None:
        for obj in self.store.list(KNATIVE_SERVICE, None):
            meta = obj["metadata"]
            if (obj.get("status") or {}).get("observedGeneration") == meta.get("generation"):
                continue
            status = _ready_status(obj)
            try:
                self.store.update(
                    KNATIVE_SERVICE,
                    meta["namespace"],
                    meta["name"],
                    lambda live, s=status: live.__setitem__("status", s),
                    subresource="status",
                )
            except errors.ApiError:
                continue  # deleted meanwhile
