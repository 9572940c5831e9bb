"""The webhook and the API through a real HTTP server: auth, limits, dedupe, journal-before-reply,
observe mode planning from facts, pause/resume with who, cancel, metrics. Acting through the API
(approvals, cancel, trading resume): test_server_acting.py; the harness: server_kit.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from remediator_kit import (
    A_FULL,
    ALICE_TOKEN,
    VIEWER_TOKEN,
    WEBHOOK_TOKEN,
    alert,
    body,
    facts,
    fixed_sources,
)
from server_kit import DISK, DISK2, FAILED, Harness

from remediator.config import RemediatorConfig
from remediator.engine import Sources
from remediator.facts import Facts
from remediator.journal import Journal
from remediator.policy import KillSwitch
from remediator.service import build
from sandbox.util import apoll_until


async def test_one_incident_one_run_observed_with_its_plan_and_gates(harness: Harness) -> None:
    resp = await harness.post(body(DISK, DISK2, FAILED))
    assert resp.status == 202
    [run_id] = (await resp.json())["runs"]
    await harness.settled()
    run = harness.journal.run(run_id)
    assert run is not None and run.open and run.state == "observed"
    assert sorted(a.alertname for a in run.alerts) == ["TAClickHouseDiskPressure"] * 2 + [
        "TAFlinkJobFailed"
    ]
    plan = run.plan["plan"]  # type: ignore[index]
    assert plan["shape"] == "A-full"
    assert [s["name"] for s in plan["steps"]][:3] == [
        "pause_trading",
        "suspend_job",
        "drop_partition",
    ]
    gates = {d.gate: d.verdict for d in run.decisions}
    assert gates["mode"] == "block" and gates["kill_switch_annotation"] == "pass"
    assert "observe mode" in run.reason


async def test_resends_join_the_run_and_never_triage_again(harness: Harness) -> None:
    first = await (await harness.post(body(DISK))).json()
    await harness.settled()
    for _ in range(20):
        assert (await harness.post(body(DISK))).status == 202
    await harness.settled()
    assert harness.journal.counts()["runs"] == 1 and harness.triages == 1
    # a new alert joins the incident: the run is triaged again with fresh facts
    again = await (await harness.post(body(FAILED))).json()
    await harness.settled()
    assert again["runs"] == first["runs"] and harness.triages == 2


async def test_the_run_ends_when_every_alert_resolved(harness: Harness) -> None:
    [run_id] = (await (await harness.post(body(DISK, FAILED))).json())["runs"]
    await harness.settled()
    await harness.post(body({**DISK, "status": "resolved"}))
    await harness.settled()
    assert harness.journal.run(run_id).open  # type: ignore[union-attr]
    await harness.post(body({**FAILED, "status": "resolved"}))
    await harness.settled()
    run = harness.journal.run(run_id)
    assert run is not None and run.outcome == "observed" and not run.open


async def test_a_wrong_cause_is_refused_with_the_reason_and_nothing_planned(
    harness: Harness,
) -> None:
    harness.facts = facts()  # disk healthy: the alert's cause is gone
    [run_id] = (await (await harness.post(body(DISK))).json())["runs"]
    await harness.settled()
    run = harness.journal.run(run_id)
    assert run is not None and run.state == "refused" and "not under pressure" in run.reason
    assert [(d.gate, d.verdict) for d in run.decisions] == [("precondition", "block")]


async def test_labels_off_the_allowlist_start_nothing(harness: Harness) -> None:
    evil = alert("TAClickHouseReplicaReadOnly", procedure="B", table="ta_signals; DROP TABLE x")
    resp = await harness.post(body(evil, alert("X", procedure="B", namespace="kube-system")))
    data = await resp.json()
    assert resp.status == 202 and data["runs"] == []
    assert [i["reason"].split(" is ")[0] for i in data["ignored"]] == [
        "label table='ta_signals; DROP TABLE x'",
        "label namespace='kube-system'",
    ]
    assert harness.journal.counts()["runs"] == 0 and harness.triages == 0


@pytest.mark.parametrize(
    ("payload", "token", "headers", "status", "message"),
    [
        (body(DISK), None, {}, 401, "missing bearer token"),
        (body(DISK), "wrong", {}, 401, "wrong token for the webhook"),
        (body(DISK), ALICE_TOKEN, {}, 401, "wrong token for the webhook"),
        (b"{", WEBHOOK_TOKEN, {}, 400, "body is not JSON"),
        (json.dumps({"version": "3"}).encode(), WEBHOOK_TOKEN, {}, 400, "version"),
        (b"x" * (2 << 20), WEBHOOK_TOKEN, {}, 413, "larger than"),
    ],
)
async def test_bad_requests_get_a_4xx_with_the_reason_and_journal_nothing(
    harness: Harness, payload: bytes, token: str | None, headers: dict, status: int, message: str
) -> None:
    resp = await harness.post(payload, token=token, headers=headers)
    assert resp.status == status
    assert message in (await resp.json())["error"]
    counts = harness.journal.counts()
    assert counts["notifications"] == 0 and counts["runs"] == 0


async def test_a_chunked_body_over_the_limit_is_refused(harness: Harness) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 65536

    resp = await harness.post(chunks(), token=WEBHOOK_TOKEN)  # type: ignore[arg-type]
    assert resp.status == 413
    assert harness.journal.counts()["notifications"] == 0


async def test_a_journal_that_cannot_write_answers_503_so_alertmanager_retries(
    harness: Harness,
) -> None:
    pages = harness.journal._db.execute("PRAGMA page_count").fetchone()[0]
    harness.journal._db.execute(f"PRAGMA max_page_count = {pages}")
    resp = await harness.post(body(*(alert(f"TAX{i}", procedure="A") for i in range(200))))
    assert resp.status == 503
    assert "retry" in (await resp.json())["error"]


async def test_api_tokens_read_and_act_the_webhook_token_cannot(harness: Harness) -> None:
    assert (await harness.api("GET", "/runs", token=None)).status == 401
    assert (await harness.api("GET", "/runs", token="nope")).status == 401
    resp = await harness.api("GET", "/runs", token=WEBHOOK_TOKEN)
    assert resp.status == 403 and "only post notifications" in (await resp.json())["error"]
    assert (await harness.api("GET", "/runs", token=VIEWER_TOKEN)).status == 200
    resp = await harness.api("POST", "/pause", token=VIEWER_TOKEN, json={"reason": "x"})
    assert resp.status == 403 and "may read but not act" in (await resp.json())["error"]
    assert (await harness.api("GET", "/runs/nope")).status == 404


async def test_pause_is_journaled_with_who_and_blocks_later_runs(harness: Harness) -> None:
    resp = await harness.api("POST", "/pause", json={})
    assert resp.status == 400 and "reason is required" in (await resp.json())["error"]
    resp = await harness.api("POST", "/pause", json={"reason": "ClickHouse maintenance"})
    assert (await resp.json()) == {
        "paused": True,
        "by": "alice",
        "reason": "ClickHouse maintenance",
    }
    [run_id] = (await (await harness.post(body(DISK))).json())["runs"]
    await harness.settled()
    run = harness.journal.run(run_id)
    decisions = {d.gate: (d.verdict, d.reason) for d in run.decisions}  # type: ignore[union-attr]
    assert decisions["kill_switch_api"] == ("block", "paused by alice: ClickHouse maintenance")
    status = await (await harness.api("GET", "/status")).json()
    assert status["paused"]["api"] is True and status["paused"]["api_by"] == "alice"
    metrics = await (await harness.client.get("/metrics")).text()
    assert "torghut_ta_remediation_paused 1.0" in metrics
    assert 'torghut_ta_remediation_gate_blocks_total{gate="kill_switch_api"} 1.0' in metrics
    await harness.api("POST", "/resume", json={"reason": "done"})
    assert [a["action"] for a in harness.journal.audit_log()] == [
        "set paused=true",
        "set paused=false",
    ]


async def test_an_unreadable_annotation_counts_as_paused(harness: Harness) -> None:
    harness.annotation = KillSwitch("annotation", None, "HTTP 403 forbidden")
    [run_id] = (await (await harness.post(body(DISK))).json())["runs"]
    await harness.settled()
    decisions = {d.gate: (d.verdict, d.reason) for d in harness.journal.run(run_id).decisions}  # type: ignore[union-attr]
    assert decisions["kill_switch_annotation"] == (
        "block",
        "unreadable (HTTP 403 forbidden): counts as paused",
    )


async def test_cancel_ends_an_open_run_once_with_who(harness: Harness) -> None:
    [run_id] = (await (await harness.post(body(DISK))).json())["runs"]
    await harness.settled()
    resp = await harness.api("POST", f"/runs/{run_id}/cancel", json={"reason": "false alarm"})
    assert (await resp.json()) == {"run": run_id, "outcome": "cancelled", "by": "alice"}
    resp = await harness.api("POST", f"/runs/{run_id}/cancel", json={"reason": "again"})
    assert resp.status == 409
    shown = await (await harness.api("GET", f"/runs/{run_id}")).json()
    assert shown["outcome"] == "cancelled" and shown["audit"][0]["who"] == "alice"


async def test_webhook_codes_are_counted(harness: Harness) -> None:
    await harness.post(body(DISK))
    await harness.post(body(DISK), token=None)
    text = await (await harness.client.get("/metrics")).text()
    assert 'torghut_ta_remediation_webhook_requests_total{code="202"} 1.0' in text
    assert 'torghut_ta_remediation_webhook_requests_total{code="401"} 1.0' in text


async def test_openapi_document_lists_exactly_the_served_routes(harness: Harness) -> None:
    doc = await (await harness.client.get("/openapi.json")).json()
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    routes = {
        (route.method.lower(), route.resource.canonical)  # type: ignore[union-attr]
        for route in harness.client.server.app.router.routes()  # type: ignore[union-attr]
        # the approvals page is HTML for browsers (tests/remediator/test_ui.py), not the API
        if route.method != "HEAD" and not route.resource.canonical.startswith("/ui")  # type: ignore[union-attr]
    }
    assert documented == routes
    on_disk = json.loads((Path(__file__).parents[2] / "remediator" / "openapi.json").read_text())
    assert on_disk == doc


async def test_a_run_left_mid_triage_by_a_crash_is_triaged_on_start(
    make_config: Callable[..., RemediatorConfig],
) -> None:
    cfg = make_config()
    journal = Journal(cfg.remediator.journal_path)
    from remediator.intake import Target, Trigger

    trigger = Trigger("A", Target("torghut", "torghut-ta"), "TAX", "f1", "firing", {})
    attached = journal.attach(trigger, mode="observe")
    assert attached is not None
    journal.update_run(attached.run_id, state="triage")  # the process died here

    app = build(cfg, journal, source=fixed_sources(A_FULL))
    app.engine.start()
    try:
        await apoll_until(
            lambda: asyncio.sleep(0, journal.run(attached.run_id).state == "observed"),  # type: ignore[union-attr]
            timeout=30,
            what="resumed run triaged",
        )
    finally:
        await app.engine.stop()
        journal.close()


async def test_runs_whose_alerts_went_silent_are_swept(harness: Harness) -> None:
    [run_id] = (await (await harness.post(body(DISK))).json())["runs"]
    await harness.settled()
    now = harness.journal.clock()
    assert await harness.app.engine.sweep(now=now + 60) == []
    silent = harness.app.cfg.remediator.policy.alerts_silent_after
    assert await harness.app.engine.sweep(now=now + silent + 1) == [run_id]
    run = harness.journal.run(run_id)
    assert run is not None and run.outcome == "resolved" and "presumed resolved" in run.reason


async def test_facts_that_cannot_be_read_refuse_the_run_with_the_reason(harness: Harness) -> None:
    async def broken() -> Facts:
        raise RuntimeError("probe wiring failed")

    harness.app.engine.sources = Sources(broken, harness.app.engine.sources.annotation)
    [run_id] = (await (await harness.post(body(DISK))).json())["runs"]
    await harness.settled()
    run = harness.journal.run(run_id)
    assert run is not None and run.state == "refused"
    assert run.reason == (
        "the facts could not be read (RuntimeError: probe wiring failed): nothing is planned"
    )


async def test_an_alert_joining_during_triage_is_triaged_again(harness: Harness) -> None:
    release = asyncio.Event()
    entered = asyncio.Event()
    original = harness.app.engine.sources

    async def slow_facts() -> Facts:
        harness.triages += 1
        entered.set()
        await release.wait()
        return A_FULL

    harness.app.engine.sources = Sources(slow_facts, original.annotation)
    [run_id] = (await (await harness.post(body(DISK))).json())["runs"]
    await asyncio.wait_for(entered.wait(), timeout=30)
    await harness.post(body(FAILED))  # joins while the first triage is still reading facts
    release.set()
    await harness.settled()
    assert harness.triages == 2
    run = harness.journal.run(run_id)
    assert run is not None and run.state == "observed"
