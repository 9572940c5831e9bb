"""Sync the Application through Argo CD's REST API and wait for *our* operation.

Argo CD's API refuses a sync while another operation runs ("another operation is already in
progress") and, when it accepts one, clears the previous `status.operationState` in the same
write. So after our request every operationState we read belongs to an operation started after
it: ours when it asked for our revision. Its phase alone proves nothing (the previous one's
Succeeded is what a careless poller would see), so the result is taken only from an operation
whose requested revision is ours, finished, at our revision. Argo CD's health of a
FlinkDeployment is never read here: the caller verifies the job itself.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import aiohttp

from remediator.actuators import ActuationError, Fence
from remediator.config_gitops import ArgoConfig

log = logging.getLogger(__name__)
BUSY = "another operation is already in progress"
_SHA = re.compile(r"[0-9a-f]{7,64}")
_RUNNING = ("Running", "Terminating")


@dataclass(frozen=True)
class SyncResult:
    app: str
    revision: str  # what Argo CD synced (syncResult.revision)
    phase: str  # Succeeded
    message: str
    started_at: str
    finished_at: str
    waited_for_other: bool  # a running operation was waited out before ours started


def _token(cfg: ArgoConfig) -> str:
    try:
        return cfg.token.resolve()
    except ValueError as exc:
        raise ActuationError(
            f"Argo CD token (remediator.argocd.token): {exc}", escalate=True, code="secret"
        ) from None


def _at(revision: str, synced: str) -> bool:
    """Whether a sync that resolved to `synced` holds our `revision`: the same commit (also
    from a short sha), or anything a symbolic revision (a branch) resolved to when it ran."""
    if not synced:
        return False
    if _SHA.fullmatch(revision):
        return synced.startswith(revision)
    return True


class _Api:
    def __init__(self, http: aiohttp.ClientSession, cfg: ArgoConfig, app: str) -> None:
        self.http, self.cfg, self.app = http, cfg, app
        self.base = f"{cfg.api_url}/api/v1/applications/{quote(app, safe='')}"

    async def call(self, method: str, path: str = "", body: Any = None) -> tuple[int, Any]:
        try:
            async with self.http.request(method, self.base + path, json=body) as resp:
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = {"message": (await resp.text())[:200]}
                return resp.status, data
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ActuationError(
                f"Argo CD {self.cfg.api_url}: {type(exc).__name__} {exc}".strip(),
                retryable=True,
                code="unreachable",
            ) from None

    def error(self, what: str, status: int, data: Any) -> ActuationError:
        message = data.get("message") or data.get("error") if isinstance(data, dict) else data
        text = f"Argo CD {what} of Application {self.app}: {status} {message}"
        if status in (401, 403):
            return ActuationError(text + " (check remediator.argocd.token and its RBAC)",
                                  escalate=True, code=str(status))  # fmt: skip
        if status == 404:
            return ActuationError(text, escalate=True, code="404")
        retry = status >= 500 or status in (409, 429)
        return ActuationError(text, retryable=retry, escalate=not retry, code=str(status))

    async def get(self) -> dict[str, Any]:
        status, data = await self.call("GET")
        if status != 200 or not isinstance(data, dict):
            raise self.error("get", status, data)
        return data


def _op_state(app: dict[str, Any]) -> dict[str, Any]:
    return ((app.get("status") or {}).get("operationState")) or {}


def _requested(op_state: dict[str, Any]) -> str | None:
    return ((op_state.get("operation") or {}).get("sync") or {}).get("revision")


def _failures(op_state: dict[str, Any]) -> str:
    resources = (op_state.get("syncResult") or {}).get("resources") or []
    bad = [
        f"{r.get('kind')}/{r.get('name')}: {r.get('message')}"
        for r in resources
        if r.get("status") == "SyncFailed"
    ]
    return f" ({'; '.join(bad[:3])})" if bad else ""


async def _wait_idle(api: _Api, deadline: float) -> None:
    """Until the Application has no operation (the one that refused ours finished)."""
    loop = asyncio.get_running_loop()
    while True:
        app = await api.get()
        if not app.get("operation"):
            return
        if loop.time() >= deadline:
            other = _op_state(app)
            raise ActuationError(
                f"Argo CD Application {api.app} is still busy with another operation "
                f"(revision {_requested(other) or '?'}, {other.get('phase', 'pending')} since "
                f"{other.get('startedAt', '?')}) after {api.cfg.busy_timeout:g} s",
                retryable=True,
                code="busy",
            )
        await asyncio.sleep(api.cfg.poll_interval)


async def _start(api: _Api, revision: str, fence: Fence) -> bool:
    """Request our sync; wait out (bounded) an operation already running. True if we waited."""
    loop = asyncio.get_running_loop()
    busy_deadline = loop.time() + api.cfg.busy_timeout
    waited = False
    while True:
        fence()
        status, data = await api.call("POST", "/sync", {"revision": revision, "prune": False})
        if status == 200:
            return waited
        message = str(data.get("message", "")) if isinstance(data, dict) else ""
        if status == 400 and BUSY in message:
            log.info("Argo CD busy with another operation on %s; waiting", api.app)
            waited = True
            await _wait_idle(api, busy_deadline)
            continue
        raise api.error("sync", status, data)


async def sync(
    *, cfg: ArgoConfig, app: str, revision: str, timeout: float, fence: Fence
) -> SyncResult:
    """Sync `app` to `revision` and wait until our operation finished there: Succeeded ->
    SyncResult; Failed/Error -> ActuationError(escalate) with Argo CD's message; still running
    after `timeout` -> ActuationError(retryable)."""
    headers = {"Authorization": f"Bearer {_token(cfg)}"}
    client_timeout = aiohttp.ClientTimeout(total=cfg.request_timeout)
    connector = aiohttp.TCPConnector(ssl=cfg.ssl_context())
    async with aiohttp.ClientSession(
        headers=headers, timeout=client_timeout, connector=connector, trust_env=False
    ) as http:
        api = _Api(http, cfg, app)
        seen = _history_ids(await api.get())
        waited = await _start(api, revision, fence)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last: dict[str, Any] = {}
        while True:
            try:
                state = _op_state(await api.get())
            except ActuationError as err:
                if not err.retryable:
                    raise
                state = last  # a lost poll is not a lost sync: keep trying until the deadline
            last = state
            if state and _requested(state) != revision:
                done = await _in_history(api, revision, seen)
                if done is not None:  # ours finished; a later operation already started
                    return replace(done, waited_for_other=waited)
                raise ActuationError(
                    f"Argo CD Application {app}: another operation (revision "
                    f"{_requested(state) or '?'}) replaced our sync to {revision}; sync again",
                    retryable=True,
                    code="superseded",
                )
            phase = state.get("phase")
            if phase and phase not in _RUNNING:
                return _finished(app, revision, state, waited)
            if loop.time() >= deadline:
                where = f"{phase} since {state.get('startedAt')}" if phase else "not started"
                raise ActuationError(
                    f"Argo CD sync of {app} to {revision} did not finish within {timeout:g} s "
                    f"({where}{': ' + state['message'] if state.get('message') else ''})",
                    retryable=True,
                    code="timeout",
                )
            await asyncio.sleep(cfg.poll_interval)


def _history_ids(app: dict[str, Any]) -> set[Any]:
    return {h.get("id") for h in (app.get("status") or {}).get("history") or []}


async def _in_history(api: _Api, revision: str, seen: set[Any]) -> SyncResult | None:
    """A deployment at our revision recorded since our request (history holds successes)."""
    for entry in (await api.get()).get("status", {}).get("history") or []:
        if entry.get("id") not in seen and _at(revision, str(entry.get("revision") or "")):
            return SyncResult(
                app=api.app,
                revision=str(entry["revision"]),
                phase="Succeeded",
                message="",
                started_at=str(entry.get("deployStartedAt") or ""),
                finished_at=str(entry.get("deployedAt") or ""),
                waited_for_other=False,
            )
    return None


def _finished(app: str, revision: str, state: dict[str, Any], waited: bool) -> SyncResult:
    phase, message = str(state.get("phase")), str(state.get("message") or "")
    synced = str((state.get("syncResult") or {}).get("revision") or "")
    if phase != "Succeeded":
        raise ActuationError(
            f"Argo CD sync of {app} to {revision} ended {phase}: {message}{_failures(state)}",
            escalate=True,
            code="sync-failed",
        )
    if not _at(revision, synced):
        raise ActuationError(
            f"Argo CD synced {app} to {synced or 'an unknown revision'}, not {revision}",
            escalate=True,
            code="wrong-revision",
        )
    return SyncResult(
        app=app,
        revision=synced,
        phase=phase,
        message=message,
        started_at=str(state.get("startedAt") or ""),
        finished_at=str(state.get("finishedAt") or ""),
        waited_for_other=waited,
    )
