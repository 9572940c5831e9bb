"""Helpers for the remediator tests: a config factory, facts and alerts built by hand."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exporter.verdict import Verdict
from remediator.config import RemediatorConfig, parse_remediator_config
from remediator.facts import DAY, Facts, PartitionFact

NOW = 1_800_000_000.0
WEBHOOK_TOKEN = "wh-token-3f9a"
ALICE_TOKEN = "alice-token-77c1"
VIEWER_TOKEN = "viewer-token-0b2e"


def remediator_data(tmp_path: Path, **section: Any) -> dict[str, Any]:
    (tmp_path / "webhook-token").write_text(WEBHOOK_TOKEN + "\n")
    (tmp_path / "alice-token").write_text(ALICE_TOKEN)
    (tmp_path / "viewer-token").write_text(VIEWER_TOKEN)
    rem: dict[str, Any] = {
        "journal_path": str(tmp_path / "journal.sqlite3"),
        "webhook_token": {"file": str(tmp_path / "webhook-token")},
        "api_tokens": [
            {"name": "alice", "token": {"file": str(tmp_path / "alice-token")}},
            {
                "name": "viewer",
                "token": {"file": str(tmp_path / "viewer-token")},
                "may_approve": False,
            },
        ],
    }
    rem.update(section)
    return {
        "clickhouse": {
            "replicas": [
                {"name": "r1", "url": "http://127.0.0.1:8123"},
                {"name": "r2", "url": "http://127.0.0.1:8124"},
            ]
        },
        "kafka": {"bootstrap_servers": ["127.0.0.1:9092"], "topics": ["torghut.trades.v1"]},
        "remediator": rem,
    }


@pytest.fixture
def rcfg(tmp_path: Path) -> RemediatorConfig:
    return parse_remediator_config(remediator_data(tmp_path))


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., RemediatorConfig]:
    def make(**section: Any) -> RemediatorConfig:
        return parse_remediator_config(remediator_data(tmp_path, **section))

    return make


def verdict(component: str, status: str, procedure: str = "none", summary: str = "") -> Verdict:
    return Verdict(component, status, summary or f"{component} {status}", procedure)  # type: ignore[arg-type]


def facts(**overrides: Any) -> Facts:
    """Healthy, market open, trading on, job RUNNING; override what a test needs."""
    verdicts = {
        name: verdict(name, "healthy")
        for name in ("flink", "clickhouse-disk", "clickhouse-replicas", "freshness", "trading")
    }
    verdicts.update(overrides.pop("verdicts", {}))
    base: dict[str, Any] = {
        "now": NOW,
        "deployment": "torghut-ta",
        "market_open": True,
        "trading_enabled": True,
        "job_state": "RUNNING",
        "lifecycle": "STABLE",
        "desired_running": True,
        "verdicts": verdicts,
        "replay_window_start": NOW - 10 * DAY,
    }
    base.update(overrides)
    return Facts(**base)


def day_partition(
    days_ago: int, *, table: str = "ta_signals", size: int = 1000, replica: str = "r1"
) -> PartitionFact:
    start = NOW - days_ago * DAY
    start -= start % DAY
    return PartitionFact(replica, table, str(int(start)), size, size // 10, start)


def alert(
    alertname: str, *, status: str = "firing", fingerprint: str | None = None, **labels: str
) -> dict[str, Any]:
    key = json.dumps([alertname, sorted(labels.items())])
    return {
        "status": status,
        "labels": {"alertname": alertname, **labels},
        "annotations": {"summary": alertname},
        "startsAt": "2026-12-01T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint or f"{abs(hash(key)) % 16**16:016x}",
    }


def notification(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}/{procedure=~"A|B"}:{alertname="x"}',
        "truncatedAlerts": 0,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": "torghut-ta-remediator",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
        "notification_reason": "new",  # newer Alertmanager fields are accepted
    }


def body(*alerts: dict[str, Any]) -> bytes:
    return json.dumps(notification(*alerts)).encode()
