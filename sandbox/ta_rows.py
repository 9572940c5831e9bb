"""The TA job's computation: trade records in, `ta_signals` and `ta_microbars` rows out."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.indicators import Bar, SymbolState


@dataclass(frozen=True)
class Trade:
    symbol: str
    price: float
    size: float
    event_ts: datetime


def decode_trade(value: bytes | None, record_ts_ms: int) -> Trade | None:
    """A trade from a record value; the record timestamp stands in for a missing event time."""
    try:
        doc = json.loads(value or b"")
        symbol, price = str(doc["symbol"]), float(doc["price"])
        size = float(doc.get("size", doc.get("qty", 1)))
    except (ValueError, KeyError, TypeError):
        return None
    raw = doc.get("event_ts", doc.get("ts"))
    ts = record_ts_ms / 1000.0
    if isinstance(raw, int | float) and math.isfinite(raw):
        ts = raw / 1000.0 if raw > 1e11 else float(raw)
    elif isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            ts = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
        except ValueError:
            pass
    return Trade(symbol, price, size, datetime.fromtimestamp(ts, UTC))


class Calculator:
    """Turns trades into signal rows and 1-second microbar rows."""

    def __init__(self) -> None:
        self.states: dict[str, SymbolState] = {}

    def rows(self, trades: Iterable[Trade]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        now = datetime.now(UTC)
        signals: list[dict[str, Any]] = []
        bars: dict[tuple[str, datetime], Bar] = {}
        for t in trades:
            values = self.states.setdefault(t.symbol, SymbolState()).update(t.price, t.size)
            signals.append(
                {
                    "event_ts": t.event_ts,
                    "symbol": t.symbol,
                    "price": t.price,
                    "ingest_ts": now,
                    **values,
                }
            )
            bucket = (t.symbol, t.event_ts.replace(microsecond=0))
            if bucket in bars:
                bars[bucket].add(t.price, t.size)
            else:
                bars[bucket] = Bar.first(t.price, t.size)
        microbars = [
            {"event_ts": ts, "symbol": sym, "ingest_ts": now, **vars(bar)}
            for (sym, ts), bar in bars.items()
        ]
        return signals, microbars
