"""Acting through the API of a real HTTP server in auto mode: approve and deny with who, cancel
of a run that acted, trading resume as a person's decision, the run detail against the document,
resume after a pause, and a build without the Lease that never acts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from remediator_kit import A_FULL, VIEWER_TOKEN, body, fixed_sources
from server_kit import DISK, Acting, Harness

from remediator import config
from remediator.config import RemediatorConfig
from remediator.journal import Journal
from remediator.service import build


async def test_approve_through_the_api_journals_who_and_the_run_acts(acting: Acting) -> None:
    [run_id] = (await (await acting.post(body(DISK))).json())["runs"]
    await acting.settled()
    shown = await (await acting.api("GET", f"/runs/{run_id}")).json()
    assert shown["state"] == "awaiting_approval" and acting.fake.acts() == []
    assert [a["step"] for a in shown["approvals"]] == ["2"]
    refused = await acting.api(
        "POST", f"/runs/{run_id}/approve", VIEWER_TOKEN, json={"reason": "x"}
    )
    assert refused.status == 403
    assert (await acting.api("POST", f"/runs/{run_id}/approve", json={})).status == 400
    resp = await acting.api("POST", f"/runs/{run_id}/approve", json={"reason": "backups ok"})
    assert (await resp.json()) == {
        "run": run_id,
        "verdict": "approved",
        "by": "alice",
        "reason": "backups ok",
    }
    await acting.settled()
    shown = await (await acting.api("GET", f"/runs/{run_id}")).json()
    assert shown["outcome"] == "succeeded" and acting.fake.acts()[0] == "pause_trading"
    assert shown["approvals"][0]["decided_by"] == "alice"
    assert shown["steps"][1]["evidence"]["pr_url"] == "https://github.test/pull/1"
    assert ("alice", "approve") in [(a["who"], a["action"]) for a in shown["audit"]]
    again = await acting.api("POST", f"/runs/{run_id}/approve", json={"reason": "again"})
    assert again.status == 409


async def test_deny_through_the_api_ends_the_run_without_acting(acting: Acting) -> None:
    [run_id] = (await (await acting.post(body(DISK))).json())["runs"]
    await acting.settled()
    resp = await acting.api("POST", f"/runs/{run_id}/deny", json={"reason": "restore instead"})
    assert (await resp.json())["verdict"] == "denied"
    await acting.settled()
    run = acting.journal.run(run_id)
    assert run is not None and run.outcome == "denied" and acting.fake.acts() == []
    missing = await acting.api("POST", "/runs/nope/deny", json={"reason": "x"})
    assert missing.status == 404


async def test_approving_a_run_that_waits_for_nothing_is_refused(harness: Harness) -> None:
    [run_id] = (await (await harness.post(body(DISK))).json())["runs"]
    await harness.settled()
    resp = await harness.api("POST", f"/runs/{run_id}/approve", json={"reason": "x"})
    assert resp.status == 409 and "not waiting for an approval" in (await resp.json())["error"]


async def test_cancel_of_a_run_that_acted_stops_it_safe_and_pages(acting: Acting) -> None:
    acting.facts = A_FULL  # replayable: no approval needed
    acting.fake.hooks["suspend_job"] = lambda: acting.journal.set_control(
        "paused", "true", who="bob", reason="look first"
    )
    [run_id] = (await (await acting.post(body(DISK))).json())["runs"]
    await acting.settled()
    assert acting.journal.run(run_id).state == "paused"  # type: ignore[union-attr]
    resp = await acting.api("POST", f"/runs/{run_id}/cancel", json={"reason": "by hand"})
    assert (await resp.json()) == {"run": run_id, "outcome": "cancelling", "by": "alice"}
    await acting.settled()
    run = acting.journal.run(run_id)
    assert run is not None and run.outcome == "cancelled"
    assert acting.fake.acts() == ["pause_trading", "suspend_job"]
    [(_, reason)] = acting.fake.of("escalate")
    assert "cancelled by alice: by hand" in reason
    assert "the job this run suspended stays suspended" in reason


async def test_trading_resume_is_a_persons_decision_made_through_the_actuators(
    acting: Acting,
) -> None:
    refused = await acting.api("POST", "/trading/resume", VIEWER_TOKEN, json={"reason": "x"})
    assert refused.status == 403 and acting.fake.calls == []
    resp = await acting.api("POST", "/trading/resume", json={"reason": "signals fresh again"})
    data = await resp.json()
    assert resp.status == 200 and data["by"] == "alice" and data["change"] == {}
    assert acting.fake.of("resume_trading") == [("resume_trading", "alice", "signals fresh again")]
    assert acting.journal.control("trading")[:2] == ("resume", "alice")  # type: ignore[index]


async def test_trading_resume_in_observe_mode_is_recorded_and_changes_nothing(
    harness: Harness,
) -> None:
    resp = await harness.api("POST", "/trading/resume", json={"reason": "checked"})
    data = await resp.json()
    assert resp.status == 200 and data["change"] is None and "by hand" in data["note"]
    assert [a["action"] for a in harness.journal.audit_log()] == ["set trading=resume"]


async def test_run_detail_with_steps_and_approvals_conforms_to_the_document(
    acting: Acting,
) -> None:
    from openapi_schema_validator import OAS30Validator
    from openapi_spec_validator import validate

    doc = json.loads((Path(__file__).parents[2] / "remediator" / "openapi.json").read_text())
    validate(doc)
    [run_id] = (await (await acting.post(body(DISK))).json())["runs"]
    await acting.settled()
    await acting.api("POST", f"/runs/{run_id}/approve", json={"reason": "ok"})
    await acting.settled()
    shown = await (await acting.api("GET", f"/runs/{run_id}")).json()
    assert shown["outcome"] == "succeeded" and len(shown["steps"]) == 7
    for name, value in (("Run", shown), ("Runs", await (await acting.api("GET", "/runs")).json())):
        schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
        OAS30Validator(schema).validate(value)
    from remediator.client import markdown

    text = markdown(shown)
    assert "approval approved by alice: ok" in text and "step 1 suspend_job done" in text
    assert "- step 1 `suspend_job` pr_url: https://github.test/pull/1" in text
    bad = {**shown, "steps": [{**shown["steps"][0], "status": "great"}]}
    with pytest.raises(Exception, match="great"):
        OAS30Validator(
            {"$ref": "#/components/schemas/Run", "components": doc["components"]}
        ).validate(bad)


async def test_resume_through_the_api_lets_a_run_paused_mid_way_carry_on(acting: Acting) -> None:
    acting.facts = A_FULL
    acting.fake.hooks["suspend_job"] = lambda: acting.journal.set_control(
        "paused", "true", who="bob", reason="look first"
    )
    [run_id] = (await (await acting.post(body(DISK))).json())["runs"]
    await acting.settled()
    assert acting.journal.run(run_id).state == "paused"  # type: ignore[union-attr]
    await acting.api("POST", "/resume", json={"reason": "looked"})
    await acting.settled()
    run = acting.journal.run(run_id)
    assert run is not None and run.outcome == "succeeded"
    assert acting.fake.acts().count("suspend_job") == 1


async def test_an_acting_build_without_the_lease_plans_but_never_acts(
    make_config: Callable[..., RemediatorConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    from remediator.actuate import RealActuators

    monkeypatch.setattr(config, "ACTING_NEEDS", {})
    cfg = make_config(mode="auto")
    journal = Journal(cfg.remediator.journal_path)

    app = build(cfg, journal, source=fixed_sources(A_FULL))
    assert isinstance(app.engine.actuators, RealActuators)
    from remediator.intake import Target, Trigger

    attached = journal.attach(
        Trigger("A", Target("torghut", "torghut-ta"), "TAX", "f1", "firing", {}), mode="auto"
    )
    assert attached is not None
    try:
        await app.engine.step(attached.run_id)
        await app.engine.settle()
        run = journal.run(attached.run_id)
        assert run is not None and run.open and not run.acted
        assert {s.status for s in run.steps} == {"pending"}
        assert "no leader Lease configured" in run.reason
    finally:
        await app.engine.stop()
        journal.close()
