"""A person's decision to resume trading (`POST /trading/resume`, `ta-remediator trading resume`,
the approvals page). Never done by a run: pausing is the safe direction, resuming is a person's.

The signals are read afresh first (a probe cycle, as triage does): while they are stale or
unknown the resume is refused, unless the person states they are known good; the statement is
journaled with who made it and what the fresh read said.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from remediator.actuators import ActuationError, NotLeader, Opened
from remediator.intake import printable
from remediator.journal import JournalError

if TYPE_CHECKING:
    from remediator.execute import Actuators
    from remediator.server import App

log = logging.getLogger("remediator.trading")
# propose-mode resumes still waiting for their pull request's merge (kept referenced)
_WAITING: set[asyncio.Task[web.Response]] = set()
TRADING_CONTROL = "trading"
# the exporter probe that reads the signals' newest events (per replica: `clickhouse_freshness/r1`)
FRESHNESS_PROBE = "clickhouse_freshness"


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


async def resume(app: App, *, who: str, reason: str, known_good: bool) -> web.Response:
    """A person's decision to resume trading: refused while a fresh read says the signals are
    stale or unknown, unless the person states they are known good; journaled, and with
    actuators the GitOps change TRADING_ENABLED=true. Never done by a run."""
    signals, summary = await signals_now(app)
    if signals != "fresh":
        if not known_good:
            detail = f"signals {signals} ({summary}); {reason}"
            try:
                await asyncio.to_thread(
                    app.journal.audit, who, "trading resume refused", None, detail
                )
            except JournalError as exc:
                return _error(503, str(exc))
            return _error(
                409,
                f"signals are {signals} ({summary}): trading stays paused; state that they "
                "are known good (signals_known_good, --signals-known-good) to resume anyway",
                signals=signals,
            )
        try:
            await asyncio.to_thread(
                app.journal.audit,
                who,
                "signals stated known good",
                None,
                f"a fresh read said {signals} ({summary}); {reason}",
            )
        except JournalError as exc:
            return _error(503, str(exc))
    try:
        await asyncio.to_thread(
            app.journal.set_control, TRADING_CONTROL, "resume", who=who, reason=reason
        )
    except JournalError as exc:
        return _error(503, str(exc))
    said: dict[str, Any] = {"by": who, "reason": reason, "signals": signals}
    said["signals_known_good"] = known_good
    actuators = app.engine.actuators
    if actuators is None or app.engine.executor is None:
        return web.json_response(
            {
                **said,
                "change": None,
                "note": f"recorded; this remediator does not act ({app.cfg.remediator.mode}"
                " mode): set TRADING_ENABLED=true in the GitOps repository by hand",
            }
        )
    if app.cfg.remediator.mode == "propose":
        return await _propose(app, actuators, said, who=who, reason=reason)
    return await _act(app, actuators, said, who=who, reason=reason)


async def _act(
    app: App,
    actuators: Actuators,
    said: dict[str, Any],
    *,
    who: str,
    reason: str,
    opened: Opened | None = None,
) -> web.Response:
    try:
        change = await actuators.resume_trading(
            who=who, reason=reason, fence=app.engine.fence, opened=opened
        )
    except NotLeader as exc:
        return _error(503, f"recorded, but not changed: {exc}")
    except ActuationError as exc:
        await asyncio.to_thread(app.journal.audit, who, "trading resume failed", None, str(exc))
        return _error(502, f"recorded, but the change failed: {exc}")
    await asyncio.to_thread(
        app.journal.audit, who, "trading resumed", None, json.dumps(change, sort_keys=True)
    )
    return web.json_response({**said, "change": change, "note": "TRADING_ENABLED=true"})


async def _propose(
    app: App, actuators: Actuators, said: dict[str, Any], *, who: str, reason: str
) -> web.Response:
    """Propose mode: answer as soon as the pull request exists (202 with its link) instead of
    holding the request until a person merges it; the merge, the sync and the outcome are
    journaled by the task that keeps waiting."""
    pull: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    def opened(change: dict[str, str]) -> None:
        if not pull.done():
            pull.set_result(change)

    task = asyncio.create_task(_act(app, actuators, said, who=who, reason=reason, opened=opened))
    _WAITING.add(task)
    task.add_done_callback(_WAITING.discard)
    waits: set[asyncio.Future[Any]] = {pull, task}
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    if task.done():  # nothing to merge (already true), or it failed before a PR existed
        return task.result()
    await asyncio.to_thread(
        app.journal.audit, who, "trading resume proposed", None, json.dumps(pull.result())
    )
    note = (
        "a pull request a person merges: trading resumes once it is merged and Argo CD synced "
        "it; the outcome is journaled (audit)"
    )
    return web.json_response({**said, "change": pull.result(), "note": note}, status=202)


async def signals_now(app: App) -> tuple[str, str]:
    """The signals from a fresh probe cycle: (fresh|stale|unknown, summary); unknown when
    they cannot be read."""
    try:
        facts = await app.engine.sources.facts()
    except Exception as exc:
        log.warning("trading resume: the facts could not be read: %s", exc)
        return "unknown", f"the facts could not be read: {type(exc).__name__}"
    verdict = facts.verdicts.get("freshness")
    if verdict is None or verdict.status == "unknown":
        return "unknown", "no freshness verdict" if verdict is None else printable(verdict.summary)
    failed = [p for p in facts.unreadable if p.startswith(FRESHNESS_PROBE)]
    if failed:
        # outside market hours the report does not judge freshness ("healthy"), but a read
        # that failed is still unknown, not fresh
        return "unknown", printable(f"{', '.join(failed)} failed; {verdict.summary}", 200)
    word = "fresh" if verdict.status == "healthy" else "stale"
    return word, printable(verdict.summary, 200)
