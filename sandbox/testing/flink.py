"""pytest fixtures for the sandbox's real Flink tier (one standalone cluster per session).

- `flink_cluster` (session): the running cluster's Service, started like the demo's
  (`launch(with_job=True)`): endpoints "flink_rest", "flink_job_id", "flink_fail_marker".
- `flink_job_jar` (session): the compiled TA stand-in job.
- `flink_shared_job` (session): that cluster's RUNNING, checkpointing job; never fail it.
- `flink_job` (function): a fresh RUNNING job the test may fail; cancelled at teardown.
Everything is skipped, with the reason, when the JDK or apache-flink is missing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.flink import (
    FlinkUnavailable,
    cancel_job,
    check_available,
    clear_failure,
    compile_job,
    job_args,
    launch,
    submit_job,
    trigger_failure,
    wait_for_running,
)
from sandbox.flink.job import DEFAULT_RESTART_ATTEMPTS
from sandbox.util import Service

JOB_START_TIMEOUT = 90.0


@dataclass(frozen=True)
class FlinkJob:
    """A submitted TaJob: where to reach it and how to make it fail."""

    rest_url: str
    job_id: str
    marker: Path
    restart_attempts: int

    def fail(self, *, times: int | None = None) -> None:
        """Fail every attempt (ends FAILED after the restarts) or only the next `times`."""
        trigger_failure(self.marker, times=times)

    def recover(self) -> None:
        clear_failure(self.marker)


@pytest.fixture(scope="session")
def flink_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    try:
        check_available()
    except FlinkUnavailable as exc:
        pytest.skip(f"real Flink tier unavailable: {exc}")
    service = launch(tmp_path_factory.mktemp("flink"), with_job=True, slots=2)
    try:
        yield service
    finally:
        service.stop(timeout=10.0)


@pytest.fixture(scope="session")
def flink_job_jar(flink_cluster: Service, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_job(tmp_path_factory.mktemp("flink-job"))


def start_job(
    rest_url: str, jar: Path, workdir: Path, *, restart_attempts: int = DEFAULT_RESTART_ATTEMPTS
) -> FlinkJob:
    """Submit TaJob with its own fail marker and wait until its tasks run (blocking)."""
    marker = workdir / f"fail-{uuid.uuid4().hex[:8]}"
    args = job_args(marker, restart_attempts=restart_attempts)

    async def go() -> str:
        job_id = await submit_job(rest_url, jar, args=args)
        await wait_for_running(rest_url, job_id, timeout=JOB_START_TIMEOUT)
        return job_id

    job_id = asyncio.run(go())
    return FlinkJob(rest_url, job_id, marker, restart_attempts)


def stop_job(job: FlinkJob) -> None:
    """Cancel the job unless it already ended, and remove its marker."""
    job.recover()
    asyncio.run(cancel_job(job.rest_url, job.job_id))


@pytest.fixture(scope="session")
def flink_shared_job(flink_cluster: Service) -> FlinkJob:
    ends = flink_cluster.endpoints
    return FlinkJob(
        ends["flink_rest"],
        ends["flink_job_id"],
        Path(ends["flink_fail_marker"]),
        DEFAULT_RESTART_ATTEMPTS,
    )


@pytest.fixture
def flink_job(flink_cluster: Service, flink_job_jar: Path, tmp_path: Path) -> Iterator[FlinkJob]:
    job = start_job(flink_cluster.endpoints["flink_rest"], flink_job_jar, tmp_path)
    try:
        yield job
    finally:
        stop_job(job)
