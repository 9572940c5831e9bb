"""What every rule module shares: URL bases, the recorded series' names, the alert constructor."""

from __future__ import annotations

from alerts.model import Alert

# Literal defaults the Helm chart rewrites textually (each occurs only in these annotations).
RUNBOOK_BASE = "https://github.com/torghut/torghut-ta-ops/blob/main/docs/runbooks"
GRAFANA_BASE = "https://grafana.example.com"
OVERVIEW = f"{GRAFANA_BASE}/d/torghut-ta-overview"
REMEDIATION = f"{GRAFANA_BASE}/d/torghut-ta-remediation"

# Recording rules (alerts/rules_recording.py): values several alerts and panels compute.
TABLE_AGE = "torghut_ta:table_signal_age_seconds"
TRADING_AGE = "torghut_ta:trading_signal_age_seconds"
FRESHNESS_UNREAD = "torghut_ta:freshness_unread_seconds"
DISK_FREE_RATIO = "torghut_ta:clickhouse_disk_free_ratio"


def alert(
    name: str,
    expr: str,
    *,
    labels: dict[str, str],
    for_: str | None = None,
    summary: str,
    description: str,
    dashboard: str = OVERVIEW,
    comment: str = "",
) -> Alert:
    """`description` is written as the rule file folds it: one output line per source line."""
    lines = tuple(line.strip() for line in description.strip().splitlines() if line.strip())
    return Alert(
        alert=name,
        expr=expr,
        labels=labels,
        summary=summary,
        description=lines,
        runbook_url=f"{RUNBOOK_BASE}/{name}.md",
        dashboard_url=dashboard,
        for_=for_,
        comment=comment,
    )


def labels(
    severity: str, component: str, procedure: str, remediation: str, **extra: str
) -> dict[str, str]:
    return {
        "severity": severity,
        "component": component,
        "procedure": procedure,
        "remediation": remediation,
        **extra,
    }
