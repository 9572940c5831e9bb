"""Pure parsing of FlinkDeployment objects and Flink REST payloads (built here, same shapes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exporter.probes.flink_deployment import (
    JOB_STATES,
    LIFECYCLE_STATES,
    FlinkDeploymentError,
    parse_error,
    parse_flinkdeployment,
    render_deployment,
)
from exporter.probes.flink_rest import (
    FlinkJob,
    FlinkRestError,
    FlinkRestStatus,
    parse_checkpoint_interval,
    parse_checkpoints,
    parse_jobs,
    pick_job,
    render_rest,
    restarts_from_exceptions,
    restarts_from_metrics,
)


def _fd(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "torghut-ta", "generation": 4},
        "spec": {
            "restartNonce": 3,
            "flinkConfiguration": {"state.checkpoints.dir": "s3://b/ckpt/torghut-ta"},
            "job": {"state": "running", "upgradeMode": "last-state"},
        },
        "status": status,
    }


def test_failed_deployment_is_read_with_its_error() -> None:
    error = json.dumps({"type": "org.apache.flink.runtime.JobException", "message": "disk full"})
    data = parse_flinkdeployment(
        _fd(
            jobStatus={"state": "FAILED", "jobId": "abc"},
            lifecycleState="FAILED",
            jobManagerDeploymentStatus="READY",
            error=error,
            observedGeneration=4,
        )
    )
    assert (data.job_state, data.lifecycle_state, data.jobmanager_status) == (
        "FAILED",
        "FAILED",
        "READY",
    )
    assert (data.error_type, data.error_message) == (
        "org.apache.flink.runtime.JobException",
        "disk full",
    )
    assert data.desired_running and data.restart_nonce == 3 and data.job_id == "abc"
    assert data.checkpoints_dir == "s3://b/ckpt/torghut-ta"


def test_state_sets_have_exactly_one_current_state() -> None:
    data = parse_flinkdeployment(_fd(jobStatus={"state": "RUNNING"}, lifecycleState="STABLE"))
    samples = list(render_deployment(data))
    job = {s.labels["state"]: s.value for s in samples if s.name == "torghut_ta_flink_job_state"}
    life = {
        s.labels["state"]: s.value for s in samples if s.name == "torghut_ta_flink_lifecycle_state"
    }
    assert set(job) == set(JOB_STATES) and sum(job.values()) == 1 and job["RUNNING"] == 1
    assert set(life) == set(LIFECYCLE_STATES) and life["STABLE"] == 1 and sum(life.values()) == 1


def test_missing_status_is_unknown_and_suspended_spec_is_not_desired_running() -> None:
    obj = _fd()
    obj["spec"]["job"]["state"] = "suspended"
    del obj["status"]
    data = parse_flinkdeployment(obj)
    assert data.job_state == "UNKNOWN" and data.lifecycle_state is None
    assert not data.desired_running
    values = {(s.name, s.labels.get("state")): s.value for s in render_deployment(data)}
    assert values[("torghut_ta_flink_job_state", "UNKNOWN")] == 1
    assert values[("torghut_ta_flink_job_desired_running", None)] == 0


def test_flink2_checkpoint_key_and_nested_configuration() -> None:
    obj = _fd()
    obj["spec"]["flinkConfiguration"] = {"execution": {"checkpointing": {"dir": "s3p://b/c"}}}
    assert parse_flinkdeployment(obj).checkpoints_dir == "s3p://b/c"


def test_error_text_that_is_not_json_is_kept_as_message() -> None:
    assert parse_error("plain words") == (None, "plain words")
    assert parse_error(None) == (None, None)


def test_wrong_shapes_are_refused() -> None:
    with pytest.raises(FlinkDeploymentError, match="status is list"):
        parse_flinkdeployment({"metadata": {"name": "x"}, "status": []})
    with pytest.raises(FlinkDeploymentError, match=r"metadata\.name"):
        parse_flinkdeployment({"spec": {}})


def _overview(*jobs: tuple[str, str, str, int]) -> dict[str, Any]:
    return {
        "jobs": [
            {"jid": jid, "name": name, "state": state, "start-time": start, "tasks": {}}
            for jid, name, state, start in jobs
        ]
    }


def test_pick_job_prefers_id_then_newest_live_job_of_that_name() -> None:
    jobs = parse_jobs(
        _overview(
            ("old", "torghut-ta", "CANCELED", 100),
            ("live", "torghut-ta", "RUNNING", 50),
            ("newer-dead", "torghut-ta", "FAILED", 300),
            ("other", "something-else", "RUNNING", 400),
        )
    )
    assert pick_job(jobs, name="torghut-ta").job_id == "live"
    assert pick_job(jobs, name="torghut-ta", job_id="old").job_id == "old"
    dead = [j for j in jobs if j.state != "RUNNING"]
    assert pick_job(dead, name="torghut-ta").job_id == "newer-dead"
    with pytest.raises(FlinkRestError, match=r"no job named 'ta' .*something-else"):
        pick_job(jobs, name="ta")


@pytest.mark.parametrize(
    "garbage",
    ["<html>", None, {"jobs": "x"}, {"jobs": [{"name": "no id"}]}, []],
)
def test_overview_garbage_is_an_error(garbage: Any) -> None:
    with pytest.raises(FlinkRestError, match="/jobs/overview"):
        parse_jobs(garbage)


def test_checkpoints_latest_completed_ack_time() -> None:
    payload = {
        "counts": {"completed": 6},
        "latest": {
            "completed": {
                "id": 6,
                "latest_ack_timestamp": 1_795_872_756_749,
                "status": "COMPLETED",
            },
            "failed": None,
            "savepoint": None,
            "restored": None,
        },
    }
    assert parse_checkpoints(payload) == (1_795_872_756.749, 6)
    assert parse_checkpoints({"latest": {"completed": None}}) == (None, None)
    with pytest.raises(FlinkRestError, match="latest_ack_timestamp"):
        parse_checkpoints({"latest": {"completed": {"latest_ack_timestamp": "soon"}}})
    with pytest.raises(FlinkRestError, match="checkpoints"):
        parse_checkpoints({"errors": ["Job not found"]})


def test_restarts_from_metric_or_from_the_exception_history() -> None:
    assert restarts_from_metrics([{"id": "numRestarts", "value": "2"}]) == 2
    assert restarts_from_metrics([]) is None
    with pytest.raises(FlinkRestError):
        restarts_from_metrics({"numRestarts": 2})
    for garbage in ("Infinity", "NaN", None, True, "two"):
        with pytest.raises(FlinkRestError, match="numRestarts is"):
            restarts_from_metrics([{"id": "numRestarts", "value": garbage}])
    history = {"exceptionHistory": {"entries": [{}, {}, {}], "truncated": False}}
    # three handled failures of a FAILED job: two restarts, then it gave up
    assert restarts_from_exceptions(history, state="FAILED") == 2
    assert restarts_from_exceptions(history, state="RUNNING") == 3


def test_render_rest_omits_unknown_values() -> None:
    job = FlinkJob("j", "torghut-ta", "RUNNING", -1)  # Flink's "not started yet"
    data = FlinkRestStatus("torghut-ta", job, None, None, 0, "metric")
    assert [(s.name, s.value) for s in render_rest(data)] == [
        ("torghut_ta_flink_job_restarts", 0.0)
    ]


def test_rendered_series_fit_the_catalogue() -> None:
    from exporter.scheduler import check_samples

    data = parse_flinkdeployment(
        _fd(jobStatus={"state": "WEIRD_NEW_STATE"}, lifecycleState="STABLE")
    )
    samples = check_samples(render_deployment(data))
    assert {s.labels.get("state") for s in samples if s.value == 1} >= {"WEIRD_NEW_STATE", "STABLE"}
    job = FlinkJob("j", "torghut-ta", "RUNNING", 1)
    rest = FlinkRestStatus("torghut-ta", job, 1.0, 1, 0, "metric", 60.0)
    assert len(check_samples(render_rest(rest))) == 4


def test_checkpoint_interval_from_the_checkpoint_config() -> None:
    assert parse_checkpoint_interval(200, {"mode": "exactly_once", "interval": 60_000}) == 60.0
    # periodic checkpoints off: Flink keeps Long.MAX_VALUE; no checkpoint settings: 404
    assert parse_checkpoint_interval(200, {"interval": 2**63 - 1}) is None
    assert parse_checkpoint_interval(404, {"errors": ["Checkpointing is not enabled"]}) is None


@pytest.mark.parametrize(
    "payload", [[], {}, {"interval": "60000"}, {"interval": 0}, {"interval": True}, None]
)
def test_checkpoint_config_garbage_names_the_field(payload: Any) -> None:
    with pytest.raises(FlinkRestError, match=r"checkpoints/config"):
        parse_checkpoint_interval(200, payload)


def test_start_time_interval_and_no_checkpoint_yet_are_rendered() -> None:
    job = FlinkJob("j", "torghut-ta", "RUNNING", 1_800_000_000_500)
    data = FlinkRestStatus("torghut-ta", job, None, None, 0, "metric", 60.0)
    samples = {s.name: (s.value, s.labels) for s in render_rest(data)}
    dep = {"deployment": "torghut-ta"}
    assert samples["torghut_ta_flink_job_start_timestamp_seconds"] == (1_800_000_000.5, dep)
    assert samples["torghut_ta_flink_checkpoint_interval_seconds"] == (60.0, dep)
    assert "torghut_ta_flink_last_checkpoint_timestamp_seconds" not in samples


def test_error_message_ends_with_the_root_cause_of_the_throwable_list() -> None:
    """The operator's status.error for a job whose restarts are exhausted (sandbox operator)."""
    from sandbox.kube.operator import job_exception

    disk = "Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space. (NOT_ENOUGH_SPACE)"
    raw = json.dumps(
        job_exception(
            [
                {"type": "java.sql.SQLException", "message": f"batch insert failed: {disk}"},
                {"type": "com.clickhouse.client.ClickHouseException", "message": disk},
            ]
        )
    )
    kind, message = parse_error(raw)
    assert kind == "org.apache.flink.runtime.JobException"
    assert message is not None and message.startswith("Recovery is suppressed by ")
    assert message.endswith(f"; caused by com.clickhouse.client.ClickHouseException: {disk}")
    assert parse_error(json.dumps({"type": "T", "message": "m", "throwableList": []})) == ("T", "m")
