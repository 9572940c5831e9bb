"""Manual savepoints of the simulated Flink operator (`spec.job.savepointTriggerNonce`).

As the real operator (1.x, `status.jobStatus.savepointInfo`):
- the nonce is ignored when the operator compares specs for an upgrade: changing it alone
  restarts nothing;
- a new nonce is acted on only while the job is RUNNING (and no upgrade is in progress); for a
  job that is not running it waits, unreconciled, until the job runs (or an upgrade records the
  new spec with it);
- triggering sets `savepointInfo.triggerId`/`triggerTimestamp`/`triggerType: MANUAL`/
  `formatType: CANONICAL`; the job writes the savepoint under `state.savepoints.dir` and the
  trigger completes: `lastSavepoint` {timeStamp, location, triggerType, formatType,
  triggerNonce}, appended to `savepointHistory`, the trigger fields reset, the nonce recorded in
  `lastReconciledSpec` (and `lastStableSpec`, so the lifecycle stays STABLE), Event
  SavepointCreated;
- a job that stops before its savepoint completes fails the trigger: the trigger fields reset,
  the nonce recorded as reconciled (not retried), `lastSavepoint` unchanged, Event SavepointError.
A spec change that only touches the nonce still counts as observed: `status.observedGeneration`
and the generation in `lastReconciledSpec`'s metadata follow the new generation (the spec
recorded there keeps the old nonce until the trigger completes or fails).
`lastPeriodicSavepointTimestamp` moves only for periodic savepoints (none here): it stays 0.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from typing import Any

from sandbox.kube.store import Obj

NONCE = "savepointTriggerNonce"
MANUAL = "MANUAL"
CANONICAL = "CANONICAL"


def sans_trigger(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as the upgrade diff sees it (the savepoint trigger nonce is ignored)."""
    out = copy.deepcopy(spec)
    (out.get("job") or {}).pop(NONCE, None)
    return out


def _nonce(spec: dict[str, Any] | None) -> Any:
    return ((spec or {}).get("job") or {}).get(NONCE)


def wanted(spec: dict[str, Any], reconciled: dict[str, Any] | None) -> bool:
    """A new nonce the operator has not reconciled yet."""
    nonce = _nonce(spec)
    return nonce is not None and nonce != _nonce(reconciled)


def unobserved(obj: Obj) -> bool:
    status = obj.get("status") or {}
    return status.get("observedGeneration") != obj["metadata"].get("generation")


def observe(obj: Obj, status: dict[str, Any]) -> None:
    generation = obj["metadata"].get("generation")
    status["observedGeneration"] = generation
    rec = status.setdefault("reconciliationStatus", {})
    was_stable = rec.get("lastStableSpec") == rec.get("lastReconciledSpec")
    for key in ("lastReconciledSpec",) + (("lastStableSpec",) if was_stable else ()):
        if rec.get(key):
            doc = json.loads(rec[key])
            doc.setdefault("resource_metadata", {}).setdefault("metadata", {})["generation"] = (
                generation
            )
            rec[key] = json.dumps(doc, sort_keys=True)


def _info(status: dict[str, Any]) -> dict[str, Any]:
    job = status.setdefault("jobStatus", {})
    info: dict[str, Any] = job.setdefault("savepointInfo", {})
    info.setdefault("lastSavepoint", None)
    info.setdefault("savepointHistory", [])
    info.setdefault("lastPeriodicSavepointTimestamp", 0)
    return info


def pending(status: dict[str, Any]) -> bool:
    info = (status.get("jobStatus") or {}).get("savepointInfo") or {}
    return bool(info.get("triggerId"))


def alive(status: dict[str, Any], triggered_on: str | None) -> bool:
    """The job a pending trigger was sent to still runs."""
    job = status.get("jobStatus") or {}
    if job.get("state") != "RUNNING":
        return False
    return triggered_on is None or job.get("jobId") == triggered_on


def trigger(_: Obj, status: dict[str, Any]) -> None:
    info = _info(status)
    info.update(
        triggerId=secrets.token_hex(16),
        triggerTimestamp=int(time.time() * 1000),
        triggerType=MANUAL,
        formatType=CANONICAL,
    )


def _reset(info: dict[str, Any]) -> None:
    info.update(triggerId=None, triggerTimestamp=None, triggerType=None, formatType=None)


def _reconcile_nonce(obj: Obj, status: dict[str, Any]) -> None:
    """Record the spec's nonce in lastReconciledSpec (and lastStableSpec when it was stable)."""
    nonce = _nonce(obj.get("spec"))
    rec = status.setdefault("reconciliationStatus", {})
    was_stable = rec.get("lastStableSpec") == rec.get("lastReconciledSpec")
    for key in ("lastReconciledSpec",) + (("lastStableSpec",) if was_stable else ()):
        if not rec.get(key):
            continue
        doc = json.loads(rec[key])
        doc.setdefault("spec", {}).setdefault("job", {})[NONCE] = nonce
        rec[key] = json.dumps(doc, sort_keys=True)


def completed(obj: Obj, status: dict[str, Any], location: str) -> None:
    info = _info(status)
    savepoint = {
        "timeStamp": int(time.time() * 1000),
        "location": location,
        "triggerType": info.get("triggerType") or MANUAL,
        "formatType": info.get("formatType") or CANONICAL,
        "triggerNonce": _nonce(obj.get("spec")),
    }
    info["lastSavepoint"] = savepoint
    info["savepointHistory"] = [*info.get("savepointHistory", []), savepoint]
    _reset(info)
    _reconcile_nonce(obj, status)


def failed(obj: Obj, status: dict[str, Any]) -> None:
    _reset(_info(status))
    _reconcile_nonce(obj, status)


def failure_message(spec: dict[str, Any]) -> str:
    return f"Savepoint failed for savepointTriggerNonce : {_nonce(spec)}"
