"""Pure parts of the TA job's Flink semantics: durations, start positions, the started config."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.ta_job import JobFailure, job_config, parse_duration, parse_start


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30.0), ("500 ms", 0.5), ("1min", 60.0), ("250", 0.25)]
)
def test_flink_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, "k") == seconds


def test_a_bad_duration_names_the_key() -> None:
    with pytest.raises(JobFailure, match=r"'soon' for key 'execution\.checkpointing\.interval'"):
        parse_duration("soon", "execution.checkpointing.interval")


def test_start_positions() -> None:
    assert parse_start(None) == "earliest"
    assert parse_start("latest") == "latest"
    assert parse_start("committed") == "committed"
    assert parse_start("timestamp:1700000000000") == 1_700_000_000_000
    with pytest.raises(JobFailure, match="TA_KAFKA_STARTING_OFFSETS='timestamp:x'") as err:
        parse_start("timestamp:x")
    assert err.value.java_type == "java.lang.IllegalArgumentException"


def _fd(env: list[dict[str, Any]], conf: dict[str, str]) -> dict[str, Any]:
    return {
        "spec": {
            "flinkConfiguration": conf,
            "job": {"upgradeMode": "last-state"},
            "podTemplate": {"spec": {"containers": [{"name": "flink-main-container", "env": env}]}},
        },
        "status": {"jobStatus": {"jobId": "j1"}},
    }


def test_container_env_overrides_the_configmap_and_secrets_are_not_read() -> None:
    fd = _fd(
        [
            {"name": "TA_GROUP_ID", "value": "from-env"},
            {"name": "TA_CLICKHOUSE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s"}}},
        ],
        {"execution.checkpointing.interval": "30s", "state.checkpoints.dir": "s3://b/c"},
    )
    job = job_config(fd, {"TA_GROUP_ID": "from-cm", "TA_TRADES_TOPIC": "t"})
    assert job.env == {"TA_GROUP_ID": "from-env", "TA_TRADES_TOPIC": "t"}
    assert (job.job_id, job.upgrade_mode) == ("j1", "last-state")
    assert (job.checkpoints_dir, job.checkpoint_interval) == ("s3://b/c", 30.0)


def test_no_checkpoint_interval_means_checkpointing_is_off() -> None:
    assert job_config(_fd([], {}), {}).checkpoint_interval is None
