"""The approvals page through a real HTTP server: login from a token into an HttpOnly,
SameSite=Strict session; the CSP and no script; everything escaped; CSRF on every form (403
without it); approve, deny, pause and trading resume journaled with who; read-only tokens."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from remediator_kit import (
    A_UNREPLAYABLE,
    ALICE_TOKEN,
    NOW,
    VIEWER_TOKEN,
    WEBHOOK_TOKEN,
    FakeActuators,
    body,
    facts,
    served,
    verdict,
)
from server_kit import DISK

from remediator import config
from remediator.actuators import no_fence
from remediator.config import RemediatorConfig
from remediator.engine import Sources
from remediator.facts import Facts
from remediator.journal import Journal
from remediator.policy import KillSwitch
from remediator.server import App
from remediator.ui_templates import render, run_view, safe_url, when
from sandbox.util import apoll_until

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@dataclass
class Page:
    client: TestClient
    journal: Journal
    app: App
    fake: FakeActuators
    facts: Facts = A_UNREPLAYABLE  # dropping its oldest partition needs a person

    async def login(self, token: str = ALICE_TOKEN) -> Any:
        form = await self.client.get("/ui/login")
        [csrf] = CSRF.findall(await form.text())
        return await self.client.post(
            "/ui/login", data={"token": token, "csrf": csrf}, allow_redirects=False
        )

    async def html(self, path: str = "/ui") -> str:
        resp = await self.client.get(path)
        assert resp.status == 200, resp.status
        return await resp.text()

    async def csrf(self) -> str:
        return str(CSRF.findall(await self.html())[0])

    async def settled(self) -> None:
        await apoll_until(
            lambda: asyncio.sleep(0, self.app.engine.idle.is_set()), timeout=30, what="idle"
        )

    async def waiting_run(self) -> str:
        resp = await self.client.post(
            "/webhook/alertmanager",
            data=body(DISK),
            headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
        )
        [run_id] = (await resp.json())["runs"]
        await self.settled()
        run = self.journal.run(run_id)
        assert run is not None and run.state == "awaiting_approval"
        return str(run_id)


@pytest.fixture
async def page(
    make_config: Callable[..., RemediatorConfig], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Page]:
    monkeypatch.setattr(config, "ACTING_NEEDS", {})  # the actuators are faked here
    cfg = make_config(mode="auto", identity_header="X-Auth-Request-User")
    journal = Journal(cfg.remediator.journal_path)
    holder: list[Page] = []

    async def read_facts() -> Facts:
        return holder[0].facts

    async def read_annotation() -> KillSwitch:
        return KillSwitch("annotation", False, "not set")

    fake = FakeActuators()
    sources = Sources(read_facts, read_annotation)
    async with served(cfg, journal, sources, actuators=fake, fence=no_fence) as (app, client):
        holder.append(Page(client, journal, app, fake))
        yield holder[0]


async def test_without_a_session_the_page_asks_for_a_login(page: Page) -> None:
    resp = await page.client.get("/ui", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/ui/login"
    login = await page.client.get("/ui/login")
    text = await login.text()
    assert login.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "script-src 'none'" in login.headers["Content-Security-Policy"]
    assert login.headers["X-Frame-Options"] == "DENY"
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert "<script" not in text and " style=" not in text and "onclick" not in text
    css = await page.client.get("/ui/static/ui.css")
    assert css.status == 200 and css.content_type == "text/css"


async def test_login_makes_an_httponly_strict_session_and_journals_it(page: Page) -> None:
    resp = await page.login()
    assert resp.status == 303 and resp.headers["Location"] == "/ui"
    cookie = next(c for c in resp.headers.getall("Set-Cookie") if "ta_ui_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
    assert ALICE_TOKEN not in cookie
    text = await page.html()
    assert "alice" in text and "Log out" in text
    assert ("alice", "approvals page login") in [
        (a["who"], a["action"]) for a in page.journal.audit_log()
    ]


@pytest.mark.parametrize(
    ("token", "why"),
    [("wrong", "unknown token"), (WEBHOOK_TOKEN, "may only post notifications")],
)
async def test_a_bad_token_gets_no_session(page: Page, token: str, why: str) -> None:
    resp = await page.login(token)
    assert resp.status == 401 and why in await resp.text()
    assert (await page.client.get("/ui", allow_redirects=False)).status == 303


async def test_a_login_post_without_its_csrf_token_is_refused(page: Page) -> None:
    await page.client.get("/ui/login")
    resp = await page.client.post("/ui/login", data={"token": ALICE_TOKEN})
    assert resp.status == 403 and page.journal.audit_log() == []


async def test_approve_needs_the_csrf_token_and_is_journaled_with_who(page: Page) -> None:
    run_id = await page.waiting_run()
    await page.login()
    text = await page.html()
    assert f'action="/ui/runs/{run_id}/approve"' in text and "Waiting for your decision" in text
    forged = await page.client.post(f"/ui/runs/{run_id}/approve", data={"reason": "x"})
    assert forged.status == 403 and "CSRF" in await forged.text()
    wrong = await page.client.post(
        f"/ui/runs/{run_id}/approve", data={"reason": "x", "csrf": "0" * 64}
    )
    assert wrong.status == 403
    assert page.journal.run(run_id).approvals[0].pending  # type: ignore[union-attr]
    csrf = await page.csrf()
    resp = await page.client.post(
        f"/ui/runs/{run_id}/approve", data={"reason": "backups checked", "csrf": csrf}
    )
    assert resp.status == 200 and f"{run_id}: approved by alice" in await resp.text()
    await page.settled()
    run = page.journal.run(run_id)
    assert run is not None and run.outcome == "succeeded"
    assert run.approvals[0].decided_by == "alice" and run.approvals[0].reason == "backups checked"
    detail = await page.html(f"/ui/runs/{run_id}")
    assert "https://github.test/pull/1" in detail and '<pre class="diff"' in detail


async def test_deny_from_the_page_ends_the_run(page: Page) -> None:
    run_id = await page.waiting_run()
    await page.login()
    csrf = await page.csrf()
    await page.client.post(f"/ui/runs/{run_id}/deny", data={"reason": "restore", "csrf": csrf})
    await page.settled()
    run = page.journal.run(run_id)
    assert run is not None and run.outcome == "denied" and page.fake.acts() == []


async def test_a_read_only_token_sees_no_forms_and_cannot_act(page: Page) -> None:
    run_id = await page.waiting_run()
    await page.login(VIEWER_TOKEN)
    text = await page.html()
    assert "viewer (read only)" in text and f"/ui/runs/{run_id}/approve" not in text
    csrf = await page.csrf()
    resp = await page.client.post(f"/ui/runs/{run_id}/approve", data={"reason": "x", "csrf": csrf})
    assert resp.status == 403 and page.journal.run(run_id).approvals[0].pending  # type: ignore[union-attr]


async def test_pause_and_trading_resume_from_the_page(page: Page) -> None:
    await page.login()
    csrf = await page.csrf()
    await page.client.post("/ui/pause", data={"reason": "maintenance", "csrf": csrf})
    assert page.journal.control("paused")[:2] == ("true", "alice")  # type: ignore[index]
    assert "Resume the remediator" in await page.html()
    page.facts = facts(verdicts={"freshness": verdict("freshness", "down", summary="20m old")})
    resp = await page.client.post("/ui/trading/resume", data={"reason": "ok", "csrf": csrf})
    assert "refused (409): signals are stale (20m old)" in await resp.text()
    assert page.fake.of("resume_trading") == []
    known = {"reason": "checked by hand", "csrf": csrf, "signals_known_good": "true"}
    resp = await page.client.post("/ui/trading/resume", data=known)
    assert "trading resume recorded by alice" in await resp.text()
    assert page.fake.of("resume_trading") == [("resume_trading", "alice", "checked by hand")]
    actions = [(a["who"], a["action"]) for a in page.journal.audit_log()]
    assert ("alice", "signals stated known good") in actions


async def test_the_ingress_identity_header_is_a_session_too(page: Page) -> None:
    headers = {"X-Auth-Request-User": "carol@example.com"}
    text = await (await page.client.get("/ui", headers=headers)).text()
    assert "carol@example.com" in text
    [csrf] = CSRF.findall(text)[:1]
    await page.client.post("/ui/pause", data={"reason": "x", "csrf": csrf}, headers=headers)
    assert page.journal.control("paused")[:2] == ("true", "carol@example.com")  # type: ignore[index]
    # the token is bound to who: another identity's token is refused
    other = {"X-Auth-Request-User": "mallory"}
    resp = await page.client.post("/ui/resume", data={"reason": "x", "csrf": csrf}, headers=other)
    assert resp.status == 403


async def test_everything_from_the_journal_is_escaped(page: Page) -> None:
    run_id = await page.waiting_run()
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    page.journal.update_run(run_id, reason=evil)
    page.journal.step_end(
        run_id, 0, "done", evil, {"pr_url": "javascript:alert(3)", "diff": f"-a\n+{evil}"}
    )
    await page.login()
    for path in ("/ui", f"/ui/runs/{run_id}"):
        text = await page.html(path)
        assert "<script" not in text and "<img" not in text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert 'href="javascript:' not in text


def test_rendering_is_pure_and_escapes() -> None:
    html = render("error.html", status=400, message="<b>x</b>")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert safe_url("https://github.test/pull/1") == "https://github.test/pull/1"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//evil", "http://"):
        assert safe_url(bad) is None, bad


def test_a_run_view_shows_the_pending_approval_and_links() -> None:
    from remediator.journal import Run
    from remediator.journal_acting import ApprovalRecord, StepRecord

    step = StepRecord(
        "r1", 0, "pause_trading", "reversible", {}, "done", "k", 1, NOW, NOW, "done",
        {"pr_url": "https://github.test/pull/7", "commit": "abc"},
    )  # fmt: skip
    pending = ApprovalRecord(1, "r1", "2", "d", NOW, NOW + 60, None, None, None, "")
    run = Run(
        "r1", "k", "A", "torghut/torghut-ta", "auto", "awaiting_approval", None, "why", None,
        True, NOW, NOW, None, steps=(step,), approvals=(pending,),
    )  # fmt: skip
    view = run_view(run)
    assert view["pending_approval"] == {"step": "2", "expires": when(NOW + 60)}  # no plan
    planned = {"plan": {"steps": [{"name": "a"}, {"name": "b"}, {"name": "drop_partition"}]}}
    label = run_view(replace(run, plan=planned))["pending_approval"]["step"]
    assert label == "3 (drop_partition)"
    assert view["css"] == "waiting" and view["status"] == "awaiting_approval"
    assert view["steps"][0]["links"][0].url == "https://github.test/pull/7"
    assert view["steps"][0]["texts"] == [("commit", "abc")]
