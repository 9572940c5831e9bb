"""A person's replay window (`--from`, `--to`): strict times, clear errors.

Only ISO 8601 with an explicit offset (`+02:00`) or UTC (`Z`, `+00:00`, a trailing `UTC`) is
accepted: a time without a zone, or with a named zone (`EST`, `Europe/Berlin`), is ambiguous at
3 a.m. across daylight-saving changes, so it is refused rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

EXAMPLE = "2026-12-01T13:00:00Z or 2026-12-01T15:00:00+02:00"
_UTC_WORD = re.compile(r"\s*UTC$", re.IGNORECASE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_ZONE_WORD = re.compile(r"[\sT\d:.]([A-Za-z][A-Za-z_/+\-0-9]*)$")


class ReplayInputError(ValueError):
    """Bad input for a replay: `field` names the option (`from`, `to`, `reason`, ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_time(text: object, field: str) -> float:
    """Epoch seconds of an ISO 8601 time with an explicit offset or UTC."""
    if not isinstance(text, str) or not text.strip():
        raise ReplayInputError(field, f"a time is required (e.g. {EXAMPLE})")
    raw = text.strip()
    value = _UTC_WORD.sub("+00:00", raw)
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    zone = _ZONE_WORD.search(value) if _DATE.match(value) else None
    if zone is not None:
        raise ReplayInputError(
            field,
            f"{raw!r}: time zone {zone.group(1)!r} is not accepted; give UTC (Z) or an explicit "
            f"offset (e.g. {EXAMPLE})",
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ReplayInputError(
            field, f"{raw!r} is not a time: expected ISO 8601 (e.g. {EXAMPLE})"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ReplayInputError(
            field,
            f"{raw!r} has no time zone: add Z for UTC or an explicit offset (e.g. {EXAMPLE})",
        )
    return parsed.timestamp()


@dataclass(frozen=True)
class Window:
    start: float
    end: float | None  # None: up to the present, then back to steady state


def parse_window(start: object, end: object, *, now: float) -> Window:
    """The replay window; refuses times in the future and an end not after the start."""
    t0 = parse_time(start, "from")
    if t0 > now:
        raise ReplayInputError("from", f"{start!r} is in the future (now is {iso(now)})")
    if end is None or (isinstance(end, str) and not end.strip()):
        return Window(t0, None)
    t1 = parse_time(end, "to")
    if t1 > now:
        raise ReplayInputError("to", f"{end!r} is in the future (now is {iso(now)})")
    if t1 <= t0:
        raise ReplayInputError("to", f"{end!r} is not after --from {start!r}")
    return Window(t0, t1)


def require_reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ReplayInputError("reason", "a reason is required (it is journaled with who asked)")
    return reason.strip()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
