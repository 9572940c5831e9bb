"""Market session: 1 while a configured session is open in its time zone (holidays excluded).

Pure and clock-injected: sessions are wall-clock times in `market.timezone`, so the UTC hours
of a session move with daylight saving time, as the exchange's do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from exporter.config import SessionsConfig
from exporter.probes.base import Sample

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class MarketSession:
    open: bool
    local_time: str  # ISO-8601 in the market's zone, for the report
    holiday: bool


def market_state(cfg: SessionsConfig, at: float) -> MarketSession:
    """Whether a session is open at epoch second `at` (open inclusive, close exclusive)."""
    local = datetime.fromtimestamp(at, tz=UTC).astimezone(ZoneInfo(cfg.timezone))
    holiday = local.date() in set(cfg.holidays)
    day, now = DAYS[local.weekday()], local.time().replace(tzinfo=None)
    is_open = not holiday and any(day in s.days and s.open <= now < s.close for s in cfg.sessions)
    return MarketSession(is_open, local.isoformat(), holiday)


def render(data: MarketSession) -> Iterable[Sample]:
    yield Sample("torghut_ta_market_open", 1.0 if data.open else 0.0)
