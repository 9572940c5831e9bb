"""The "TA remediation" dashboard (uid torghut-ta-remediation): what the remediator did."""

from __future__ import annotations

from dashboards.grafana import (
    Grid,
    Json,
    annotation,
    dashboard,
    panel,
    q,
    query_var,
    stat,
    state_timeline,
    steps,
    timeseries,
    value_map,
)
from dashboards.scope import SCOPE, scope_vars, sel

UID = "torghut-ta-remediation"
PROC = f'{SCOPE},procedure=~"$procedure"'


def _status(g: Grid) -> None:
    g.row("Now")
    g.add(
        stat(
            "Remediator paused",
            [q(f"max({sel('torghut_ta_remediation_paused')})", "paused")],
            unit="bool_yes_no",
            description="1 while the kill switch (config, API or Kubernetes annotation) stops every action.",
            runbooks=["TARemediationFailed"],
            mappings=value_map({0: ("acting", "green"), 1: ("PAUSED", "orange")}),
        ),
        w=6,
        h=5,
    )
    g.add(
        stat(
            "Runs in progress",
            [q(f"sum({sel('torghut_ta_remediation_in_progress')})", "in progress")],
            unit="short",
            description="Runs currently executing (single flight per target).",
            runbooks=["TARemediationFailed"],
            thresholds=steps(("green", None), ("blue", 1)),
        ),
        w=6,
        h=5,
    )
    g.add(
        stat(
            "Pending approvals",
            [q(f"max({sel('torghut_ta_remediation_pending_approvals')})", "pending")],
            unit="short",
            description="Runs waiting for a person's approval; the alert fires after 2 min.",
            runbooks=["TARemediationAwaitingApproval"],
            thresholds=steps(("green", None), ("orange", 1)),
        ),
        w=6,
        h=5,
    )
    g.add(
        stat(
            "Failed runs in range",
            [
                q(
                    "sum(increase("
                    + sel("torghut_ta_remediation_runs_total", 'outcome="failed"')
                    + "[$__range]))",
                    "failed",
                    instant=True,
                )
            ],
            unit="short",
            description="Runs that ended failed within the dashboard's time range.",
            runbooks=["TARemediationFailed"],
            thresholds=steps(("green", None), ("red", 1)),
        ),
        w=6,
        h=5,
    )
    g.add(
        state_timeline(
            "Remediator state",
            [
                q(f"max({sel('torghut_ta_remediation_paused')})", "paused"),
                q(f"sum({sel('torghut_ta_remediation_in_progress')})", "runs in progress"),
                q(f"max({sel('torghut_ta_remediation_pending_approvals')})", "pending approvals"),
                q(f"1 - max({sel('torghut_ta_remediator_leader')})", "no leader"),
            ],
            unit="short",
            description=(
                "Kill switch, runs in progress and approvals over time; `no leader` is 1 while "
                "no remediator process holds the leader Lease (then nothing can act)."
            ),
            runbooks=["TARemediationAwaitingApproval", "TARemediationFailed", "TARemediatorDown"],
            thresholds=steps(("green", None), ("orange", 1)),
            custom={"fillOpacity": 70, "lineWidth": 0},
        ),
        w=24,
        h=5,
    )


