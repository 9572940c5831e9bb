"""The Flink REST probe against a real Flink standalone cluster running the TA stand-in job."""

from __future__ import annotations

import time
from typing import Any

import pytest

from exporter.clients.http import HttpError, new_session
from exporter.families.flink import collect_rest
from exporter.probes.flink_rest import FlinkRestError, render_rest
from sandbox.flink.rest import job_metric, wait_for_checkpoint
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
        return data if data.job.state == "FAILED" else None

    data = await apoll_until(failed, timeout=90, interval=0.5, what="job FAILED")
    assert data.restarts == job.restart_attempts
    samples = {s.name: s.value for s in render_rest(data)}
    assert samples["torghut_ta_flink_job_restarts"] == job.restart_attempts


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
