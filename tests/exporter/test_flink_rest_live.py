"""The Flink REST probe against a real Flink standalone cluster running the TA stand-in job."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from exporter.clients import flink_rest as rest
from exporter.clients.http import HttpError, new_session
from exporter.families.flink import collect_rest
from exporter.probes.flink_rest import FlinkRestError, render_rest
from sandbox.flink import cancel_job, job_args, submit_job, wait_for_running
from sandbox.flink.rest import get_job, get_json, job_metric, wait_for_checkpoint
from sandbox.util import apoll_until, free_port

pytestmark = [pytest.mark.flink, pytest.mark.slow]


async def test_running_job_checkpointed_seconds_ago_without_restarts(flink_shared_job: Any) -> None:
    job = flink_shared_job
    await wait_for_checkpoint(job.rest_url, job.job_id, timeout=60)
    async with new_session(timeout=5) as session:
        data = await collect_rest(
            session,
            base_url=job.rest_url,
            deployment="torghut-ta",
            job_name="torghut-ta",
            job_id=job.job_id,
        )
    assert data.job.job_id == job.job_id and data.job.state == "RUNNING"
    assert data.last_checkpoint_ts is not None
    assert abs(time.time() - data.last_checkpoint_ts) < 10  # 1 s checkpoint interval
    truth = await job_metric(job.rest_url, job.job_id, "numRestarts")
    assert truth is not None and data.restarts == int(truth) == 0
    assert data.restarts_source == "metric"
    # start time and interval: what the alert's "N intervals" is measured with
    started = (await get_job(job.rest_url, job.job_id))["start-time"]
    samples = {s.name: s.value for s in render_rest(data)}
    assert samples["torghut_ta_flink_job_start_timestamp_seconds"] == started / 1000
    assert samples["torghut_ta_flink_checkpoint_interval_seconds"] == 1.0  # job_args default


@asynccontextmanager
async def _job(rest_url: str, jar: Path, workdir: Path, **kwargs: Any) -> AsyncIterator[str]:
    """A TaJob submitted with `kwargs` (see sandbox.flink.job_args), cancelled on exit."""
    args = job_args(workdir / f"fail-{uuid.uuid4().hex[:8]}", **kwargs)
    job_id = await submit_job(rest_url, jar, args=args)
    try:
        await wait_for_running(rest_url, job_id, timeout=90)
        yield job_id
    finally:
        await cancel_job(rest_url, job_id)


async def _collect(rest_url: str, job_id: str) -> Any:
    async with new_session(timeout=5) as session:
        return await collect_rest(
            session, base_url=rest_url, deployment="torghut-ta", job_name="x", job_id=job_id
        )


async def test_interval_is_the_jobs_own(
    flink_cluster: Any, flink_job_jar: Path, tmp_path: Path
) -> None:
    rest_url = flink_cluster.endpoints["flink_rest"]
    hour = 3_600_000
    async with _job(rest_url, flink_job_jar, tmp_path, checkpoint_interval_ms=hour) as job_id:
        data = await _collect(rest_url, job_id)
        truth = await get_json(rest_url, f"/jobs/{job_id}/checkpoints/config")
    assert truth["interval"] == hour
    samples = {s.name: s.value for s in render_rest(data)}
    assert samples["torghut_ta_flink_checkpoint_interval_seconds"] == 3600.0


async def test_running_job_that_never_checkpointed_exports_its_start_but_no_interval(
    flink_cluster: Any, flink_job_jar: Path, tmp_path: Path
) -> None:
    """The shape broken checkpoint storage gives too: RUNNING, no completed checkpoint, so no
    last-checkpoint series; the alert measures from the start time. Periodic checkpoints off
    leave the interval unknown (no series), and the alert falls back to its default."""
    rest_url = flink_cluster.endpoints["flink_rest"]
    async with _job(rest_url, flink_job_jar, tmp_path, checkpoint_interval_ms=0) as job_id:
        data = await _collect(rest_url, job_id)
        checkpoints = await get_json(rest_url, f"/jobs/{job_id}/checkpoints")
        started = (await get_job(rest_url, job_id))["start-time"]
        async with new_session(timeout=5) as session:
            status, config = await rest.job_checkpoint_config(
                session, base_url=rest_url, job_id=job_id
            )
    # what Flink 2.3 answers for "periodic checkpoints off": Long.MAX_VALUE, not a 404
    assert (status, config["interval"]) == (200, 2**63 - 1)
    assert checkpoints["latest"]["completed"] is None and data.job.state == "RUNNING"
    assert data.checkpoint_interval is None and data.last_checkpoint_ts is None
    samples = {s.name: s.value for s in render_rest(data)}
    assert "torghut_ta_flink_checkpoint_interval_seconds" not in samples
    assert "torghut_ta_flink_last_checkpoint_timestamp_seconds" not in samples
    assert samples["torghut_ta_flink_job_start_timestamp_seconds"] == started / 1000


async def test_failed_job_shows_failed_and_its_restarts(flink_job: Any) -> None:
    job = flink_job
    job.fail()  # every attempt fails: the fixed-delay strategy gives up after its attempts

    async def failed() -> Any:
        async with new_session(timeout=5) as session:
            data = await collect_rest(
                session,
                base_url=job.rest_url,
                deployment="torghut-ta",
                job_name="torghut-ta",
                job_id=job.job_id,
            )
        seen.append((data.job.state, data.restarts, data.restarts_source))
        if data.job.state != "FAILED" or data.restarts is None:
            return None
        # Flink's REST cache can read one short right after FAILED: settled once three reads
        # a couple of seconds apart agree
        recent = [r for state, r, _ in seen[-3:] if state == "FAILED"]
        return data if len(recent) == 3 and len(set(recent)) == 1 else None

    seen: list[tuple[str, int | None, str]] = []
    try:
        data = await apoll_until(
            failed, timeout=240, interval=2.0, what="job FAILED, restarts settled"
        )
    except TimeoutError as exc:  # say what Flink showed instead, for the next person
        raise AssertionError(f"{exc}; last (state, restarts, source) seen: {seen[-5:]}") from None
    # never more restarts than the strategy allows (on loaded cores Flink itself reports fewer
    # than the strategy's attempts, down to 0: what is exported must be what Flink reports)
    assert 0 <= data.restarts <= job.restart_attempts
    if data.restarts_source == "metric":
        assert await job_metric(job.rest_url, job.job_id, "numRestarts") == str(data.restarts)
    else:
        # once Flink drops a FAILED job's metrics the count comes from its exception history,
        # where failures handled in one failover share an entry: a lower bound
        assert data.restarts_source == "exception history"
    samples = {s.name: s.value for s in render_rest(data)}
    assert samples["torghut_ta_flink_job_restarts"] == data.restarts


async def test_a_port_that_is_not_flink_fails_with_a_reason() -> None:
    async with new_session(timeout=2) as session:
        with pytest.raises(HttpError, match="cannot connect"):
            await collect_rest(
                session, base_url=f"http://127.0.0.1:{free_port()}", deployment="d", job_name="d"
            )


async def test_unknown_job_name_names_the_jobs_it_saw(flink_shared_job: Any) -> None:
    async with new_session(timeout=5) as session:
        with pytest.raises(FlinkRestError, match="no job named 'nope'"):
            await collect_rest(
                session, base_url=flink_shared_job.rest_url, deployment="d", job_name="nope"
            )
