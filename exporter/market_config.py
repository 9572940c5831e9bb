"""The `market` section: trading sessions in the exchange's zone, holidays, early closes, grace.

Times are quoted "HH:MM" strings: YAML 1.1 reads an unquoted 10:30 as the integer 630.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, field_validator, model_validator

from exporter.config_types import Duration, Model

_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$")
_END_OF_DAY = re.compile(r"^24:00(?::00)?$")


def parse_clock(value: Any) -> time:
    """A wall-clock time from a quoted "HH:MM" (or "HH:MM:SS"); anything else is an error.

    YAML 1.1 reads an unquoted 10:30 as the base-60 integer 630, which would silently become
    00:10:30, so numbers are refused with the quoted spelling they came from. "24:00" is the
    end of the day (`time.max`), for a session that closes at midnight: sessions on consecutive
    days then leave no gap (a "23:59:59" close shuts the market for that last second)."""
    if isinstance(value, time):
        return value
    if isinstance(value, str) and _END_OF_DAY.match(value):
        return time.max
    if isinstance(value, str) and (m := _CLOCK.match(value)):
        return time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        h, mi = divmod(value, 60)
        raise ValueError(
            f"got the number {value}: an unquoted {h}:{mi:02d} is read by YAML as a number; "
            f'write the time quoted, "{h:02d}:{mi:02d}"'
        )
    raise ValueError(f'expected a quoted time "HH:MM" (or "24:00"), got {value!r}')


ClockTime = Annotated[time, BeforeValidator(parse_clock)]


def _iso_keys(value: Any) -> Any:
    """YAML date keys as ISO text, so an error's key path reads `early_closes.2026-11-27`."""
    if isinstance(value, dict):
        return {k.isoformat() if isinstance(k, date) else k: v for k, v in value.items()}
    return value


class Session(Model):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    open: ClockTime
    close: ClockTime

    @model_validator(mode="after")
    def _ordered(self) -> Session:
        if self.close <= self.open:
            raise ValueError("close must be after open")
        return self


class SessionsConfig(Model):
    timezone: str = "America/New_York"
    sessions: list[Session] = Field(
        default_factory=lambda: [
            Session(days=["mon", "tue", "wed", "thu", "fri"], open=time(9, 30), close=time(16, 0))
        ]
    )
    holidays: list[date] = Field(default_factory=list)
    # half days: date -> the earlier close ("13:00"); sessions end at it that day
    early_closes: Annotated[dict[date, ClockTime], BeforeValidator(_iso_keys)] = Field(
        default_factory=dict
    )
    # after each session open, freshness is not judged for this long (yesterday's data is old)
    open_grace: Duration = 0.0

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v
