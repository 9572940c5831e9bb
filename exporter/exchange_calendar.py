"""`ta-exporter calendar`: an exchange's holidays and early closes as the `market` YAML block.

The exporter keeps its calendar in config; this only writes that config, from the maintained
`exchange_calendars` package (optional extra `calendar`: it brings pandas, which the exporter
does not load otherwise).
"""

from __future__ import annotations

from datetime import date, time
from importlib import import_module
from importlib.metadata import version
from typing import Any

INSTALL = (
    "exchange_calendars is not installed; install the optional extra:\n"
    "  pip install 'torghut-ta-ops[calendar]'   (or: pip install 'exchange-calendars>=4.5,<5')"
)


class CalendarUnavailable(Exception):
    """The optional `exchange_calendars` package is missing."""


class UnknownExchange(ValueError):
    """The exchange code or the year is not one the library knows."""


def _library() -> Any:
    try:
        return import_module("exchange_calendars")
    except ImportError:
        raise CalendarUnavailable(INSTALL) from None


def closures(exchange: str, year: int) -> tuple[str, list[date], dict[date, time]]:
    """(time zone, weekdays without a session, early closes in local time) for one year."""
    xc = _library()
    if not 1990 <= year <= 2100:
        raise UnknownExchange(f"--year: expected a year between 1990 and 2100, got {year}")
    try:
        cal = xc.get_calendar(exchange, start=f"{year - 1}-12-01", end=f"{year + 1}-01-31")
    except xc.errors.InvalidCalendarName:
        raise UnknownExchange(f"--exchange: unknown exchange {exchange!r} (e.g. XNYS)") from None
    pd = import_module("pandas")
    weekdays = pd.bdate_range(f"{year}-01-01", f"{year}-12-31")
    holidays = [d.date() for d in weekdays.difference(cal.sessions)]
    early = {
        d.date(): cal.session_close(d).tz_convert(cal.tz).time().replace(tzinfo=None)
        for d in cal.early_closes
        if d.year == year
    }
    return str(cal.tz), holidays, early


def calendar_yaml(exchange: str, year: int) -> str:
    """The `market` block for `exchange` in `year`, times quoted as the config requires."""
    zone, holidays, early = closures(exchange, year)
    lines = [
        f"# {exchange} {year}: weekdays without a session and early closes, from",
        f"# exchange_calendars {version('exchange_calendars')}. Merge into the `market` section.",
        "market:",
        f"  timezone: {zone}",
        "  holidays:" + ("" if holidays else " []"),
        *(f"    - {d.isoformat()}" for d in holidays),
        "  early_closes:" + ("" if early else " {}"),
        *(f'    {d.isoformat()}: "{t:%H:%M}"' for d, t in sorted(early.items())),
    ]
    return "\n".join(lines) + "\n"
