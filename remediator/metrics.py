"""The remediator's metric catalogue: names, labels and help. Names are a contract (dashboards,
alerts and docs/metrics.md use them); the remediator serves them on its own /metrics."""

from __future__ import annotations

from exporter.metrics import MetricSpec


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
        _m("in_progress", "gauge", (), "Runs started and not yet ended."),
        _m("pending_approvals", "gauge", (), "Steps waiting for a person's approval."),
        _m("paused", "gauge", (), "1 while the kill switch (config, API or annotation) is on."),
        _m("gate_blocks_total", "counter", ("gate",), "Steps or runs a gate refused, by gate."),
        _m(
            "webhook_requests_total",
            "counter",
            ("code",),
            "Alertmanager webhook requests, by HTTP status code.",
        ),
    )
}
