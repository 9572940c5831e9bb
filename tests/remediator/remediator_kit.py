"""Helpers for the remediator tests: a config factory, facts and alerts built by hand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from exporter.verdict import Verdict
from remediator.actuators import Fence, Opened
from remediator.config import RemediatorConfig, parse_remediator_config
from remediator.engine import Sources
from remediator.execute import VerifyResult
from remediator.facts import DAY, Facts, PartitionFact
from remediator.journal import Journal, Run
from remediator.journal_acting import ApprovalRecord, StepRecord
from remediator.policy import KillSwitch
from remediator.server import App, create_app
from remediator.service import build
from sandbox.testing.remediator import notification as sandbox_notification

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


# Procedure A: the job FAILED on a full disk, two old partitions to drop
A_FULL = facts(
    verdicts={"clickhouse-disk": verdict("clickhouse-disk", "down", "A", "r1 default: 1% free")},
    job_state="FAILED",
    lifecycle="FAILED",
    partitions=(day_partition(9), day_partition(8)),
)
# the 9-day-old partition is older than what Kafka still holds: dropping it needs a person
A_UNREPLAYABLE = facts(
    verdicts=A_FULL.verdicts,
    job_state="FAILED",
    lifecycle="FAILED",
    partitions=A_FULL.partitions,
    replay_window_start=NOW - 8.5 * DAY,
)


def fixed_sources(f: Facts) -> Sources:
    """Sources that always read `f`, and the kill-switch annotation unset."""

    async def read_facts() -> Facts:
        return f

    async def read_annotation() -> KillSwitch:
        return KillSwitch("annotation", False)

    return Sources(read_facts, read_annotation)


@asynccontextmanager
async def served(
    cfg: RemediatorConfig, journal: Journal, sources: Sources, **build_kw: Any
) -> AsyncIterator[tuple[App, TestClient]]:
    """The remediator built on `journal` behind a real HTTP server, its engine started; the
    engine, the server and the journal closed afterwards."""
    app = build(cfg, journal, source=sources, **build_kw)
    client = TestClient(TestServer(create_app(app)))
    await client.start_server()
    app.engine.start()
    try:
        yield app, client
    finally:
        await app.engine.stop()
        await client.close()
        journal.close()


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
    """The sandbox's notification, with the fields a newer Alertmanager adds (accepted)."""
    return {
        **sandbox_notification(*alerts),
        "groupKey": '{}/{procedure=~"A|B"}:{alertname="x"}',
        "externalURL": "http://alertmanager:9093",
        "notification_reason": "new",
    }


def body(*alerts: dict[str, Any]) -> bytes:
    return json.dumps(notification(*alerts)).encode()


class Crash(BaseException):
    """The process dies mid-actuation (after the idempotency key, before the outcome)."""


class FakeActuators:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.errors: dict[str, list[BaseException]] = {}
        self.hooks: dict[str, Callable[[], None]] = {}
        self.done_answer: bool | None = True
        self.verify_answers: dict[str, list[VerifyResult]] = {}
        self.merged = asyncio.Event()  # a person merges the trading-resume pull request

    def acts(self) -> list[str]:
        return [c[1] for c in self.calls if c[0] == "act"]

    def of(self, kind: str) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[0] == kind]

    async def act(self, step: StepRecord, *, run: Run, key: str, fence: Fence) -> dict[str, str]:
        self.calls.append(("act", step.name, key))
        if (hook := self.hooks.pop(step.name, None)) is not None:
            hook()
        fence()  # as every actuator does, right before the change
        if self.errors.get(step.name):
            raise self.errors[step.name].pop(0)
        return {"pr_url": f"https://github.test/pull/{step.index}", "diff": "-a\n+b"}

    async def already_done(self, step: StepRecord, *, run: Run) -> bool | None:
        self.calls.append(("already_done", step.name))
        return self.done_answer

    async def verify(self, step: StepRecord, *, run: Run) -> VerifyResult:
        self.calls.append(("verify", step.name))
        answers = self.verify_answers.get(step.name)
        if answers:
            return answers.pop(0) if len(answers) > 1 else answers[0]
        return VerifyResult(True, f"{step.name} ok")

    async def escalate(self, run: Run, reason: str) -> None:
        self.calls.append(("escalate", reason))
        if self.errors.get("escalate"):
            raise self.errors["escalate"].pop(0)

    async def request_approval(self, run: Run, approval: ApprovalRecord, summary: str) -> None:
        self.calls.append(("request_approval", approval.step, summary))

    async def succeeded(self, run: Run, summary: str) -> None:
        self.calls.append(("succeeded", summary))

    async def resume_trading(
        self, *, who: str, reason: str, fence: Fence, opened: Opened | None = None
    ) -> dict[str, str]:
        self.calls.append(("resume_trading", who, reason))
        if opened is not None:  # propose mode: a pull request, then a person's merge
            pull = {"branch": "remediator/trading-resume", "pr_url": "https://github.test/pull/9"}
            opened(pull)
            await self.merged.wait()
            return {**pull, "merged_sha": "m9"}
        return {}
