"""The approvals page (`/ui`): runs with their plan, steps, decisions, diffs and PR links;
approve, deny and cancel; pause and resume; resuming trading. Server-rendered, no script.

Who: a session made from a person's API token (a login form; the session lives in this process
and its cookie is HttpOnly, SameSite=Strict, Secure behind TLS), or the identity header a trusted
ingress sets (`remediator.identity_header`), as the API accepts. Every form carries a CSRF token
bound to the session (an HMAC under a per-process key); a POST without it is refused (403).
Every action goes through the same `App` methods as the API, so it is journaled with who.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Literal

from aiohttp import web

from remediator.engine import PAUSE_CONTROL
from remediator.intake import printable
from remediator.journal import JournalError, Run
from remediator.trading import TRADING_CONTROL
from remediator.ui_templates import render, run_view, trading_view, when

if TYPE_CHECKING:
    from remediator.server import App

Control = tuple[str, str, float, str]  # value, who, at, reason
SESSION_COOKIE = "ta_ui_session"
LOGIN_COOKIE = "ta_ui_login"
SESSION_TTL = 12 * 3600.0
MAX_SESSIONS = 1000
CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Principal:
    name: str
    may_act: bool
    key: str  # what the CSRF token is bound to: a session, the ingress identity, or insecure


@dataclass(frozen=True)
class Session:
    name: str
    may_act: bool
    expires: float


@dataclass
class Ui:
    app: App
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    sessions: dict[str, Session] = field(default_factory=dict)
    flashes: dict[str, tuple[str, str]] = field(default_factory=dict)

    # --- who ---------------------------------------------------------------------------------

    def principal(self, request: web.Request) -> Principal | None:
        auth = self.app.auth
        if auth.insecure:
            return Principal("anonymous (insecure mode)", True, "insecure")
        sid = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.get(sid) if sid else None
        if session is not None and session.expires > time.time():
            return Principal(session.name, session.may_act, f"s:{sid}")
        if auth.identity_header and request.headers.get(auth.identity_header):
            name = printable(request.headers[auth.identity_header], 64)
            return Principal(name, True, f"i:{name}")
        return None

    def csrf(self, key: str) -> str:
        return hmac.new(self.secret, key.encode(), hashlib.sha256).hexdigest()

    def _csrf_ok(self, key: str, form: dict[str, str]) -> bool:
        return hmac.compare_digest(form.get("csrf", "").encode(), self.csrf(key).encode())

    def _new_session(self, name: str, may_act: bool) -> str:
        now = time.time()
        for sid in [s for s, v in self.sessions.items() if v.expires <= now]:
            del self.sessions[sid]
        while len(self.sessions) >= MAX_SESSIONS:  # the oldest go first
            del self.sessions[min(self.sessions, key=lambda s: self.sessions[s].expires)]
        sid = secrets.token_urlsafe(32)
        self.sessions[sid] = Session(name, may_act, now + SESSION_TTL)
        return sid

    # --- responses ---------------------------------------------------------------------------

    def page(self, html: str, status: int = 200) -> web.Response:
        return web.Response(
            text=html, status=status, content_type="text/html", headers=SECURITY_HEADERS
        )

    def error(self, who: Principal | None, status: int, message: str) -> web.Response:
        ctx = self._ctx(who) if who else {}
        return self.page(render("error.html", status=status, message=message, **ctx), status)

    def _ctx(self, who: Principal) -> dict[str, object]:
        return {
            "who": who.name,
            "may_act": who.may_act,
            "csrf": self.csrf(who.key),
            "flash": _flash(self.flashes.pop(who.key, None)),
        }

    @staticmethod
    def _cookie(request: web.Request, resp: web.StreamResponse, name: str, value: str) -> None:
        secure = request.secure or request.headers.get("X-Forwarded-Proto") == "https"
        resp.set_cookie(
            name,
            value,
            path="/ui",
            httponly=True,
            samesite="Strict",
            secure=secure,
            max_age=int(SESSION_TTL),
        )

    # --- pages -------------------------------------------------------------------------------

    async def login_form(
        self, request: web.Request, error: str = "", status: int = 200
    ) -> web.Response:
        nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        resp = self.page(
            render("login.html", login_csrf=self.csrf(f"l:{nonce}"), error=error), status
        )
        self._cookie(request, resp, LOGIN_COOKIE, nonce)
        return resp

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await _form(request)
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or not self._csrf_ok(f"l:{nonce}", form):
            return self.error(None, 403, "the login form expired or came from elsewhere: reload")
        token = form.get("token", "").strip()
        auth = self.app.auth
        for known, (name, may_approve) in auth.api_tokens.items():
            if token and hmac.compare_digest(token.encode(), known.encode()):
                try:
                    await asyncio.to_thread(
                        self.app.journal.audit, name, "approvals page login", None, "session"
                    )
                except JournalError as exc:  # every action would fail to journal too
                    return self.error(None, 503, f"the journal cannot be written: {exc}")
                sid = self._new_session(name, may_approve)
                resp = _see_other("/ui")
                self._cookie(request, resp, SESSION_COOKIE, sid)
                resp.del_cookie(LOGIN_COOKIE, path="/ui")
                return resp
        why = (
            "that token may only post notifications"
            if (
                auth.webhook_token
                and hmac.compare_digest(token.encode(), auth.webhook_token.encode())
            )
            else "unknown token"
        )
        return await self.login_form(request, why, 401)

    async def logout(self, request: web.Request) -> web.StreamResponse:
        who = self.principal(request)
        form = await _form(request)
        if who is None:
            return _see_other("/ui/login")
        if not self._csrf_ok(who.key, form):
            return self.error(who, 403, "missing or wrong CSRF token")
        if who.key.startswith("s:"):
            self.sessions.pop(who.key[2:], None)
        resp = _see_other("/ui/login")
        resp.del_cookie(SESSION_COOKIE, path="/ui")
        return resp

    async def index(self, request: web.Request) -> web.StreamResponse:
        who = self.principal(request)
        if who is None:
            return _see_other("/ui/login")
        journal = self.app.journal

        def read() -> tuple[list[Run], Control | None, Control | None]:
            runs = journal.runs(limit=100)
            return runs, journal.control(PAUSE_CONTROL), journal.control(TRADING_CONTROL)

        runs, stored, trading = await asyncio.to_thread(read)
        api_paused = stored is not None and stored[0] == "true"
        reasons = []
        if self.app.cfg.remediator.paused:
            reasons.append("remediator.paused in config")
        if api_paused and stored is not None:
            reasons.append(f"by {stored[1]} at {when(stored[2])}: {stored[3]}")
        open_first = sorted(runs, key=lambda r: not r.open)  # stable: newest first within
        views = [run_view(r) for r in open_first]
        html = render(
            "index.html",
            mode=self.app.cfg.remediator.mode,
            paused="; ".join(reasons),
            api_paused=api_paused,
            trading=trading_view(runs, None if trading is None else trading[2]),
            waiting=[v for v in views if v["pending_approval"]],
            runs=[v for v in views if not v["pending_approval"]],
            **self._ctx(who),
        )
        return self.page(html)

    async def detail(self, request: web.Request) -> web.StreamResponse:
        who = self.principal(request)
        if who is None:
            return _see_other("/ui/login")
        run_id = request.match_info["run_id"]
        run = await asyncio.to_thread(self.app.journal.run, run_id)
        if run is None:
            return self.error(who, 404, f"no run {printable(run_id, 80)!r}")
        audit = await asyncio.to_thread(self.app.journal.audit_log, run_id)
        for a in audit:
            a["at"] = when(a["at"])
        html = render("detail.html", run=run_view(run), audit=audit, **self._ctx(who))
        return self.page(html)

    async def css(self, request: web.Request) -> web.Response:
        text = resources.files("remediator").joinpath("ui.css").read_text()
        headers = {**SECURITY_HEADERS, "Cache-Control": "max-age=300"}
        return web.Response(text=text, content_type="text/css", headers=headers)

    # --- actions -----------------------------------------------------------------------------

    async def _acting(
        self, request: web.Request
    ) -> tuple[Principal, str, dict[str, str]] | web.StreamResponse:
        """Who (allowed to act), their reason and the form; or the refusal."""
        form = await _form(request)
        who = self.principal(request)
        if who is None:
            return self.error(None, 401, "log in first")
        if not self._csrf_ok(who.key, form):
            return self.error(who, 403, "missing or wrong CSRF token: reload the page")
        if not who.may_act:
            return self.error(who, 403, f"{who.name} may read but not act")
        reason = printable(form.get("reason", "").strip(), 500)
        if not reason:
            return self.error(who, 400, "a reason is required")
        return who, reason, form

    def _done(self, who: Principal, resp: web.Response, ok: str, to: str) -> web.StreamResponse:
        """After an action: back to the page, with what happened (or why not) at its top."""
        try:
            data = json.loads(resp.text or "null")
        except ValueError:
            data = None
        if resp.status >= 400:
            message = data.get("error") if isinstance(data, dict) else resp.text
            self.flashes[who.key] = ("error", f"refused ({resp.status}): {message}")
        else:
            self.flashes[who.key] = ("ok", ok)
        return _see_other(to)

    async def run_action(self, request: web.Request) -> web.StreamResponse:
        found = await self._acting(request)
        if not isinstance(found, tuple):
            return found
        who, reason, _ = found
        verb = request.match_info["verb"]
        run = await self.app.open_run(request.match_info["run_id"])
        if isinstance(run, web.Response):
            return self._done(who, run, "", "/ui")
        if verb == "cancel":
            resp = await self.app.cancel_run(run, who=who.name, reason=reason)
            return self._done(who, resp, f"{run.id}: cancel requested", f"/ui/runs/{run.id}")
        verdict: Literal["approved", "denied"] = "approved" if verb == "approve" else "denied"
        resp = await self.app.decide_approval(run, verdict, who=who.name, reason=reason)
        return self._done(who, resp, f"{run.id}: {verdict} by {who.name}", f"/ui/runs/{run.id}")

    async def pause(self, request: web.Request) -> web.StreamResponse:
        return await self._set_paused(request, True)

    async def resume(self, request: web.Request) -> web.StreamResponse:
        return await self._set_paused(request, False)

    async def _set_paused(self, request: web.Request, on: bool) -> web.StreamResponse:
        found = await self._acting(request)
        if not isinstance(found, tuple):
            return found
        who, reason, _ = found
        resp = await self.app.set_paused(on, who=who.name, reason=reason)
        return self._done(who, resp, "remediator paused" if on else "remediator resumed", "/ui")

    async def trading_resume(self, request: web.Request) -> web.StreamResponse:
        found = await self._acting(request)
        if not isinstance(found, tuple):
            return found
        who, reason, form = found
        known_good = form.get("signals_known_good") == "true"
        resp = await self.app.trading_resume(
            who=who.name, reason=reason, signals_known_good=known_good
        )
        return self._done(who, resp, f"trading resume recorded by {who.name}", "/ui")


def _see_other(to: str) -> web.Response:
    return web.Response(status=303, headers={**SECURITY_HEADERS, "Location": to})


def _flash(found: tuple[str, str] | None) -> dict[str, str] | None:
    return None if found is None else {"kind": found[0], "text": found[1]}


async def _form(request: web.Request) -> dict[str, str]:
    if request.method != "POST" or not request.can_read_body:
        return {}
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str)}


def register(web_app: web.Application, app: App) -> Ui:
    ui = Ui(app)
    r = web_app.router
    r.add_get("/ui", ui.index)
    r.add_get("/ui/login", ui.login_form)
    r.add_post("/ui/login", ui.login)
    r.add_post("/ui/logout", ui.logout)
    r.add_get("/ui/static/ui.css", ui.css)
    r.add_get("/ui/runs/{run_id}", ui.detail)
    r.add_post("/ui/runs/{run_id}/{verb:approve|deny|cancel}", ui.run_action)
    r.add_post("/ui/pause", ui.pause)
    r.add_post("/ui/resume", ui.resume)
    r.add_post("/ui/trading/resume", ui.trading_resume)
    return ui
