"""The trading gate as its own capability, through a real HTTP server: TATradingOnStaleSignals
pauses trading (auto: no approval unless policy asks for one; propose: the pull request; observe:
only the plan), and resuming is a person's decision, refused while a fresh read says the signals
are stale or unknown unless the person states they are known good (journaled with who)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from remediator_kit import ALICE_TOKEN, WEBHOOK_TOKEN, FakeActuators, alert, body, facts, verdict

from remediator import config
from remediator.actuators import no_fence
from remediator.config import RemediatorConfig
from remediator.engine import Sources
from remediator.facts import Facts
from remediator.journal import Journal
from remediator.policy import KillSwitch
from remediator.server import App, create_app
from remediator.service import build
from sandbox.util import apoll_until

GATE = alert("TATradingOnStaleSignals", signals="stale")
STALE = facts(verdicts={"freshness": verdict("freshness", "down", summary="signals 20m old")})
UNKNOWN = facts(verdicts={"freshness": verdict("freshness", "unknown", summary="never read")})
FRESH = facts()
# outside market hours the report does not judge freshness, whether or not it could read it
CLOSED = "market closed: freshness not judged"
CLOSED_UNREAD = facts(
    market_open=False,
    verdicts={"freshness": verdict("freshness", "healthy", summary=CLOSED)},
    unreadable=("clickhouse_freshness",),
)
CLOSED_READ = facts(
    market_open=False, verdicts={"freshness": verdict("freshness", "healthy", summary=CLOSED)}
)


@dataclass
class Gate:
    client: TestClient
    journal: Journal
    app: App
    fake: FakeActuators
    facts: Facts | Exception = STALE
    reads: list[float] = field(default_factory=list)

    async def post_alert(self) -> str:
        resp = await self.client.post(
            "/webhook/alertmanager",
            data=body(GATE),
            headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
        )
        assert resp.status == 202, await resp.text()
        [run_id] = (await resp.json())["runs"]
        await apoll_until(
            lambda: asyncio.sleep(0, self.app.engine.idle.is_set()), timeout=30, what="idle"
        )
        return str(run_id)

    async def resume(self, **payload: Any) -> tuple[int, Any]:
        resp = await self.client.post(
            "/trading/resume", json=payload, headers={"Authorization": f"Bearer {ALICE_TOKEN}"}
        )
        return resp.status, await resp.json()

    def audit(self) -> list[tuple[str, str]]:
        return [(a["who"], a["action"]) for a in self.journal.audit_log()]


@pytest.fixture
async def gate(
    make_config: Callable[..., RemediatorConfig], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Any]]:
    monkeypatch.setattr(config, "ACTING_NEEDS", {})  # the actuators are faked here
    made: list[Gate] = []

    async def make(mode: str = "auto", **policy: Any) -> Gate:
        cfg = make_config(mode=mode, policy=policy)
        journal = Journal(cfg.remediator.journal_path)
        holder: list[Gate] = []

        async def read_facts() -> Facts:
            g = holder[0]
            g.reads.append(1.0)
            if isinstance(g.facts, Exception):
                raise g.facts
            return g.facts

        async def read_annotation() -> KillSwitch:
            return KillSwitch("annotation", False, "not set")

        fake = FakeActuators()
        app = build(
            cfg,
            journal,
            source=Sources(read_facts, read_annotation),
            actuators=None if mode == "observe" else fake,
            fence=no_fence,
        )
        client = TestClient(TestServer(create_app(app)))
        await client.start_server()
        app.engine.start()
        holder.append(Gate(client, journal, app, fake))
        made.append(holder[0])
        return holder[0]

    yield make
    for g in made:
        await g.app.engine.stop()
        await g.client.close()
        g.journal.close()


async def test_auto_pauses_trading_without_an_approval(gate: Callable[..., Any]) -> None:
    g = await gate("auto")
    run = g.journal.run(await g.post_alert())
    assert run is not None and run.outcome == "succeeded", run
    assert g.fake.acts() == ["pause_trading"] and run.approvals == ()
    assert "trading stays paused until a person resumes it" in run.reason


async def test_auto_asks_a_person_first_when_policy_requires_it(gate: Callable[..., Any]) -> None:
    g = await gate("auto", approve_trading_pause=True)
    run_id = await g.post_alert()
    run = g.journal.run(run_id)
    assert run is not None and run.state == "awaiting_approval" and g.fake.acts() == []
    [asked] = g.fake.of("request_approval")
    assert "policy: approve_trading_pause" in asked[2]
    resp = await g.client.post(
        f"/runs/{run_id}/approve",
        json={"reason": "stale for real"},
        headers={"Authorization": f"Bearer {ALICE_TOKEN}"},
    )
    assert resp.status == 200
    await apoll_until(
        lambda: asyncio.sleep(0, (g.journal.run(run_id) or run).outcome == "succeeded"),
        timeout=30,
        what="the approved run paused trading",
    )
    assert g.fake.acts() == ["pause_trading"]


async def test_propose_opens_the_pull_request_without_an_approval(
    gate: Callable[..., Any],
) -> None:
    g = await gate("propose")
    run = g.journal.run(await g.post_alert())
    assert run is not None and run.outcome == "succeeded" and run.approvals == ()
    [step] = [s for s in run.steps if s.name == "pause_trading"]
    assert step.evidence["pr_url"].startswith("https://github.test/pull/")


async def test_observe_only_reports_the_plan(gate: Callable[..., Any]) -> None:
    g = await gate("observe")
    run = g.journal.run(await g.post_alert())
    assert run is not None and run.state == "observed" and g.fake.calls == []
    assert [s["name"] for s in run.plan["plan"]["steps"]] == [  # type: ignore[index]
        "pause_trading",
        "verify_trading_paused",
    ]


@pytest.mark.parametrize("signals", ["stale", "unknown", "unreadable", "closed-unread"])
async def test_resume_is_refused_while_signals_are_not_fresh(
    gate: Callable[..., Any], signals: str
) -> None:
    g = await gate("auto")
    g.facts = {"stale": STALE, "unknown": UNKNOWN, "closed-unread": CLOSED_UNREAD}.get(
        signals, RuntimeError("probe failed")
    )
    status, data = await g.resume(reason="looks fine")
    expected = "stale" if signals == "stale" else "unknown"
    assert status == 409 and data["signals"] == expected, data
    assert "--signals-known-good" in data["error"] and g.reads  # read fresh for the decision
    assert g.fake.of("resume_trading") == [] and g.journal.control("trading") is None
    assert g.audit() == [("alice", "trading resume refused")]


async def test_a_person_stating_the_signals_known_good_resumes_and_is_journaled(
    gate: Callable[..., Any],
) -> None:
    g = await gate("auto")
    g.facts = UNKNOWN
    status, data = await g.resume(reason="checked the TA tables by hand", signals_known_good=True)
    assert status == 200, data
    assert (data["signals"], data["signals_known_good"], data["by"]) == ("unknown", True, "alice")
    assert g.fake.of("resume_trading") == [
        ("resume_trading", "alice", "checked the TA tables by hand")
    ]
    assert g.audit() == [
        ("alice", "signals stated known good"),
        ("alice", "set trading=resume"),
        ("alice", "trading resumed"),
    ]
    [stated] = [a for a in g.journal.audit_log() if a["action"] == "signals stated known good"]
    assert "unknown (never read)" in stated["detail"]


async def test_fresh_signals_resume_without_a_statement(gate: Callable[..., Any]) -> None:
    g = await gate("auto")
    g.facts = FRESH
    status, data = await g.resume(reason="fresh for 15 minutes")
    assert status == 200 and data["signals"] == "fresh" and not data["signals_known_good"]
    assert len(g.fake.of("resume_trading")) == 1


async def test_a_closed_market_read_without_error_resumes_and_says_why(
    gate: Callable[..., Any],
) -> None:
    g = await gate("auto")
    g.facts = CLOSED_READ
    status, data = await g.resume(reason="ready for the open")
    assert status == 200 and data["signals"] == "fresh", data
    assert len(g.fake.of("resume_trading")) == 1


async def test_a_statement_that_is_not_a_boolean_is_a_bad_request(
    gate: Callable[..., Any],
) -> None:
    g = await gate("auto")
    status, data = await g.resume(reason="x", signals_known_good="yes")
    assert status == 400 and "signals_known_good" in data["error"]
    assert g.fake.calls == [] and g.audit() == []


async def test_propose_mode_answers_with_the_pull_request_before_anyone_merges_it(
    gate: Callable[..., Any],
) -> None:
    g = await gate("propose")
    g.facts = FRESH
    status, data = await g.resume(reason="fresh again")
    # the request is not held until a person merges: 202 with the link to merge
    assert status == 202, data
    assert data["change"]["pr_url"] == "https://github.test/pull/9" and "merge" in data["note"]
    assert g.audit()[-1] == ("alice", "trading resume proposed")
    g.fake.merged.set()
    await apoll_until(
        lambda: asyncio.sleep(0, g.audit()[-1] == ("alice", "trading resumed")),
        timeout=30,
        what="the merge journaled",
    )
    [done] = [a for a in g.journal.audit_log() if a["action"] == "trading resumed"]
    assert '"merged_sha": "m9"' in done["detail"]
