"""Market session: 1 while a configured session is open in its time zone.

Pure and clock-injected: sessions are wall-clock times in `market.timezone`, so the UTC hours
of a session move with daylight saving time, as the exchange's do. Holidays have no session;
on an early-close day every session ends at the earlier close. For `market.open_grace` after
each open the session is "in grace": open, but freshness is not judged yet (the newest data
is still the previous session's).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from exporter.market_config import SessionsConfig
from exporter.probes.base import Sample

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class MarketSession:
    open: bool
    local_time: str  # ISO-8601 in the market's zone, for the report
    holiday: bool
    early_close: bool = False
    in_grace: bool = False


def market_state(cfg: SessionsConfig, at: float) -> MarketSession:
    """Whether a session is open at epoch second `at` (open inclusive, close exclusive but for
    a "24:00" close)."""
    local = datetime.fromtimestamp(at, tz=UTC).astimezone(ZoneInfo(cfg.timezone))
    today = local.date()
    holiday = today in set(cfg.holidays)
    early = cfg.early_closes.get(today)
    day, now = DAYS[local.weekday()], local.time().replace(tzinfo=None)
    in_grace = False
    is_open = False
    if not holiday:
        for s in cfg.sessions:
            close = s.close if early is None else min(s.close, early)
            # a close of "24:00" (time.max) includes the day's last instant
            if day in s.days and s.open <= now and (now < close or close == time.max):
                is_open = True
                opened = local.replace(hour=s.open.hour, minute=s.open.minute, second=s.open.second)
                in_grace = in_grace or (local - opened).total_seconds() < cfg.open_grace
    return MarketSession(is_open, local.isoformat(), holiday, early is not None, in_grace)


def render(data: MarketSession) -> Iterable[Sample]:
    yield Sample("torghut_ta_market_open", 1.0 if data.open else 0.0)
    yield Sample("torghut_ta_market_open_grace", 1.0 if data.in_grace else 0.0)
