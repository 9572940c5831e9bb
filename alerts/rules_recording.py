"""Recording rules: the values several alerts (and panels) compute, computed once per install."""

from __future__ import annotations

from alerts.common import DISK_FREE_RATIO, FRESHNESS_UNREAD, TABLE_AGE, TRADING_AGE
from alerts.model import Record
from alerts.scope import Scope

# A recording rule sits at the head of the group whose alerts read it: rules of one group are
# evaluated in order, groups are not (Prometheus runs them apart, promtool in any order), so an
# alert in another group would see the value of an earlier evaluation.


def freshness(s: Scope) -> tuple[Record, ...]:
    """Ages: the exporter exports timestamps, never ages."""
    probe = 'probe="clickhouse_freshness"'
    return (
        Record(
            TABLE_AGE,
            f"time() - {s.x('torghut_ta_table_last_event_timestamp_seconds')}",
            comment="Age of the newest event per TA table (TASignalsStale).",
        ),
        Record(
            TRADING_AGE,
            f"time() - {s.x('torghut_ta_signals_last_event_timestamp_seconds')}",
            comment="Age of the newest event of the table trading reads (TATradingOnStaleSignals).",
        ),
        Record(
            FRESHNESS_UNREAD,
            f"""
time() - (
    {s.x("torghut_ta_probe_last_success_timestamp_seconds", probe)}
  or
    {s.x("torghut_ta_probe_success", probe)} * 0
)
""",
            comment=(
                "How long signal freshness has not been read: since the freshness probe's last\n"
                "success, or since the epoch (`probe_success * 0`) while it never succeeded."
            ),
        ),
    )


def disk(s: Scope) -> tuple[Record, ...]:
    return (
        Record(
            DISK_FREE_RATIO,
            f"{s.x('torghut_ta_clickhouse_disk_free_bytes')} / "
            f"{s.x('torghut_ta_clickhouse_disk_total_bytes')}",
            comment="Free fraction of each ClickHouse disk holding the TA tables.",
        ),
    )
