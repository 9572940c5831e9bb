"""Pure reading of a FlinkDeployment object (flink.apache.org/v1beta1) into what the runbook checks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.probes.base import Sample

JOB_STATES: tuple[str, ...] = (
    "INITIALIZING",
    "CREATED",
    "RUNNING",
    "FAILING",
    "FAILED",
    "CANCELLING",
    "CANCELED",
    "FINISHED",
    "RESTARTING",
    "SUSPENDED",
    "RECONCILING",
    "UNKNOWN",  # no jobStatus.state reported
)
LIFECYCLE_STATES: tuple[str, ...] = (
    "CREATED",
    "SUSPENDED",
    "UPGRADING",
    "DEPLOYED",
    "STABLE",
    "ROLLING_BACK",
    "ROLLED_BACK",
    "FAILED",
    "DELETING",
    "DELETED",
)
# Flink 1.x name first, then the Flink 2 name of the same option
CHECKPOINT_DIR_KEYS: tuple[str, ...] = ("state.checkpoints.dir", "execution.checkpointing.dir")


class FlinkDeploymentError(Exception):
    """The object is not shaped like a FlinkDeployment."""


@dataclass(frozen=True)
class FlinkDeploymentStatus:
    deployment: str
    job_state: str  # a JOB_STATES value, or whatever the operator reported
    lifecycle_state: str | None
    jobmanager_status: str | None
    desired_running: bool
    restart_nonce: int | None
    upgrade_mode: str | None
    job_id: str | None
    error_type: str | None
    error_message: str | None
    checkpoints_dir: str | None
    generation: int | None
    observed_generation: int | None


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise FlinkDeploymentError(f"{where} is {type(value).__name__}, expected an object")
    return value


def parse_error(raw: Any) -> tuple[str | None, str | None]:
    """(type, message) of status.error, a JSON string `{"type", "message", "throwableList"}`.

    The message ends with the root cause (the last of `throwableList`); plain text is tolerated.
    """
    if raw in (None, ""):
        return None, None
    if isinstance(raw, str):
        try:
            decoded = json.loads(raw)
        except ValueError:
            return None, raw
    else:
        decoded = raw
    if isinstance(decoded, Mapping):
        kind = decoded.get("type")
        message = str(decoded["message"]) if decoded.get("message") else None
        chain = decoded.get("throwableList")
        root = chain[-1] if isinstance(chain, list) and chain else None
        if isinstance(root, Mapping) and root.get("message"):
            # the top is Flink's "Recovery is suppressed by ..."; the cause says what broke
            cause = f"{root.get('type') or 'unknown'}: {root['message']}"
            message = f"{message}; caused by {cause}" if message else cause
        return (str(kind) if kind else None), message
    return None, str(raw)


def checkpoints_dir(flink_configuration: Mapping[str, Any]) -> str | None:
    """The checkpoint directory from flinkConfiguration (flat dotted keys or nested maps)."""
    for key in CHECKPOINT_DIR_KEYS:
        value: Any = flink_configuration.get(key)
        if value is None:
            node: Any = flink_configuration
            for part in key.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            value = node
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_flinkdeployment(obj: Mapping[str, Any]) -> FlinkDeploymentStatus:
    meta = _mapping(obj.get("metadata"), "metadata")
    spec = _mapping(obj.get("spec"), "spec")
    status = _mapping(obj.get("status"), "status")
    job_spec = _mapping(spec.get("job"), "spec.job")
    job_status = _mapping(status.get("jobStatus"), "status.jobStatus")
    error_type, error_message = parse_error(status.get("error"))
    name = meta.get("name")
    if not isinstance(name, str):
        raise FlinkDeploymentError("metadata.name is missing")
    return FlinkDeploymentStatus(
        deployment=name,
        job_state=str(job_status.get("state") or "UNKNOWN").upper(),
        lifecycle_state=(
            str(status["lifecycleState"]).upper() if status.get("lifecycleState") else None
        ),
        jobmanager_status=status.get("jobManagerDeploymentStatus"),
        # the operator's default for spec.job.state is running
        desired_running=str(job_spec.get("state") or "running").lower() == "running",
        restart_nonce=_int(spec.get("restartNonce")),
        upgrade_mode=job_spec.get("upgradeMode"),
        job_id=job_status.get("jobId"),
        error_type=error_type,
        error_message=error_message,
        checkpoints_dir=checkpoints_dir(
            _mapping(spec.get("flinkConfiguration"), "spec.flinkConfiguration")
        ),
        generation=_int(meta.get("generation")),
        observed_generation=_int(status.get("observedGeneration")),
    )


def _state_set(
    name: str, deployment: str, current: str | None, states: Iterable[str]
) -> Iterable[Sample]:
    known = list(states)
    if current is not None and current not in known:
        known.append(current)  # a state this exporter does not know yet still shows as 1
    for state in known:
        yield Sample(
            name, 1.0 if state == current else 0.0, {"deployment": deployment, "state": state}
        )


def render_deployment(data: FlinkDeploymentStatus) -> Iterable[Sample]:
    d = {"deployment": data.deployment}
    yield from _state_set("torghut_ta_flink_job_state", data.deployment, data.job_state, JOB_STATES)
    yield from _state_set(
        "torghut_ta_flink_lifecycle_state", data.deployment, data.lifecycle_state, LIFECYCLE_STATES
    )
    yield Sample("torghut_ta_flink_job_desired_running", 1.0 if data.desired_running else 0.0, d)
    if data.restart_nonce is not None:
        yield Sample("torghut_ta_flink_restart_nonce", float(data.restart_nonce), d)
