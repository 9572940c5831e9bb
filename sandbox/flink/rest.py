"""Async helpers that drive a Flink cluster through its REST API (aiohttp)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp

from sandbox.flink.job import JOB_ENTRY_CLASS
from sandbox.util import apoll_until

TERMINAL_STATES = frozenset({"FAILED", "CANCELED", "FINISHED"})
_TIMEOUT = aiohttp.ClientTimeout(total=30)


class FlinkRestError(RuntimeError):
    """A non-2xx answer from Flink REST; `errors` is Flink's error list."""

    def __init__(self, method: str, url: str, status: int, errors: list[str]) -> None:
        super().__init__(f"{method} {url} -> {status}: {'; '.join(errors)[:2000]}")
        self.status = status
        self.errors = errors


async def _request(method: str, url: str, **kwargs: Any) -> Any:
    async with (
        aiohttp.ClientSession(timeout=_TIMEOUT) as session,
        session.request(method, url, **kwargs) as resp,
    ):
        try:
            body = await resp.json(content_type=None)
        except ValueError:
            body = {"errors": [await resp.text()]}
        if resp.status >= 300:
            errors = body.get("errors", [str(body)]) if isinstance(body, dict) else [str(body)]
            raise FlinkRestError(method, url, resp.status, [str(e) for e in errors])
        return body


async def get_json(rest_url: str, path: str) -> Any:
    """GET rest_url + path and decode the JSON answer."""
    return await _request("GET", f"{rest_url}{path}")


async def upload_jar(rest_url: str, jar: Path) -> str:
    """POST /jars/upload; returns the jar id used by /jars/{id}/run."""
    jar = Path(jar)
    form = aiohttp.FormData()
    content = await asyncio.to_thread(jar.read_bytes)
    form.add_field("jarfile", content, filename=jar.name, content_type="application/x-java-archive")
    body = await _request("POST", f"{rest_url}/jars/upload", data=form)
    if body.get("status") != "success" or "filename" not in body:
        raise FlinkRestError("POST", f"{rest_url}/jars/upload", 200, [str(body)])
    return Path(body["filename"]).name


async def run_jar(
    rest_url: str,
    jar_id: str,
    *,
    args: Iterable[str],
    entry_class: str = JOB_ENTRY_CLASS,
    parallelism: int | None = None,
) -> str:
    """POST /jars/{id}/run; returns the new job id."""
    payload: dict[str, Any] = {"entryClass": entry_class, "programArgsList": list(args)}
    if parallelism is not None:
        payload["parallelism"] = parallelism
    body = await _request("POST", f"{rest_url}/jars/{jar_id}/run", json=payload)
    return str(body["jobid"])


async def submit_job(
    rest_url: str, jar: Path, *, args: Iterable[str], entry_class: str = JOB_ENTRY_CLASS
) -> str:
    """Upload `jar` and run it with `args`; returns the job id."""
    jar_id = await upload_jar(rest_url, jar)
    return await run_jar(rest_url, jar_id, args=args, entry_class=entry_class)


async def get_job(rest_url: str, job_id: str) -> dict[str, Any]:
    return await get_json(rest_url, f"/jobs/{job_id}")


async def job_metric(rest_url: str, job_id: str, name: str) -> str | None:
    """One job-level metric (e.g. numRestarts) as Flink reports it, or None when absent."""
    body = await get_json(rest_url, f"/jobs/{job_id}/metrics?get={name}")
    for item in body:
        if item.get("id") == name:
            return str(item.get("value"))
    return None


async def wait_for_state(
    rest_url: str, job_id: str, states: Iterable[str], *, timeout: float = 180.0
) -> dict[str, Any]:
    """Poll /jobs/{id} until its state is one of `states`; returns that job document.

    Raises RuntimeError early if the job reaches a different terminal state.
    """
    wanted = frozenset(states)

    async def check() -> dict[str, Any] | None:
        job = await get_job(rest_url, job_id)
        return job if job.get("state") in wanted | TERMINAL_STATES else None

    job = await apoll_until(check, timeout=timeout, interval=0.25, what=f"job {sorted(wanted)}")
    if job["state"] not in wanted:
        raise RuntimeError(f"job {job_id} ended {job['state']}, waiting for {sorted(wanted)}")
    return job


async def wait_for_running(rest_url: str, job_id: str, *, timeout: float = 180.0) -> dict[str, Any]:
    """Poll until the job is RUNNING *and* every vertex runs (the job state turns RUNNING
    before its tasks are deployed). Raises RuntimeError if the job ends first."""

    async def check() -> dict[str, Any] | None:
        job = await get_job(rest_url, job_id)
        if job.get("state") in TERMINAL_STATES:
            return job
        vertices = job.get("vertices", [])
        if job.get("state") == "RUNNING" and all(v["status"] == "RUNNING" for v in vertices):
            return job
        return None

    job = await apoll_until(check, timeout=timeout, interval=0.25, what="job tasks RUNNING")
    if job["state"] != "RUNNING":
        raise RuntimeError(f"job {job_id} ended {job['state']} before running")
    return job


async def wait_for_checkpoint(
    rest_url: str, job_id: str, *, after_ms: int | None = None, timeout: float = 120.0
) -> dict[str, Any]:
    """Poll /jobs/{id}/checkpoints until a completed checkpoint acked after `after_ms` exists.

    Returns `latest.completed` (its `latest_ack_timestamp` is epoch milliseconds).
    """
    since = int(time.time() * 1000) if after_ms is None else after_ms

    async def check() -> dict[str, Any] | None:
        body = await get_json(rest_url, f"/jobs/{job_id}/checkpoints")
        completed = (body.get("latest") or {}).get("completed")
        if completed and completed.get("latest_ack_timestamp", 0) >= since:
            return completed
        return None

    return await apoll_until(check, timeout=timeout, interval=0.25, what="completed checkpoint")


def trigger_failure(marker: Path, *, times: int | None = None) -> None:
    """Make the job's indicator throw: on every attempt (`times=None`, until `clear_failure`),
    or on the next `times` task attempts only, after which the job runs again."""
    if times is not None and times < 1:
        raise ValueError(f"times must be >= 1 or None, got {times}")
    marker = Path(marker)
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text("always\n" if times is None else f"{times}\n")
    tmp.replace(marker)  # atomic: the job never reads a half-written count


def clear_failure(marker: Path) -> None:
    Path(marker).unlink(missing_ok=True)


async def cancel_job(rest_url: str, job_id: str, *, timeout: float = 30.0) -> None:
    """PATCH /jobs/{id}?mode=cancel and wait until the job is terminal (no-op if it already is)."""
    job = await get_job(rest_url, job_id)
    if job.get("state") in TERMINAL_STATES:
        return
    try:
        await _request("PATCH", f"{rest_url}/jobs/{job_id}?mode=cancel")
    except FlinkRestError as exc:
        # /jobs/{id} is served from a cache: the job may have ended since it was read
        if exc.status != 409 or "terminal state" not in str(exc):
            raise
    await wait_for_state(rest_url, job_id, TERMINAL_STATES, timeout=timeout)
