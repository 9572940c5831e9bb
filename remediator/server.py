"""HTTP: the Alertmanager webhook, the runs API, pause/resume, /metrics, health.

The webhook answers only after the notification is in the journal (a journal that cannot write
answers 503, so Alertmanager retries), and work runs in the engine, not in the request.
Two kinds of credentials: Alertmanager's webhook token may only post notifications; people read
and act with their own API tokens (or an identity header set by a trusted ingress), and every
action is journaled with who did it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from remediator import trading, ui
from remediator.config import RemediatorConfig
from remediator.engine import PAUSE_CONTROL, Engine
from remediator.intake import Ignored, PayloadError, parse_notification, printable, triage
from remediator.journal import Journal, JournalError, Run
from remediator.metrics import RemediatorMetrics

log = logging.getLogger("remediator.server")
TRADING_CONTROL = trading.TRADING_CONTROL
RETRIAGE_FROM = ("new", "triage", "observed", "blocked", "refused", "escalated")


@dataclass(frozen=True)
class Auth:
    webhook_token: str | None
    api_tokens: dict[str, tuple[str, bool]]  # token -> (name, may_approve)
    identity_header: str | None
    insecure: bool = False

    @classmethod
    def from_config(cls, cfg: RemediatorConfig, *, insecure: bool = False) -> Auth:
        rem = cfg.remediator
        webhook = cfg.secret("remediator.webhook_token")
        tokens = {}
        for i, t in enumerate(rem.api_tokens):
            secret = cfg.secret(f"remediator.api_tokens[{i}].token")
            if secret is not None:
                tokens[secret.get()] = (t.name, t.may_approve)
        return cls(
            None if webhook is None else webhook.get(), tokens, rem.identity_header, insecure
        )


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


async def _read_bounded(request: web.Request, limit: int) -> bytes | None:
    """The body, or None once it passes `limit` bytes (chunked bodies have no length to check)."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    return None


def _error(status: int, message: str, **extra: Any) -> web.Response:
    headers = (
        {"WWW-Authenticate": 'Bearer realm="torghut-ta-remediator"'} if status == 401 else None
    )
    return web.json_response({"error": message, **extra}, status=status, headers=headers)