def _activity(g: Grid) -> None:
    g.row("Runs and steps")
    g.add(
        timeseries(
            "Runs by procedure and outcome",
            [
                q(
                    f"sum by (procedure, outcome) (increase(torghut_ta_remediation_runs_total{{{PROC}}}[$__rate_interval]))",
                    "{{procedure}} {{outcome}}",
                )
            ],
            unit="short",
            description="Runs finished per interval, by runbook procedure and outcome.",
            runbooks=["TARemediationFailed"],
            custom={"drawStyle": "bars", "stacking": {"mode": "normal", "group": "A"}},
        ),
        w=12,
    )
    g.add(
        panel(
            "table",
            "Runs in range",
            [
                q(
                    f"sum by (procedure, outcome) (increase(torghut_ta_remediation_runs_total{{{PROC}}}[$__range]))",
                    table=True,
                )
            ],
            unit="short",
            description="Total runs per procedure and outcome within the dashboard's time range.",
            runbooks=["TARemediationFailed"],
            options={"showHeader": True, "sortBy": [{"displayName": "runs", "desc": True}]},
            transformations=[
                {
                    "id": "organize",
                    "options": {"excludeByName": {"Time": True}, "renameByName": {"Value": "runs"}},
                }
            ],
        ),
        w=12,
    )
    g.add(
        timeseries(
            "Steps by step and outcome",
            [
                q(
                    f"sum by (procedure, step, outcome) (increase(torghut_ta_remediation_steps_total{{{PROC}}}[$__rate_interval]))",
                    "{{procedure}} {{step}} {{outcome}}",
                )
            ],
            unit="short",
            description="Steps executed per interval (observe, reversible, destructive, verify), by outcome.",
            runbooks=["TARemediationFailed"],
            custom={"drawStyle": "bars", "stacking": {"mode": "normal", "group": "A"}},
        ),
        w=24,
    )


def _gates(g: Grid) -> None:
    g.row("Gates and intake")
    g.add(
        timeseries(
            "Gate blocks by gate",
            [
                q(
                    "sum by (gate) (increase("
                    f"{sel('torghut_ta_remediation_gate_blocks_total')}[$__rate_interval]))",
                    "{{gate}}",
                )
            ],
            unit="short",
            description="Steps the policy refused, by gate (mode, allowlist, approval, cooldown, rate limit, single flight, kill switch, lease).",
            runbooks=["TARemediationAwaitingApproval"],
            custom={"drawStyle": "bars", "stacking": {"mode": "normal", "group": "A"}},
        ),
        w=12,
    )
    g.add(
        timeseries(
            "Webhook requests by status code",
            [
                q(
                    "sum by (code) (rate("
                    f"{sel('torghut_ta_remediation_webhook_requests_total')}[$__rate_interval]))",
                    "{{code}}",
                )
            ],
            unit="reqps",
            description="Alertmanager deliveries to the remediator webhook by HTTP status (202 accepted, 401 bad bearer, 4xx bad payload).",
            runbooks=["TARemediationFailed", "TARemediatorWebhookFailing"],
        ),
        w=12,
    )
    g.add(
        timeseries(
            "Retries, approvals and escalations",
            [
                q(
                    f"sum by (procedure, step) (increase(torghut_ta_remediation_step_retries_total{{{PROC}}}[$__rate_interval]))",
                    "retry {{procedure}} {{step}}",
                ),
                q(
                    "sum by (verdict) (increase("
                    f"{sel('torghut_ta_remediation_approvals_total')}[$__rate_interval]))",
                    "approval {{verdict}}",
                ),
                q(
                    f"sum by (procedure) (increase(torghut_ta_remediation_escalations_total{{{PROC}}}[$__rate_interval]))",
                    "escalation {{procedure}}",
                ),
            ],
            unit="short",
            description="Steps retried after a retryable error, approvals answered or expired, and runs that stopped safe and paged a person.",
            runbooks=["TARemediationFailed", "TARemediationAwaitingApproval"],
            custom={"drawStyle": "bars", "stacking": {"mode": "normal", "group": "A"}},
        ),
        w=12,
    )


def build() -> Json:
    g = Grid()
    _status(g)
    _activity(g)
    _gates(g)
    variables = [
        *scope_vars("torghut_ta_remediation_paused"),
        query_var(
            "procedure",
            "Procedure",
            f"label_values({sel('torghut_ta_remediation_runs_total')}, procedure)",
        ),
    ]
    annotations = [
        annotation(
            "Procedure alerts",
            sel("ALERTS", 'alertstate="firing"', 'alertname=~"TA.*"', 'procedure=~"A|B|C"'),
            "{{alertname}} (procedure {{procedure}})",
            "orange",
            tags="alertname,procedure",
        )
    ]
    return dashboard(
        UID,
        "Torghut TA remediation",
        "What the remediator did: runs and steps by procedure and outcome, approvals, gate blocks, kill switch, webhook intake.",
        g,
        variables,
        annotations,
    )
