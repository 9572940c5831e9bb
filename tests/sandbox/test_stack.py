"""The whole stack as `make sandbox` runs it: endpoints, liveness, data flowing end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
import yaml

from sandbox import kafka
from sandbox.testing.stack import exported
from sandbox.util import poll_until

pytestmark = pytest.mark.slow

KEYS = (
    "clickhouse_http", "kafka_bootstrap", "kafka_sasl_bootstrap", "kafka_ssl_bootstrap",
    "kafka_ca_file", "kubeconfig", "git_remote", "git_workdir", "prometheus", "alertmanager",
    "exporter", "exporter_kube_token_file", "argocd_token_file", "kafka_exporter_user",
    "kafka_exporter_password_file",
)  # fmt: skip


def test_status_json_names_every_endpoint_and_every_service_is_up(
    sandbox_stack: dict[str, Any],
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "status", "--dir", sandbox_stack["dir"], "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    status = json.loads(out.stdout)
    assert set(KEYS) <= set(status)
    assert status["up"] and all(status["up"].values()), status["up"]
    assert Path(status["kubeconfig"]).is_file()
    assert Path(
        status["git_workdir"], "argocd/applications/torghut/ta/flinkdeployment.yaml"
    ).is_file()
    # credentials appear as files only: no secret value is printed
    secret_files = sorted(Path(sandbox_stack["dir"]).rglob("*token*")) + sorted(
        Path(sandbox_stack["dir"], "secrets").glob("clickhouse-*password")
    )
    assert len(secret_files) >= 4
    for path in secret_files:
        if path.is_file() and path.stat().st_size >= 8:
            assert path.read_text().strip() not in out.stdout, path
    for key in ("exporter_kube_token_file", "argocd_token_file", "kafka_exporter_password_file"):
        secret = Path(status[key]).read_text().strip()
        assert len(secret) > 20 and secret not in out.stdout
    admin = json.loads(Path(sandbox_stack["dir"], "kube", "kube-standin.json").read_text())["token"]
    assert admin not in out.stdout


def test_the_exporter_reads_kubernetes_with_its_own_token(sandbox_stack: dict[str, Any]) -> None:
    """Its ServiceAccount (the chart's RBAC): every call it makes is allowed."""
    admin = json.loads(Path(sandbox_stack["dir"], "kube", "kube-standin.json").read_text())["token"]
    user = "system:serviceaccount:torghut-ta-ops:torghut-ta-ops-exporter"

    def asked() -> list[dict[str, Any]] | None:
        req = urllib.request.Request(
            f"{sandbox_stack['kube_api']}/sandbox/audit?user={user}",
            headers={"Authorization": f"Bearer {admin}"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            items: list[dict[str, Any]] = json.loads(resp.read())["items"]
        return items or None

    items = poll_until(asked, timeout=60, what="the exporter's Kubernetes calls")
    assert all(a["allowed"] for a in items), [a for a in items if not a["allowed"]]


def test_signals_advance_end_to_end(sandbox_stack: dict[str, Any]) -> None:
    """Feed -> Kafka -> TA writer -> ClickHouse: max(event_ts) keeps moving."""
    secret = Path(sandbox_stack["dir"], "secrets", "clickhouse-password").read_text()
    host, _, port = sandbox_stack["clickhouse_http"].removeprefix("http://").rpartition(":")
    client = clickhouse_connect.get_client(
        host=host, port=int(port), username="torghut", password=secret
    )
    try:

        def newest() -> Any:
            return client.query(
                "SELECT max(event_ts), count() FROM torghut.ta_signals"
            ).result_rows[0]

        first = poll_until(
            lambda: newest() if newest()[1] > 0 else None, timeout=60, what="first signals"
        )
        poll_until(lambda: newest()[0] > first[0], timeout=30, what="max(event_ts) advances")
    finally:
        client.close()


def test_exporter_serves_metrics_from_the_stack(sandbox_stack: dict[str, Any]) -> None:
    def scrape() -> str:
        with urllib.request.urlopen(sandbox_stack["exporter"] + "/metrics", timeout=5) as resp:
            return resp.read().decode()

    def exported() -> str | None:
        text = scrape()
        return (
            text
            if 'torghut_ta_table_last_event_timestamp_seconds{table="ta_signals"}' in text
            else None
        )

    text = poll_until(exported, timeout=60, what="freshness metric exported")
    assert 'torghut_ta_flink_job_state{deployment="torghut-ta",state="RUNNING"} 1.0' in text
    assert "torghut_ta_trading_enabled 1.0" in text


def test_the_exporter_reads_kafka_as_its_own_sasl_user(sandbox_stack: dict[str, Any]) -> None:
    """SCRAM-SHA-512 on the SASL listener with the stack's generated password, and its Kafka
    probes succeed over it."""
    cfg = yaml.safe_load(Path(sandbox_stack["dir"], "exporter.yaml").read_text())["kafka"]
    assert cfg["bootstrap_servers"] == [sandbox_stack["kafka_sasl_bootstrap"]]
    assert cfg["security"] == {
        "protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "username": sandbox_stack["kafka_exporter_user"],
        "password": {"file": sandbox_stack["kafka_exporter_password_file"]},
    }
    password = Path(sandbox_stack["kafka_exporter_password_file"]).read_text()
    assert password not in kafka.SCRAM_USERS.values()  # generated per stack, not the default

    def probes_ok() -> dict[str, float] | None:
        samples = exported(sandbox_stack["exporter"], "torghut_ta_probe_success")
        kafka_probes = {dict(k)["probe"]: v for k, v in samples.items()}
        kafka_probes = {p: v for p, v in kafka_probes.items() if p.startswith("kafka")}
        ok = set(kafka_probes) == {"kafka_lag", "kafka_retention"}
        return kafka_probes if ok and all(v == 1.0 for v in kafka_probes.values()) else None

    poll_until(probes_ok, timeout=90, what="the exporter's Kafka probes succeeding over SASL")
    # what it read over SASL: lag per partition of the trades topic, no partition unknown
    lag = exported(sandbox_stack["exporter"], "torghut_ta_kafka_consumer_lag_messages")
    assert lag and all(v >= 0 for v in lag.values())
    unknown = exported(sandbox_stack["exporter"], "torghut_ta_kafka_partitions_unknown")
    assert unknown and set(unknown.values()) == {0.0}
