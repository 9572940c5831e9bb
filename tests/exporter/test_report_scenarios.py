"""The report's verdicts in the runbook's situations, from one real cycle of every probe family
(`run_report`) against the sandbox: ClickHouse, Kafka, the Kubernetes API stand-in with its
simulated Flink operator, and S3 checkpoint storage.

| situation           | backend state                                        | expected             |
|---------------------|------------------------------------------------------|----------------------|
| healthy             | fresh rows, lag 0, job RUNNING, fresh checkpoint     | healthy, exit 0      |
| disk full + FAILED  | tmpfs ClickHouse filled, operator reports job FAILED | down, procedure A    |
| replica read-only   | ReplicatedMergeTree replicas read-only               | down, procedure B    |
| job failed          | job FAILED, disk fine                                | down, procedure none |
| stale signals       | newest signal 15 min old, market open                | down, procedure none |
| kafka unreachable   | broker stopped                                       | kafka unknown + why  |
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from exporter.cli import run_report
from exporter.config import Config, parse_config
from exporter.report import Report, Verdict
from sandbox import s3 as sandbox_s3
from sandbox.kafka import TopicSpec, commit_offsets, create_topics, generate_trades, produce_trades
from sandbox.kube.client import fail_job
from sandbox.testing.clickhouse import ClickHouseServer, exhaust_disk, fill_disk
from sandbox.testing.kube import KubeSandbox
from sandbox.util import apoll_until, poll_until

pytestmark = pytest.mark.slow

NS, FD = "torghut", "torghut-ta"
FD_PATH = f"/apis/flink.apache.org/v1beta1/namespaces/{NS}/flinkdeployments/{FD}"
CM_PATH = f"/api/v1/namespaces/{NS}/configmaps/torghut-ta-config"
KSVC_PATH = f"/apis/serving.knative.dev/v1/namespaces/{NS}/services/torghut"
MERGE = "application/merge-patch+json"
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@dataclass
class Pipeline:
    """The non-ClickHouse backends of one scenario, prepared healthy."""

    kube: KubeSandbox
    bootstrap: str
    topic: str
    group: str
    s3: str
    checkpoints: str
    secrets: Path

    def config(self, ch: ClickHouseServer, **overrides: Any) -> Config:
        (self.secrets / "clickhouse-password").write_text(ch.password)
        data: dict[str, Any] = {
            "namespace": NS,
            "watch_symbols": ["NVDA"],
            "clickhouse": {
                "replicas": [{"name": "chi-0", "url": ch.url}],
                "user": ch.user,
                "password": {"file": str(self.secrets / "clickhouse-password")},
            },
            "kafka": {"bootstrap_servers": [self.bootstrap], "topics": [self.topic]},
            "kubernetes": {"kubeconfig": str(self.kube.kubeconfig), "request_timeout": "3s"},
            "checkpoint_storage": {
                "endpoint_url": self.s3,
                "access_key_id": {"file": str(self.secrets / "s3-key")},
                "secret_access_key": {"file": str(self.secrets / "s3-secret")},
            },
            "market": {
                "timezone": "UTC",
                "sessions": [{"days": EVERY_DAY, "open": "00:00", "close": "24:00"}],
            },
            "probes": {"default": {"timeout": "5s"}},
        }
        data.update(overrides)
        return parse_config(data)

    def trading_enabled(self) -> bool:
        _, svc = self.kube.raw("GET", KSVC_PATH)
        values = [
            e["value"]
            for c in svc["spec"]["template"]["spec"]["containers"]
            for e in c.get("env", [])
            if e["name"] == "TRADING_ENABLED"
        ]
        return any(v.lower() == "true" for v in values)


@pytest.fixture
async def pipeline(
    kube_api: KubeSandbox, kafka_bootstrap: str, unique_topic: str, s3_endpoint: str, tmp_path
) -> Pipeline:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "s3-key").write_text("AKIASANDBOXKEY0001")
    (secrets / "s3-secret").write_text("sandbox-s3-secret-value")
    group = f"ta-{unique_topic}"
    bucket = f"ckpt-{unique_topic.lower()}"[:63].rstrip("-")
    uri = f"s3://{bucket}/checkpoints/torghut-ta"
    kube_api.raw("PATCH", CM_PATH, {"data": {"TA_GROUP_ID": group}}, content_type=MERGE)
    kube_api.raw(
        "PATCH",
        FD_PATH,
        {"spec": {"flinkConfiguration": {"state.checkpoints.dir": uri}}},
        content_type=MERGE,
    )
    sandbox_s3.put_checkpoints(s3_endpoint, uri, "c" * 32, [1, 2])
    await create_topics(kafka_bootstrap, {unique_topic: TopicSpec(partitions=1)})
    trades = generate_trades(3, start=datetime.now(UTC).replace(microsecond=0))
    await produce_trades(kafka_bootstrap, unique_topic, trades, partition=0)
    await commit_offsets(kafka_bootstrap, group, {TopicPartition(unique_topic, 0): len(trades)})
    poll_until(
        lambda: kube_api.job().get("lifecycleState") == "STABLE",
        timeout=20,
        interval=0.1,
        what="simulated operator reports STABLE",
    )
    return Pipeline(kube_api, kafka_bootstrap, unique_topic, group, s3_endpoint, uri, secrets)


def _insert_signals(ch: ClickHouseServer, age_seconds: int) -> int:
    """One NVDA row in both tables, `age_seconds` old; returns its event time."""
    client = ch.client()
    try:
        ts = int(client.query("SELECT toUnixTimestamp(now())").result_rows[0][0]) - age_seconds
        for table in ("ta_signals", "ta_microbars"):
            client.command(f"INSERT INTO torghut.{table} (event_ts, symbol) VALUES ({ts}, 'NVDA')")
        return ts
    finally:
        client.close()


def _verdicts(report: Report) -> dict[str, Verdict]:
    return {v.component: v for v in report.components}


def _no_secret(report: Report, ch: ClickHouseServer) -> None:
    assert ch.password not in json.dumps(report.to_json())


async def _report_until(cfg: Config, check, what: str) -> Report:
    """Run report cycles until `check(report)` holds (the operator moves status asynchronously)."""

    async def attempt() -> Report | None:
        report = await run_report(cfg)
        return report if check(report) else None

    return await apoll_until(attempt, timeout=20, interval=0.2, what=what)


async def test_healthy(pipeline: Pipeline, clean_clickhouse: ClickHouseServer) -> None:
    ts = _insert_signals(clean_clickhouse, age_seconds=5)
    report = await run_report(pipeline.config(clean_clickhouse))
    v = _verdicts(report)
    assert {c: x.status for c, x in v.items()} == dict.fromkeys(v, "healthy"), report
    assert report.overall == "healthy" and report.exit_code == 0
    assert {x.procedure for x in v.values()} == {"none"}
    assert all(p.success for p in report.probes), report.probes
    fresh = {
        e.labels["table"]: e.value for e in v["freshness"].evidence if "symbol" not in e.labels
    }
    assert fresh == {"ta_signals": ts, "ta_microbars": ts}
    assert v["kafka"].details["group"] == pipeline.group
    assert v["checkpoints"].details["uri"] == pipeline.checkpoints
    _no_secret(report, clean_clickhouse)


async def test_disk_full_and_job_failed_points_to_procedure_a(
    pipeline: Pipeline, pressured_clickhouse: ClickHouseServer
) -> None:
    fill_disk(pressured_clickhouse, below_free_ratio=0.10)  # old partitions to drop
    exhaust_disk(pressured_clickhouse)  # and the rest of the volume: inserts now fail
    message = (
        "Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space. (NOT_ENOUGH_SPACE)"
    )
    pipeline.kube.fail_job(message)
    report = await _report_until(
        pipeline.config(pressured_clickhouse),
        lambda r: _verdicts(r)["flink"].status == "down",
        "report sees the job FAILED",
    )
    v = _verdicts(report)
    assert (v["flink"].status, v["flink"].procedure) == ("down", "A")
    assert "disk pressure" in v["flink"].summary
    # status.error is the operator's serialized JobException; the report names its root cause
    error = v["flink"].details["error_message"]
    assert error.startswith("Recovery is suppressed by ") and error.endswith(f": {message}")
    assert v["flink"].details["error_type"] == "org.apache.flink.runtime.JobException"
    assert (v["clickhouse-disk"].status, v["clickhouse-disk"].procedure) == ("down", "A")
    ev = {e.metric.rsplit("_", 2)[-2]: e for e in v["clickhouse-disk"].evidence}
    assert ev["free"].labels == {"replica": "chi-0", "disk": "default"}
    assert ev["free"].value / ev["total"].value < 0.05
    assert (v["freshness"].status, v["freshness"].procedure) == ("down", "A")
    assert report.overall == "down" and report.exit_code == 2
    _no_secret(report, pressured_clickhouse)


async def test_replica_read_only_with_keeper_metadata_present_is_not_procedure_b(
    pipeline: Pipeline, replicated_clickhouse: ClickHouseServer
) -> None:
    # the sandbox's replicas are read-only with Keeper up and their znodes in place: something
    # is wrong, but SYSTEM RESTORE REPLICA (Procedure B) has nothing to restore
    report = await run_report(pipeline.config(replicated_clickhouse))
    v = _verdicts(report)
    replicas = v["clickhouse-replicas"]
    assert (replicas.status, replicas.procedure) == ("down", "none")
    assert {(e.labels["table"], e.value) for e in replicas.evidence} == {
        ("ta_signals", 1.0),
        ("ta_microbars", 1.0),
    }
    assert v["flink"].status == "healthy" and v["clickhouse-disk"].procedure == "none"
    assert v["freshness"].procedure == "none"
    assert report.overall == "down" and report.exit_code == 2
    _no_secret(report, replicated_clickhouse)


async def test_job_failed_without_disk_pressure_is_manual(
    pipeline: Pipeline, clean_clickhouse: ClickHouseServer
) -> None:
    _insert_signals(clean_clickhouse, age_seconds=5)
    kube = pipeline.kube
    fail_job(
        kube.url,
        kube.token,
        "java.lang.IllegalStateException: deserializer blew up",
        exception_type="org.apache.flink.runtime.JobException",
    )
    report = await _report_until(
        pipeline.config(clean_clickhouse),
        lambda r: _verdicts(r)["flink"].status == "down",
        "report sees the job FAILED",
    )
    v = _verdicts(report)
    assert (v["flink"].status, v["flink"].procedure) == ("down", "none")
    assert (
        v["flink"]
        .details["error_message"]
        .endswith(
            "caused by org.apache.flink.runtime.JobException: "
            "java.lang.IllegalStateException: deserializer blew up"
        )
    )
    assert v["flink"].details["error_type"] == "org.apache.flink.runtime.JobException"
    states = {e.labels["state"] for e in v["flink"].evidence if e.metric.endswith("job_state")}
    assert states == {"FAILED"}
    assert v["clickhouse-disk"].status == "healthy"
    assert {x.procedure for x in v.values()} == {"none"}
    assert report.overall == "down" and report.exit_code == 2


async def test_stale_signals(pipeline: Pipeline, clean_clickhouse: ClickHouseServer) -> None:
    _insert_signals(clean_clickhouse, age_seconds=900)
    report = await run_report(pipeline.config(clean_clickhouse))
    v = _verdicts(report)
    fresh = v["freshness"]
    assert (fresh.status, fresh.procedure) == ("down", "none")
    [signals] = [e for e in fresh.evidence if e.labels == {"table": "ta_signals"}]
    assert 900 <= signals.data_age_seconds < 960
    expected = "down" if pipeline.trading_enabled() else "healthy"
    assert v["trading"].status == expected
    assert v["flink"].status == "healthy"
    assert report.overall == "down" and report.exit_code == 2


async def test_kafka_unreachable(
    pipeline: Pipeline, clean_clickhouse: ClickHouseServer, kafka_factory
) -> None:
    _insert_signals(clean_clickhouse, age_seconds=5)
    broker = kafka_factory()
    broker.stop()
    cfg = pipeline.config(
        clean_clickhouse,
        kafka={
            "bootstrap_servers": [broker.endpoints["kafka_bootstrap"]],
            "topics": [pipeline.topic],
        },
    )
    report = await run_report(cfg)
    v = _verdicts(report)
    kafka = v["kafka"]
    assert kafka.status == "unknown"
    assert set(kafka.details) >= {"probe kafka_lag", "probe kafka_retention"}
    assert "probe kafka_lag" in kafka.summary
    failing = {p.name: p.error for p in report.probes if not p.success}
    assert set(failing) == {"kafka_lag", "kafka_retention"}, failing
    assert kafka.details["probe kafka_lag"] == failing["kafka_lag"]
    others = {c: x.status for c, x in v.items() if c != "kafka"}
    assert set(others.values()) == {"healthy"}, others
    assert report.overall == "unknown" and report.exit_code == 3


async def test_missing_topic_and_missing_bucket_say_why(
    pipeline: Pipeline, clean_clickhouse: ClickHouseServer
) -> None:
    _insert_signals(clean_clickhouse, age_seconds=5)
    pipeline.kube.raw(
        "PATCH",
        FD_PATH,
        {"spec": {"flinkConfiguration": {"state.checkpoints.dir": "s3://no-such-ckpt-bucket/x"}}},
        content_type=MERGE,
    )
    cfg = pipeline.config(
        clean_clickhouse,
        kafka={"bootstrap_servers": [pipeline.bootstrap], "topics": [pipeline.topic, "ta-nope"]},
    )
    report = await run_report(cfg)
    v = _verdicts(report)
    assert v["kafka"].status == "degraded"
    assert v["kafka"].details["missing_topics"] == "ta-nope"
    assert v["checkpoints"].status == "down"
    assert "NoSuchBucket" in v["checkpoints"].details["reason"]
    assert v["checkpoints"].details["uri"] == "s3://no-such-ckpt-bucket/x"