@dataclass
class App:
    cfg: RemediatorConfig
    journal: Journal
    engine: Engine
    metrics: RemediatorMetrics
    auth: Auth

    # --- auth --------------------------------------------------------------------------------

    def person(self, request: web.Request, *, approve: bool = False) -> str | web.Response:
        """Who is asking (token name or ingress identity), or the error response."""
        if self.auth.insecure:
            return "anonymous (insecure mode)"
        token = _bearer(request)
        if token is not None:
            for known, (name, may_approve) in self.auth.api_tokens.items():
                if _equal(token, known):
                    if approve and not may_approve:
                        return _error(403, f"{name} may read but not act")
                    return name
            if self.auth.webhook_token and _equal(token, self.auth.webhook_token):
                return _error(403, "the webhook token may only post notifications")
            return _error(401, "unknown token")
        if self.auth.identity_header and request.headers.get(self.auth.identity_header):
            return printable(request.headers[self.auth.identity_header], 64)
        return _error(401, "missing bearer token")

    # --- webhook -----------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        response = await self._webhook(request)
        self.metrics.webhook_requests.labels(code=str(response.status)).inc()
        return response

    async def _webhook(self, request: web.Request) -> web.Response:
        if not self.auth.insecure:
            token = _bearer(request)
            expected = self.auth.webhook_token
            if token is None:
                return _error(401, "missing bearer token")
            if expected is None or not _equal(token, expected):
                return _error(401, "wrong token for the webhook")
        limit = self.cfg.remediator.listen.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return _error(413, f"body larger than {limit} bytes")
        body = await _read_bounded(request, limit)
        if body is None:
            return _error(413, f"body larger than {limit} bytes")
        try:
            notification = parse_notification(body)
        except PayloadError as exc:
            return _error(400, f"not an Alertmanager v4 notification: {exc}")
        try:
            runs, ignored = await asyncio.to_thread(self._persist, notification, body)
        except JournalError as exc:
            log.error("webhook: %s", exc)
            return _error(503, "the journal cannot be written; retry later")
        for run_id in runs:
            self.engine.notify(run_id)
        return web.json_response(
            {"runs": sorted(set(runs)), "ignored": [i.__dict__ for i in ignored]}, status=202
        )

    def _persist(self, notification: Any, body: bytes) -> tuple[list[str], list[Ignored]]:
        self.journal.record_notification(
            notification.groupKey,
            notification.status,
            len(notification.alerts),
            body.decode("utf-8", "replace"),
        )
        runs: list[str] = []
        ignored: list[Ignored] = []
        for item in triage(notification, self.cfg):
            if isinstance(item, Ignored):
                ignored.append(item)
                self.journal.decide(
                    None, "intake", "ignore", f"{printable(item.alertname)}: {item.reason}"
                )
                continue
            attached = self.journal.attach(item, mode=self.cfg.remediator.mode)
            if attached is None:
                continue
            if attached.new_alert and item.status == "firing" and not attached.created:
                # a run that acts, waits or is paused keeps its plan; the others plan again
                for state in RETRIAGE_FROM:
                    if self.journal.update_run(
                        attached.run_id, state="retriage", expect_state=state
                    ):
                        break
            runs.append(attached.run_id)
        return runs, ignored

    # --- runs and controls ---------------------------------------------------------------------

    async def list_runs(self, request: web.Request) -> web.Response:
        who = self.person(request)
        if isinstance(who, web.Response):
            return who
        open_only = request.query.get("open", "false").lower() in ("1", "true", "yes")
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            return _error(400, "limit must be a whole number")
        if not 1 <= limit <= 1000:
            return _error(400, "limit must be between 1 and 1000")
        runs = await asyncio.to_thread(self.journal.runs, open_only=open_only, limit=limit)
        return web.json_response({"runs": [r.to_json() for r in runs]})

    async def show_run(self, request: web.Request) -> web.Response:
        who = self.person(request)
        if isinstance(who, web.Response):
            return who
        run_id = request.match_info["run_id"]
        run = await asyncio.to_thread(self.journal.run, run_id)
        if run is None:
            return _error(404, f"no run {printable(run_id, 80)!r}")
        audit = await asyncio.to_thread(self.journal.audit_log, run_id)
        return web.json_response({**run.to_json(), "audit": audit})

    async def _reason(self, request: web.Request) -> str | web.Response:
        try:
            data = await request.json() if request.can_read_body else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, 'body must be JSON: {"reason": "..."}')
        reason = data.get("reason") if isinstance(data, dict) else None
        if not isinstance(reason, str) or not reason.strip():
            return _error(400, 'a reason is required: {"reason": "..."}')
        return printable(reason.strip(), 500)

    async def _acting_on_run(self, request: web.Request) -> tuple[str, str, Run] | web.Response:
        """Who (with may_approve), their reason, and the open run the path names."""
        who = self.person(request, approve=True)
        if isinstance(who, web.Response):
            return who
        reason = await self._reason(request)
        if isinstance(reason, web.Response):
            return reason
        run = await self.open_run(request.match_info["run_id"])
        if isinstance(run, web.Response):
            return run
        return who, reason, run

    async def open_run(self, run_id: str) -> Run | web.Response:
        run = await asyncio.to_thread(self.journal.run, run_id)
        if run is None:
            return _error(404, f"no run {printable(run_id, 80)!r}")
        if not run.open:
            return _error(409, f"run {run.id} already ended ({run.outcome})")
        return run

    async def cancel(self, request: web.Request) -> web.Response:
        found = await self._acting_on_run(request)
        if isinstance(found, web.Response):
            return found
        who, reason, run = found
        return await self.cancel_run(run, who=who, reason=reason)

    async def cancel_run(self, run: Run, *, who: str, reason: str) -> web.Response:
        outcome = await asyncio.to_thread(
            self.journal.request_cancel,
            run.id,
            who=who,
            reason=reason,
            executing=self.engine.executing(run.id),
        )
        if outcome == "ended":
            return _error(409, f"run {run.id} already ended")
        if outcome == "cancelled":
            self.metrics.runs.labels(procedure=run.procedure, outcome="cancelled").inc()
        else:  # the executor stops it before its next step, leaves it safe and pages
            self.engine.notify(run.id)
        return web.json_response({"run": run.id, "outcome": outcome, "by": who})

    async def approve(self, request: web.Request) -> web.Response:
        return await self._decide_approval(request, "approved")

    async def deny(self, request: web.Request) -> web.Response:
        return await self._decide_approval(request, "denied")

    async def _decide_approval(
        self, request: web.Request, verdict: Literal["approved", "denied"]
    ) -> web.Response:
        found = await self._acting_on_run(request)
        if isinstance(found, web.Response):
            return found
        who, reason, run = found
        return await self.decide_approval(run, verdict, who=who, reason=reason)

    async def decide_approval(
        self, run: Run, verdict: Literal["approved", "denied"], *, who: str, reason: str
    ) -> web.Response:
        decided = await asyncio.to_thread(
            self.journal.decide_approval, run.id, verdict, who=who, reason=reason
        )
        if decided is None:
            return _error(409, f"run {run.id} is not waiting for an approval")
        self.engine.notify(run.id)  # approved: re-read the facts and re-plan; else it ends
        if decided.verdict == "expired":
            return _error(409, f"the approval request of run {run.id} had expired")
        return web.json_response(
            {"run": run.id, "verdict": decided.verdict, "by": who, "reason": reason}
        )

    async def resume_trading(self, request: web.Request) -> web.Response:
        who = self.person(request, approve=True)
        if isinstance(who, web.Response):
            return who
        try:
            data = await request.json() if request.can_read_body else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = None
        reason = data.get("reason") if isinstance(data, dict) else None
        if not isinstance(reason, str) or not reason.strip():
            return _error(400, 'a reason is required: {"reason": "..."}')
        known_good = data.get("signals_known_good", False) if isinstance(data, dict) else False
        if not isinstance(known_good, bool):
            return _error(400, "signals_known_good must be true or false")
        return await self.trading_resume(
            who=who, reason=printable(reason.strip(), 500), signals_known_good=known_good
        )

    async def trading_resume(
        self, *, who: str, reason: str, signals_known_good: bool
    ) -> web.Response:
        return await trading.resume(self, who=who, reason=reason, known_good=signals_known_good)

    async def pause(self, request: web.Request) -> web.Response:
        return await self._set_paused(request, True)

    async def resume(self, request: web.Request) -> web.Response:
        return await self._set_paused(request, False)

    async def _set_paused(self, request: web.Request, on: bool) -> web.Response:
        who = self.person(request, approve=True)
        if isinstance(who, web.Response):
            return who
        reason = await self._reason(request)
        if isinstance(reason, web.Response):
            return reason
        return await self.set_paused(on, who=who, reason=reason)

    async def set_paused(self, on: bool, *, who: str, reason: str) -> web.Response:
        try:
            await asyncio.to_thread(
                self.journal.set_control,
                PAUSE_CONTROL,
                "true" if on else "false",
                who=who,
                reason=reason,
            )
        except JournalError as exc:
            return _error(503, str(exc))
        self.metrics.paused.set(1 if on or self.cfg.remediator.paused else 0)
        if not on:  # runs a pause stopped mid-way carry on (each re-checks every switch)
            for run in await asyncio.to_thread(self.journal.runs, open_only=True, limit=1000):
                if run.state in ("paused", "blocked"):  # blocked: the engine re-checks why
                    self.engine.notify(run.id)
        return web.json_response({"paused": on, "by": who, "reason": reason})

    async def status(self, request: web.Request) -> web.Response:
        who = self.person(request)
        if isinstance(who, web.Response):
            return who
        stored = await asyncio.to_thread(self.journal.control, PAUSE_CONTROL)
        open_runs = await asyncio.to_thread(self.journal.runs, open_only=True, limit=1000)
        return web.json_response(
            {
                "mode": self.cfg.remediator.mode,
                "paused": {
                    "config": self.cfg.remediator.paused,
                    "api": stored is not None and stored[0] == "true",
                    "api_by": None if stored is None else stored[1],
                },
                "open_runs": [r.id for r in open_runs],
            }
        )

    # --- plumbing ------------------------------------------------------------------------------

    async def metrics_endpoint(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(self, request: web.Request) -> web.Response:
        try:
            await asyncio.to_thread(self.journal.schema_version)
        except Exception as exc:
            return web.Response(status=503, text=f"journal unavailable: {exc}\n")
        return web.Response(text="ready\n")

    async def openapi(self, request: web.Request) -> web.Response:
        text = resources.files("remediator").joinpath("openapi.json").read_text()
        return web.Response(text=text, content_type="application/json")


def create_app(app: App) -> web.Application:
    web_app = web.Application(client_max_size=app.cfg.remediator.listen.max_body_bytes + 1)
    from remediator.server_replay import add_replay_routes  # replay, rollbacks: own module

    add_replay_routes(web_app, app)
    web_app.router.add_post("/webhook/alertmanager", app.webhook)
    web_app.router.add_get("/runs", app.list_runs)
    web_app.router.add_get("/runs/{run_id}", app.show_run)
    web_app.router.add_post("/runs/{run_id}/cancel", app.cancel)
    web_app.router.add_post("/runs/{run_id}/approve", app.approve)
    web_app.router.add_post("/runs/{run_id}/deny", app.deny)
    web_app.router.add_post("/trading/resume", app.resume_trading)
    web_app.router.add_post("/pause", app.pause)
    web_app.router.add_post("/resume", app.resume)
    web_app.router.add_get("/status", app.status)
    web_app.router.add_get("/metrics", app.metrics_endpoint)
    web_app.router.add_get("/healthz", app.healthz)
    web_app.router.add_get("/readyz", app.readyz)
    web_app.router.add_get("/openapi.json", app.openapi)
    ui.register(web_app, app)  # the approvals page (HTML, not in openapi.json)
    return web_app
