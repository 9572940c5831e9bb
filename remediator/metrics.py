"""The remediator's metric catalogue: names, labels and help. Names are a contract (dashboards,
alerts and docs/metrics.md use them); the remediator serves them on its own /metrics."""

from __future__ import annotations

from exporter.metrics import MetricSpec
from remediator.config import PROCEDURES
from remediator.journal import ENDED_OUTCOMES


def _m(name: str, kind: str, labels: tuple[str, ...], help: str) -> MetricSpec:
    assert kind in ("gauge", "counter")
    return MetricSpec(f"torghut_ta_remediation_{name}", kind, labels, help)  # type: ignore[arg-type]


CATALOGUE: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        _m(
            "runs_total",
            "counter",
            ("procedure", "outcome"),
            "Runs ended, by procedure and outcome.",
        ),
        _m(
            "steps_total",
            "counter",
            ("procedure", "step", "outcome"),
            "Steps ended, by procedure, step and outcome.",
        ),
        _m(
            "step_retries_total",
            "counter",
            ("procedure", "step"),
            "Retries of a step after a retryable actuation error.",
        ),
        _m(
            "approvals_total",
            "counter",
            ("verdict",),
            "Approval requests answered or lapsed: approved, denied, expired.",
        ),
        _m(
            "escalations_total",
            "counter",
            ("procedure",),
            "Runs that stopped safe and paged a person (TARemediationFailed).",
        ),
        _m("in_progress", "gauge", (), "Runs started and not yet ended."),
        _m("pending_approvals", "gauge", (), "Runs waiting for a person's approval."),
        _m("paused", "gauge", (), "1 while the kill switch (config, API or annotation) is on."),
        _m("gate_blocks_total", "counter", ("gate",), "Steps or runs a gate refused, by gate."),
        _m(
            "webhook_requests_total",
            "counter",
            ("code",),
            "Alertmanager webhook requests, by HTTP status code.",
        ),
        # the process, not a run: hence torghut_ta_remediator_
        MetricSpec(
            "torghut_ta_remediator_leader",
            "gauge",
            (),
            "1 while this process holds the leader Lease and may act, else 0.",
        ),
    )
}


# Label values known in advance get their series at 0 from the start (Prometheus practice: a
# counter that has not moved yet reads 0, so `increase(...{outcome="failed"})` and the
# dashboard's panels answer 0 instead of nothing). Step names are the planners' (remediator/
# procedures.py; tests/remediator/test_metrics.py keeps the two in step).
STEPS: dict[str, tuple[str, ...]] = {
    "A": (
        "pause_trading", "suspend_job", "drop_partition", "resume_job",
        "verify_disk", "verify_job", "verify_freshness", "verify_api",
    ),
    "B": (
        "restart_replica", "restore_replica", "verify_writable", "pause_trading", "resume_job",
        "verify_job", "verify_freshness", "verify_api",
    ),
    "trading_gate": ("pause_trading", "verify_trading_paused"),
}  # fmt: skip
APPROVAL_VERDICTS = ("approved", "denied", "expired")
STEP_OUTCOMES = ("done", "failed")  # remediator/execute.py counts a step done or failed
# policy.evaluate's gates (kill_switch_<source>), the two that end a triage (engine.py) and the
# blocks met mid-run (execute.py)
GATES = (
    "kill_switch_config", "kill_switch_api", "kill_switch_annotation", "cooldown",
    "rate_limit", "single_flight", "mode", "precondition", "escalation",
    "approval", "lease", "fail_safe",
)  # fmt: skip


class RemediatorMetrics:
    """The catalogue's metrics on a private registry (the remediator's /metrics)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = CollectorRegistry(auto_describe=True)

        def counter(name: str) -> Counter:
            spec = CATALOGUE[f"torghut_ta_remediation_{name}"]
            return Counter(
                spec.name.removesuffix("_total"), spec.help, spec.labels, registry=self.registry
            )

        def gauge(name: str) -> Gauge:
            spec = CATALOGUE[f"torghut_ta_remediation_{name}"]
            return Gauge(spec.name, spec.help, spec.labels, registry=self.registry)

        self.runs = counter("runs_total")
        self.steps = counter("steps_total")
        self.gate_blocks = counter("gate_blocks_total")
        self.step_retries = counter("step_retries_total")
        self.approvals = counter("approvals_total")
        self.escalations = counter("escalations_total")
        self.webhook_requests = counter("webhook_requests_total")
        self.in_progress = gauge("in_progress")
        self.pending_approvals = gauge("pending_approvals")
        self.paused = gauge("paused")
        leader = CATALOGUE["torghut_ta_remediator_leader"]
        self.leader = Gauge(leader.name, leader.help, leader.labels, registry=self.registry)
        self._seed()

    def _seed(self) -> None:
        for procedure in PROCEDURES:
            for outcome in sorted(ENDED_OUTCOMES):
                self.runs.labels(procedure=procedure, outcome=outcome)
            for step in STEPS[procedure]:
                for outcome in STEP_OUTCOMES:
                    self.steps.labels(procedure=procedure, step=step, outcome=outcome)
                self.step_retries.labels(procedure=procedure, step=step)
            self.escalations.labels(procedure=procedure)
        for verdict in APPROVAL_VERDICTS:
            self.approvals.labels(verdict=verdict)
        for gate in GATES:
            self.gate_blocks.labels(gate=gate)
