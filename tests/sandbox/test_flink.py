"""The real Flink tier: cluster, a checkpointing job, its failure as the exporter will see it."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from sandbox.flink import (
    FAILURE_MESSAGE,
    FlinkRestError,
    cancel_job,
    get_job,
    get_json,
    job_metric,
    submit_job,
    wait_for_checkpoint,
    wait_for_running,
    wait_for_state,
)
from sandbox.testing.flink import FlinkJob
from sandbox.util import Service, apoll_until

pytestmark = [pytest.mark.flink, pytest.mark.slow]


async def test_cluster_overview_reports_taskmanager_and_slots(flink_cluster: Service) -> None:
    url = flink_cluster.endpoints["flink_rest"]
    assert url.startswith("http://127.0.0.1:")
    async with aiohttp.ClientSession() as session, session.get(f"{url}/overview") as resp:
        assert resp.status == 200
        overview = await resp.json()
    assert overview["taskmanagers"] == 1
    assert overview["slots-total"] == 2
    assert overview["flink-version"].startswith("2.")


async def test_shared_job_runs_and_checkpoints_recently(flink_shared_job: FlinkJob) -> None:
    url, jid = flink_shared_job.rest_url, flink_shared_job.job_id
    job = await get_job(url, jid)
    assert job["state"] == "RUNNING"
    assert job["name"] == "torghut-ta"
    assert {v["status"] for v in job["vertices"]} == {"RUNNING"}

    started_ms = int(time.time() * 1000)
    completed = await wait_for_checkpoint(url, jid, after_ms=started_ms, timeout=20)
    now_ms = int(time.time() * 1000)
    assert completed["status"] == "COMPLETED"
    assert started_ms <= completed["latest_ack_timestamp"] <= now_ms
    assert completed["external_path"].startswith("file:")

    config = await get_json(url, f"/jobs/{jid}/checkpoints/config")
    assert config["interval"] == 1000
    assert config["checkpoint_storage"] == "FileSystemCheckpointStorage"


async def test_checkpoints_land_in_the_configured_directory(
    flink_cluster: Service, flink_shared_job: FlinkJob
) -> None:
    url, jid = flink_shared_job.rest_url, flink_shared_job.job_id
    completed = await wait_for_checkpoint(url, jid, after_ms=0, timeout=20)
    path = Path(completed["external_path"].removeprefix("file:"))
    workdir = Path(flink_cluster.log).parent.parent
    assert path.is_relative_to(workdir / "checkpoints" / jid)
    overview = await get_json(url, "/jobs/overview")
    assert jid in {j["jid"] for j in overview["jobs"] if j["state"] == "RUNNING"}


async def test_transient_failure_restarts_and_recovers(flink_job: FlinkJob) -> None:
    url, jid = flink_job.rest_url, flink_job.job_id
    flink_job.fail(times=1)

    async def restarted() -> bool:
        return await job_metric(url, jid, "numRestarts") == "1"

    await apoll_until(restarted, timeout=30, interval=0.25, what="numRestarts == 1")
    # region failover restarts the tasks; the job itself stays RUNNING throughout
    await wait_for_running(url, jid, timeout=30)
    assert not flink_job.marker.exists()  # the counted marker was spent

    async def failures() -> list[dict[str, object]]:
        body = await get_json(url, f"/jobs/{jid}/exceptions")
        return body["exceptionHistory"]["entries"]

    # REST serves the job from a cached execution graph: poll until the failure shows
    history = await apoll_until(failures, timeout=60, interval=0.25, what="exception history")
    assert len(history) == 1
    assert FAILURE_MESSAGE in history[0]["stacktrace"]
    assert history[0]["taskName"].startswith("ta-indicator")


async def test_persistent_failure_ends_failed_after_restarts(flink_job: FlinkJob) -> None:
    url, jid = flink_job.rest_url, flink_job.job_id
    flink_job.fail()

    job = await wait_for_state(url, jid, {"FAILED"}, timeout=60)
    assert job["end-time"] >= job["timestamps"]["FAILING"] > 0
    assert "FAILED" in {v["status"] for v in job["vertices"]}

    history = (await get_json(url, f"/jobs/{jid}/exceptions"))["exceptionHistory"]["entries"]
    root = history[0]
    assert "Recovery is suppressed" in root["stacktrace"]
    assert f"maxNumberRestartAttempts={flink_job.restart_attempts}" in root["stacktrace"]
    # every task attempt failed with the disk-full error: one per restart, plus the last one
    # which is attached to the root entry
    task_failures = [e for e in history[1:] if FAILURE_MESSAGE in e["stacktrace"]]
    assert len(task_failures) == flink_job.restart_attempts
    assert any(FAILURE_MESSAGE in c["stacktrace"] for c in root["concurrentExceptions"])

    overview = await get_json(url, "/jobs/overview")
    assert {j["jid"]: j["state"] for j in overview["jobs"]}[jid] == "FAILED"


async def test_cancel_job_ends_canceled(flink_job: FlinkJob) -> None:
    await cancel_job(flink_job.rest_url, flink_job.job_id)
    job = await get_job(flink_job.rest_url, flink_job.job_id)
    assert job["state"] == "CANCELED"


async def test_bad_jar_is_refused_with_flink_error(flink_cluster: Service, tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-job.jar"
    bogus.write_bytes(b"this is not a zip archive")
    url = flink_cluster.endpoints["flink_rest"]
    with pytest.raises(FlinkRestError) as info:
        await submit_job(url, bogus, args=[])
    assert info.value.status >= 400
    assert info.value.errors


async def test_unknown_job_is_a_404(flink_cluster: Service) -> None:
    with pytest.raises(FlinkRestError) as info:
        await get_job(flink_cluster.endpoints["flink_rest"], "0" * 32)
    assert info.value.status == 404
