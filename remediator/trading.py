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

from remediator.actuators import ActuationError, NotLeader
from remediator.intake import printable
from remediator.journal import JournalError

if TYPE_CHECKING:
    from remediator.server import App

log = logging.getLogger("remediator.trading")
TRADING_CONTROL = "trading"


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
    try:
        change = await actuators.resume_trading(who=who, reason=reason, fence=app.engine.fence)
    except NotLeader as exc:
        return _error(503, f"recorded, but not changed: {exc}")
    except ActuationError as exc:
        await asyncio.to_thread(app.journal.audit, who, "trading resume failed", None, str(exc))
        return _error(502, f"recorded, but the change failed: {exc}")
    await asyncio.to_thread(
        app.journal.audit, who, "trading resumed", None, json.dumps(change, sort_keys=True)
    )
    return web.json_response({**said, "change": change, "note": "TRADING_ENABLED=true"})


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
    word = "fresh" if verdict.status == "healthy" else "stale"
    return word, printable(verdict.summary, 200)
