"""Jangar API freshness: the newest TA event the API serves per watched symbol.

GET {url}{path}?symbol=NVDA. Accepted answers (200, JSON object):
- `{"symbol": "NVDA", "event_ts": "2026-11-28T14:03:01.250Z", ...}` (ISO-8601; no zone = UTC)
- `event_ts` as epoch seconds or milliseconds (a number, or digits in a string)
- the same object nested under `data` or `latest`, or a list of them there (the newest counts)
404 means the API has no event for the symbol (no series). Any other status, a non-JSON body,
an object without an event time, or an answer for another symbol fails the probe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exporter.probes.base import Sample

TIME_KEYS = ("event_ts", "eventTs")
NESTED_KEYS = ("data", "latest")


class JangarError(Exception):
    """The Jangar answer is not one of the accepted shapes."""


@dataclass(frozen=True)
class JangarFreshness:
    latest: dict[str, float]  # symbol -> newest event time (s)
    missing: tuple[str, ...]  # symbols the API has no event for (404)


def parse_time(value: Any) -> float:
    """Seconds since the epoch from ISO-8601 text or epoch s/ms (as a number or digits)."""
    if isinstance(value, bool):
        raise JangarError(f"event time {value!r} is not a timestamp")
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        value = float(value)
    if isinstance(value, int | float):
        return value / 1000.0 if abs(value) >= 1e11 else float(value)
    if isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise JangarError(f"event time {value!r} is not ISO-8601") from None
        return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()
    raise JangarError(f"event time {value!r} is not a timestamp")


def _candidates(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = [body]
    for key in NESTED_KEYS:
        inner = body.get(key)
        if isinstance(inner, Mapping):
            found.append(inner)
        elif isinstance(inner, list):
            found.extend(x for x in inner if isinstance(x, Mapping))
    return found


def parse_latest(body: Any, *, symbol: str) -> float:
    """The newest event time in one answer for `symbol`."""
    if not isinstance(body, Mapping):
        raise JangarError(f"{symbol}: expected a JSON object, got {type(body).__name__}")
    times = []
    for obj in _candidates(body):
        other = obj.get("symbol")
        if isinstance(other, str) and other.upper() != symbol.upper():
            raise JangarError(f"asked for {symbol}, the answer is for {other}")
        times += [parse_time(obj[k]) for k in TIME_KEYS if obj.get(k) is not None]
    if not times:
        raise JangarError(f"{symbol}: no event_ts in the answer (keys: {', '.join(sorted(body))})")
    return max(times)


def render(data: JangarFreshness) -> Iterable[Sample]:
    for symbol, ts in sorted(data.latest.items()):
        yield Sample("torghut_ta_api_last_event_timestamp_seconds", ts, {"symbol": symbol})
