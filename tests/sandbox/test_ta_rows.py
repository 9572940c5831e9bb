"""Trade records in, TA rows out (sandbox.ta_rows)."""

from __future__ import annotations

from datetime import UTC, datetime

from sandbox.ta_rows import decode_trade


def test_decode_trade_uses_event_time_and_rejects_garbage() -> None:
    t = decode_trade(b'{"symbol":"NVDA","price":1.5,"size":2,"event_ts":"2026-01-02T03:04:05Z"}', 0)
    assert t is not None and t.event_ts == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert decode_trade(b"not json", 0) is None
    assert decode_trade(b'{"symbol":"NVDA"}', 0) is None
