"""Simulated Flink Kubernetes Operator: moves FlinkDeployment status the way the real one does.

Transitions (each takes `Timings.operator_step`, STABLE needs `stable_period` of RUNNING):
- new spec, job running: reconciliation UPGRADING (old job FINISHED/CANCELED, JobManager
  DEPLOYING) -> DEPLOYED (JobManager DEPLOYED_NOT_READY, job RECONCILING, new jobId)
  -> job RUNNING, JobManager READY -> lifecycle STABLE.
- new spec, job suspended: UPGRADING (job CANCELLING) -> DEPLOYED with job FINISHED
  (last-state/savepoint) or CANCELED (stateless), JobManager MISSING -> lifecycle SUSPENDED.
- `fail()`: job FAILED, `status.error` set to the serialized JobException ("Recovery is
  suppressed by ...") whose `throwableList` is the job's exception chain, JobManager stays READY
  (so Argo CD still says Healthy).
- manual savepoints (`spec.job.savepointTriggerNonce`): sandbox.kube.snapshots; a change of the
  nonce alone is not an upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from sandbox.kube import errors, snapshots
from sandbox.kube.resources import CORE_EVENT, FLINK
from sandbox.kube.store import Obj, Store, now_iso
from sandbox.kube.timings import Timings

log = logging.getLogger(__name__)
EVENTS = CORE_EVENT
FLINK_VERSION = "1.20.1"
JOB_EXCEPTION = "org.apache.flink.runtime.JobException"
RUNTIME_EXCEPTION = "java.lang.RuntimeException"
RESTART_STRATEGY = (
    "FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts=3, backoffTimeMS=10000)"
)


def _ms() -> str:
    return str(int(time.time() * 1000))


def lifecycle_state(status: dict[str, Any]) -> str:
    """ResourceLifecycleState as the operator derives it from the status."""
    rec = status.get("reconciliationStatus") or {}
    if not rec.get("lastReconciledSpec"):
        return "FAILED" if status.get("error") else "CREATED"
    if rec.get("state") == "UPGRADING":
        return "UPGRADING"
    last = json.loads(rec["lastReconciledSpec"]).get("spec", {})
    if (last.get("job") or {}).get("state") == "suspended":
        return "SUSPENDED"
    if (status.get("jobStatus") or {}).get("state") == "FAILED":
        return "FAILED"
    if status.get("error") and status.get("jobManagerDeploymentStatus") == "ERROR":
        return "FAILED"
    if rec.get("lastStableSpec") and rec.get("lastStableSpec") == rec.get("lastReconciledSpec"):
        return "STABLE"
    return "DEPLOYED"


def _reconciled_spec(obj: Obj, first: bool) -> str:
    meta = obj["metadata"]
    return json.dumps(
        {
            "spec": obj.get("spec", {}),
            "resource_metadata": {
                "apiVersion": obj["apiVersion"],
                "metadata": {"generation": meta.get("generation")},
                "firstDeployment": first,
            },
        },
        sort_keys=True,
    )


def _stopped_state(spec: dict[str, Any]) -> str:
    mode = (spec.get("job") or {}).get("upgradeMode", "stateless")
    return "CANCELED" if mode == "stateless" else "FINISHED"


class FlinkOperator:
    """One asyncio task reconciling every FlinkDeployment in the store."""

    def __init__(self, store: Store, timings: Timings) -> None:
        self.store = store
        self.timings = timings
        self.since: dict[str, float] = {}  # uid -> monotonic time of the last transition
        self.triggered: dict[str, str] = {}  # uid -> jobId a pending savepoint was triggered on

    async def run(self) -> None:
        while True:
            for obj in self.store.list(FLINK, None):
                try:
                    self.reconcile(obj)
                except errors.ApiError as err:  # deleted or changed under us: next tick
                    log.debug("reconcile %s: %s", obj["metadata"]["name"], err.message)
            await asyncio.sleep(self.timings.tick)

    # -- one reconcile pass ------------------------------------------------------------------
    def reconcile(self, obj: Obj) -> None:
        status = obj.get("status") or {}
        rec = status.get("reconciliationStatus") or {}
        spec = obj.get("spec") or {}
        last_raw = rec.get("lastReconciledSpec")
        last = json.loads(last_raw)["spec"] if last_raw else None
        uid = obj["metadata"]["uid"]
        elapsed = time.monotonic() - self.since.get(uid, 0.0)
        job = status.get("jobStatus") or {}
        if last is None or snapshots.sans_trigger(last) != snapshots.sans_trigger(spec):
            self._start(obj, first=last is None)
        elif snapshots.unobserved(obj):
            self._write(obj, snapshots.observe)  # only the trigger nonce changed
        elif snapshots.pending(status) and not snapshots.alive(status, self.triggered.get(uid)):
            self._write(obj, snapshots.failed)  # the job stopped before its savepoint completed
            self._event(obj, "SavepointError", snapshots.failure_message(spec))
        elif snapshots.wanted(spec, last) and not snapshots.pending(status):
            if job.get("state") == "RUNNING" and rec.get("state") == "DEPLOYED":
                self.triggered[uid] = str(job.get("jobId"))
                self._write(obj, snapshots.trigger)
            # not running: the nonce waits (the operator triggers snapshots of running jobs only)
        elif elapsed < self.timings.operator_step:
            return
        elif (
            rec.get("state") == "UPGRADING" and (spec.get("job") or {}).get("state") == "suspended"
        ):
            self._write(obj, self._suspended)
        elif rec.get("state") == "UPGRADING":
            self._write(obj, self._deployed)
        elif job.get("state") == "RECONCILING":
            self._write(obj, self._running)
        elif (
            job.get("state") == "RUNNING"
            and rec.get("lastStableSpec") != last_raw
            and elapsed >= self.timings.stable_period
        ):
            self._write(obj, self._stable)

    def _start(self, obj: Obj, *, first: bool) -> None:
        spec = obj.get("spec") or {}
        previous = (obj.get("status") or {}).get("jobStatus", {}).get("state")

        def begin(_: Obj, status: dict[str, Any]) -> None:
            rec = status.setdefault("reconciliationStatus", {})
            rec.update(
                state="UPGRADING",
                lastReconciledSpec=_reconciled_spec(obj, first),
                reconciliationTimestamp=int(time.time() * 1000),
            )
            status["observedGeneration"] = obj["metadata"].get("generation")
            status.pop("error", None)
            job = status.setdefault("jobStatus", {})
            job.setdefault("jobName", obj["metadata"]["name"])
            if (spec.get("job") or {}).get("state") == "suspended":
                if previous in ("RUNNING", "RECONCILING", "CREATED"):
                    job["state"] = "CANCELLING"
            else:
                if previous in ("RUNNING", "RECONCILING", "CREATED", "CANCELLING"):
                    job["state"] = _stopped_state(spec)
                status["jobManagerDeploymentStatus"] = "DEPLOYING"
            job["updateTime"] = _ms()

        self._write(obj, begin)

    @staticmethod
    def _suspended(obj: Obj, status: dict[str, Any]) -> None:
        spec = obj.get("spec") or {}
        job = status.setdefault("jobStatus", {})
        job["state"] = _stopped_state(spec)
        if (spec.get("job") or {}).get("upgradeMode") == "savepoint":
            base = (spec.get("flinkConfiguration") or {}).get("state.savepoints.dir", "")
            job["upgradeSavepointPath"] = f"{base}/savepoint-{secrets.token_hex(3)}"
        job["updateTime"] = _ms()
        status["jobManagerDeploymentStatus"] = "MISSING"
        status["reconciliationStatus"]["state"] = "DEPLOYED"

    @staticmethod
    def _deployed(obj: Obj, status: dict[str, Any]) -> None:
        status["reconciliationStatus"]["state"] = "DEPLOYED"
        status["jobManagerDeploymentStatus"] = "DEPLOYED_NOT_READY"
        status["clusterInfo"] = {"flink-version": FLINK_VERSION, "flink-revision": "sandbox"}
        job = status.setdefault("jobStatus", {})
        job.update(
            state="RECONCILING",
            jobId=secrets.token_hex(16),
            jobName=obj["metadata"]["name"],
            startTime=_ms(),
            updateTime=_ms(),
        )

    @staticmethod
    def _running(obj: Obj, status: dict[str, Any]) -> None:
        status["jobManagerDeploymentStatus"] = "READY"
        status["jobStatus"].update(state="RUNNING", updateTime=_ms())

    @staticmethod
    def _stable(obj: Obj, status: dict[str, Any]) -> None:
        rec = status["reconciliationStatus"]
        rec["lastStableSpec"] = rec["lastReconciledSpec"]

    def _write(self, obj: Obj, change: Callable[[Obj, dict[str, Any]], None]) -> Obj:
        """Apply `change` to the status, derive lifecycleState, write /status, emit an Event."""
        meta = obj["metadata"]
        before = (obj.get("status") or {}).get("jobStatus", {}).get("state")

        def mutate(live: Obj) -> None:
            status = live.setdefault("status", {})
            change(live, status)
            status["lifecycleState"] = lifecycle_state(status)

        new = self.store.update(
            FLINK, meta["namespace"], meta["name"], mutate, subresource="status"
        )
        self.since[meta["uid"]] = time.monotonic()
        after = (new.get("status") or {}).get("jobStatus", {}).get("state")
        if after != before:
            self._event(new, "JobStatusChanged", f"Job status changed from {before} to {after}")
        return new

    def _event(self, obj: Obj, reason: str, message: str) -> None:
        meta = obj["metadata"]
        body = {
            "metadata": {"generateName": f"{meta['name']}."},
            "involvedObject": {
                "apiVersion": obj["apiVersion"],
                "kind": obj["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "reason": reason,
            "message": message,
            "type": "Warning" if "FAILED" in message else "Normal",
            "source": {"component": "flink-kubernetes-operator"},
            "firstTimestamp": now_iso(),
            "lastTimestamp": now_iso(),
            "count": 1,
        }
        with contextlib.suppress(errors.ApiError):
            self.store.create(EVENTS, meta["namespace"], body, admit=False)

    # -- hooks for the rest of the sandbox ---------------------------------------------------
    def savepoint_completed(self, ns: str, name: str, trigger_id: str, location: str) -> Obj:
        """The job wrote the savepoint of trigger `trigger_id` at `location` (what the real
        operator learns by polling Flink's REST API for the trigger's status)."""
        obj = self.store.get(FLINK, ns, name)
        info = ((obj.get("status") or {}).get("jobStatus") or {}).get("savepointInfo") or {}
        if not trigger_id or info.get("triggerId") != trigger_id:
            raise errors.conflict(
                FLINK, name, f"no savepoint trigger {trigger_id!r} is pending (pending: "
                f"{info.get('triggerId')!r})",
            )  # fmt: skip
        new = self._write(obj, lambda live, status: snapshots.completed(live, status, location))
        self._event(new, "SavepointCreated", f"Savepoint created: {location}")
        return new

    def fail(
        self,
        ns: str,
        name: str,
        message: str,
        type_: str | None = None,
        causes: list[dict[str, str]] | None = None,
    ) -> Obj:
        """Mark the job FAILED (what the TA writer reports when its ClickHouse inserts fail).

        `message`/`type_` are the exception the job threw (`causes`: its whole chain, outermost
        first); `status.error` gets what the operator records for a job that exhausted its
        restart strategy: the JobException with that chain as `throwableList`.
        """
        obj = self.store.get(FLINK, ns, name)
        if job_view(obj)["desiredState"] != "running":
            raise errors.conflict(FLINK, name, "the job is suspended; a suspended job cannot fail")
        error = job_exception(causes or [{"type": type_ or RUNTIME_EXCEPTION, "message": message}])

        def failed(_: Obj, status: dict[str, Any]) -> None:
            status["error"] = json.dumps(error)
            job = status.setdefault("jobStatus", {})
            job.update(state="FAILED", updateTime=_ms())

        return self._write(obj, failed)


def job_exception(causes: list[dict[str, str]]) -> dict[str, Any]:
    """status.error's document for a job whose restarts are exhausted (a serialized
    FlinkResourceException: type, message, additionalMetadata, throwableList)."""
    return {
        "type": JOB_EXCEPTION,
        "message": f"Recovery is suppressed by {RESTART_STRATEGY}",
        "additionalMetadata": {},
        "throwableList": [
            {"type": str(c["type"]), "message": str(c["message"]), "additionalMetadata": {}}
            for c in causes
        ],
    }


def job_view(obj: Obj) -> dict[str, Any]:
    """What the job stand-ins need: should the job run, and what the operator says it does."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    job, job_status = spec.get("job") or {}, status.get("jobStatus") or {}
    desired = job.get("state", "running")
    return {
        "namespace": obj["metadata"]["namespace"],
        "name": obj["metadata"]["name"],
        "desiredState": desired,
        "desiredRunning": desired == "running",
        "upgradeMode": job.get("upgradeMode", "stateless"),
        "restartNonce": spec.get("restartNonce"),
        "generation": obj["metadata"].get("generation"),
        "jobState": job_status.get("state"),
        "jobId": job_status.get("jobId"),
        "lifecycleState": status.get("lifecycleState"),
        "running": job_status.get("state") == "RUNNING",
        "error": status.get("error"),
    }
