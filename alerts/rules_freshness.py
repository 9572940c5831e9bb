"""Signal freshness and the trading gate: stale, unknown, and trading on either."""

from __future__ import annotations

from alerts.common import FRESHNESS_UNREAD, TABLE_AGE, TRADING_AGE, alert, labels
from alerts.model import Group
from alerts.rules_recording import freshness as recorded
from alerts.scope import Scope
from alerts.thresholds import Thresholds, human


def _market_hours(s: Scope) -> str:
    """Quiet only while the install's market is known closed, or in its open grace."""
    return (
        f"unless {s.on()}\n({s.x('torghut_ta_market_open_grace')} == 1)\n"
        f"unless {s.on()}\n({s.x('torghut_ta_market_open')} == 0)\n"
    )


def _last_hour(s: Scope, metric: str) -> str:
    return f"(max {s.by()} (last_over_time({s.x(metric)}[1h])) == 1)"


def group(s: Scope, t: Thresholds) -> Group:
    stale, unread = t.signals_stale_seconds, t.freshness_unread_seconds
    # No healthy scrape of the install's exporter: all its targets fail (per install), or no
    # target at all. absent() of a selector has only its equality labels (of `up == 1` none at
    # all, hence the two branches), so that branch is joined `on ()` with partners under the
    # same selector: per install when the selector names the install (the chart's), one alert
    # for the whole selector otherwise.
    failing = f"max {s.by()} ({s.x('up')}) == 0"

    def unscraped(*switches: str) -> str:
        joins = "".join(
            f"\n  and on ()\n  (max(last_over_time({s.x(m)}[1h])) == 1)" for m in switches
        )
        return f"(\n  absent({s.x('up')}){joins}\n)"

    job = s.exporter
    return Group(
        name="torghut-ta-freshness",
        rules=(
            *recorded(s),
            alert(
                "TASignalsStale",
                f"{s.x(TABLE_AGE)} > {stale}\n{_market_hours(s)}",
                for_="2m",
                labels=labels("critical", "signals", "none", "manual"),
                summary="TA table {{ $labels.table }} is {{ $value | humanizeDuration }} behind during market hours",
                description=f"""
The newest event in {{{{ $labels.table }}}} is {{{{ $value | humanizeDuration }}}} old
(threshold {human(stale)}) while a trading session is open (or the session could not be read: unknown counts as open). Find the broken stage (Kafka, Flink,
ClickHouse) and consider pausing trading.
""",
            ),
            alert(
                "TASignalsUnknown",
                f"""
(
  (
      {s.x(FRESHNESS_UNREAD)} > {unread}
    or {s.on()}
      {failing}
  )
  and {s.on()}
  {_last_hour(s, "torghut_ta_market_open")}
)
or {s.on()}
{unscraped("torghut_ta_market_open")}
""",
                for_="2m",
                labels=labels("critical", "signals", "none", "manual"),
                summary="TA signal freshness is unknown during market hours",
                description=f"""
{{{{ with $labels.instance }}}}Exporter {{{{ . }}}} has not read signal freshness from
ClickHouse {{{{ if gt $value 1e8 }}}}since it started{{{{ else }}}}for {{{{ $value | humanizeDuration }}}}{{{{ end }}}}
(threshold {human(unread)}){{{{ else }}}}Prometheus has no healthy scrape of {job}{{{{ end }}}}
while a trading session is open. Stale and fresh signals look alike from here: treat
the signals as stale, pause trading if TATradingOnStaleSignals has not already, and
find out why ClickHouse (or the exporter) cannot be read.
""",
                comment=(
                    f"Freshness cannot be read: the probe has not succeeded for {human(unread)} (or never since the\n"
                    f"exporter started: {FRESHNESS_UNREAD} is then huge), or Prometheus does not\n"
                    "scrape the install's exporter at all. Market hours are the last known value of\n"
                    "market_open over the past hour, so this still works while the exporter is down."
                ),
            ),
            alert(
                "TATradingOnStaleSignals",
                f"max {s.by()} ({s.x(TRADING_AGE)}) > {stale}\n{_market_hours(s)}"
                f"and {s.on()}\n({s.x('torghut_ta_trading_enabled')} == 1)\n",
                for_="2m",
                labels=labels("critical", "trading", "none", "auto", signals="stale"),
                summary="Trading is enabled on TA signals {{ $value | humanizeDuration }} old",
                description=f"""
TRADING_ENABLED is true while the newest signals event is
{{{{ $value | humanizeDuration }}}} old (threshold {human(stale)}) and the market is open (or its session could not be read). The
remediator pauses trading (TRADING_ENABLED=false) through GitOps when its gates allow.
""",
                comment=(
                    "Same staleness test as TASignalsStale, on the table trading reads, while the switch is on.\n"
                    "The timestamp persists while ClickHouse is unreadable, so its age keeps growing.\n"
                    "Never inhibited in Alertmanager: it is the trading gate's trigger and the desk's page."
                ),
            ),
            alert(
                "TATradingOnStaleSignals",
                f"""
(
  (
      min {s.by()} ({s.x(FRESHNESS_UNREAD)}) > {unread}
    or {s.on()}
      {failing}
  )
  and {s.on()}
  {_last_hour(s, "torghut_ta_market_open")}
  and {s.on()}
  {_last_hour(s, "torghut_ta_trading_enabled")}
)
or {s.on()}
{unscraped("torghut_ta_market_open", "torghut_ta_trading_enabled")}
""",
                for_="2m",
                labels=labels("critical", "trading", "none", "auto", signals="unknown"),
                summary="Trading is enabled while TA signal freshness is unknown",
                description=f"""
{{{{ if gt $value 1e8 }}}}The exporter has not read signal freshness since it started{{{{ else if gt $value 1.0 }}}}The exporter has not read signal freshness for {{{{ $value | humanizeDuration }}}}{{{{ else }}}}Prometheus has no healthy scrape of {job}{{{{ end }}}}
while, as last seen, TRADING_ENABLED is true and the market is open. Uncertain
signals count as stale: the remediator pauses trading (TRADING_ENABLED=false) through
GitOps when its gates allow.
""",
                comment=(
                    'Uncertain signals count as stale (the runbook: "If signals are stale or uncertain,\n'
                    f"disable trading\"). From Prometheus's own view: freshness unread for {human(unread)} (the newest\n"
                    "read among the install's exporters) or none of its exporters scraped; the market session\n"
                    "and the trading switch are their last known values over the past hour, so the gate still\n"
                    "acts while the exporter is down."
                ),
            ),
        ),
    )
