"""Pure reading of Flink REST payloads: which job is ours, its last completed checkpoint, its restarts.

Shapes accepted (Flink 1.x and 2.x agree on these fields):
- /jobs/overview: `{"jobs": [{"jid", "name", "state", "start-time"}, ...]}`
- /jobs/{id}/checkpoints: `{"latest": {"completed": {"latest_ack_timestamp": ms, "id"} | null}}`
- /jobs/{id}/checkpoints/config: `{"interval": ms, ...}`; Long.MAX_VALUE means periodic
  checkpoints are off, 404 that the job has no checkpoint settings
- /jobs/{id}/metrics?get=numRestarts: `[{"id": "numRestarts", "value": "2"}]` (empty once the
  job has ended: its metric group is closed)
- /jobs/{id}/exceptions: `{"exceptionHistory": {"entries": [...], "truncated": bool}}`
Anything else is a `FlinkRestError` that says what was wrong.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.probes.base import Sample

TERMINAL = frozenset({"FAILED", "CANCELED", "FINISHED", "SUSPENDED"})
# Flink's CheckpointConfig stores "periodic checkpoints disabled" as this interval.
INTERVAL_DISABLED_MS = 2**63 - 1


class FlinkRestError(Exception):
    """A Flink REST answer is not what a Flink JobManager returns."""


@dataclass(frozen=True)
class FlinkJob:
    job_id: str
    name: str
    state: str
    start_time: int


@dataclass(frozen=True)
class FlinkRestStatus:
    deployment: str
    job: FlinkJob
    last_checkpoint_ts: float | None  # None: no completed checkpoint yet
    last_checkpoint_id: int | None
    restarts: int | None
    restarts_source: str  # "metric", "exception history" (a lower bound if truncated) or "none"
    checkpoint_interval: float | None = None  # s; None: unknown or periodic checkpoints off


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise FlinkRestError(what)


def parse_jobs(overview: Any) -> list[FlinkJob]:
    _expect(
        isinstance(overview, Mapping) and isinstance(overview.get("jobs"), list),
        "/jobs/overview: expected an object with a `jobs` list",
    )
    jobs = []
    for entry in overview["jobs"]:
        _expect(
            isinstance(entry, Mapping) and isinstance(entry.get("jid"), str),
            "/jobs/overview: a job without a `jid`",
        )
        start = entry.get("start-time")
        jobs.append(
            FlinkJob(
                job_id=entry["jid"],
                name=str(entry.get("name", "")),
                state=str(entry.get("state", "UNKNOWN")).upper(),
                start_time=int(start) if isinstance(start, int | float) else -1,
            )
        )
    return jobs


def pick_job(jobs: list[FlinkJob], *, name: str, job_id: str | None = None) -> FlinkJob:
    """The job with `job_id`; else the newest live job named `name`, else the newest so named.

    A cluster that runs exactly one job is taken to run ours whatever its name.
    """
    if job_id:
        for job in jobs:
            if job.job_id == job_id:
                return job
    named = [j for j in jobs if j.name == name] or (jobs if len(jobs) == 1 else [])
    if not named:
        seen = ", ".join(sorted({j.name for j in jobs})) or "none"
        raise FlinkRestError(f"no job named {name!r} on the cluster (jobs: {seen})")
    live = [j for j in named if j.state not in TERMINAL]
    return max(live or named, key=lambda j: j.start_time)


def parse_checkpoints(payload: Any) -> tuple[float | None, int | None]:
    """(completion time in s, checkpoint id) of the latest completed checkpoint."""
    _expect(
        isinstance(payload, Mapping) and isinstance(payload.get("latest"), Mapping),
        "/jobs/{id}/checkpoints: expected an object with `latest`",
    )
    completed = payload["latest"].get("completed")
    if completed is None:
        return None, None
    _expect(
        isinstance(completed, Mapping),
        "/jobs/{id}/checkpoints: `latest.completed` is not an object",
    )
    ack = completed.get("latest_ack_timestamp")
    _expect(
        isinstance(ack, int | float) and not isinstance(ack, bool) and ack > 0,
        "/jobs/{id}/checkpoints: `latest.completed.latest_ack_timestamp` is not a timestamp",
    )
    cid = completed.get("id")
    return ack / 1000.0, (int(cid) if isinstance(cid, int) else None)


def parse_checkpoint_interval(status: int, payload: Any) -> float | None:
    """The periodic checkpoint interval in seconds; None when the job has none (404, or the
    Long.MAX_VALUE Flink uses for "disabled")."""
    if status == 404:
        return None
    _expect(isinstance(payload, Mapping), "/jobs/{id}/checkpoints/config: expected an object")
    interval = payload.get("interval")
    _expect(
        isinstance(interval, int) and not isinstance(interval, bool) and interval > 0,
        f"/jobs/{{id}}/checkpoints/config: `interval` is {interval!r}, not a positive number of ms",
    )
    return None if interval >= INTERVAL_DISABLED_MS else interval / 1000.0


def restarts_from_metrics(payload: Any) -> int | None:
    """numRestarts from a job metrics answer; None when the job no longer reports metrics."""
    _expect(isinstance(payload, list), "/jobs/{id}/metrics: expected a list")
    for entry in payload:
        if isinstance(entry, Mapping) and entry.get("id") == "numRestarts":
            value = entry.get("value")
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                with contextlib.suppress(ValueError, OverflowError):  # "NaN", "Infinity"
                    return int(float(value))
            raise FlinkRestError(f"/jobs/{{id}}/metrics: numRestarts is {value!r}")
    return None


def restarts_from_exceptions(payload: Any, *, state: str) -> int:
    """Each handled failure but the last of a FAILED job was followed by a restart."""
    _expect(
        isinstance(payload, Mapping)
        and isinstance(payload.get("exceptionHistory"), Mapping)
        and isinstance(payload["exceptionHistory"].get("entries"), list),
        "/jobs/{id}/exceptions: expected `exceptionHistory.entries`",
    )
    failures = len(payload["exceptionHistory"]["entries"])
    return max(0, failures - (1 if state == "FAILED" else 0))


def render_rest(data: FlinkRestStatus) -> Iterable[Sample]:
    d = {"deployment": data.deployment}
    if data.job.start_time > 0:
        yield Sample("torghut_ta_flink_job_start_timestamp_seconds", data.job.start_time / 1000, d)
    if data.checkpoint_interval is not None:
        yield Sample("torghut_ta_flink_checkpoint_interval_seconds", data.checkpoint_interval, d)
    if data.last_checkpoint_ts is not None:
        yield Sample(
            "torghut_ta_flink_last_checkpoint_timestamp_seconds", data.last_checkpoint_ts, d
        )
    if data.restarts is not None:
        yield Sample("torghut_ta_flink_job_restarts", float(data.restarts), d)
