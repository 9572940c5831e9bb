"""STAND-IN for the remediator's /metrics until remediator/ exists.

A prometheus_client HTTP server on a free loopback port serving exactly the remediator metric
names and labels of DESIGN.md "Metrics", with a little activity, so the remediation dashboard's
queries can be evaluated on a real Prometheus. Replace it with the real remediator (scraped as
job torghut-ta-remediator) once that lands.
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from dashboard_lib import REMEDIATOR_METRICS
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from sandbox.util import free_port

PROCEDURES = ("A", "B")
OUTCOMES = ("succeeded", "failed", "blocked")
STEPS = ("suspend_job", "drop_partitions", "restart_job", "verify_fresh")
GATES = ("mode", "cooldown", "approval", "kill_switch")
CODES = ("202", "401", "422")


class FakeRemediator:
    """Serves the remediator metrics; `bump()` records one more run of each kind."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.metrics: dict[str, Counter | Gauge] = {}
        for name, labels in REMEDIATOR_METRICS.items():
            doc = f"stand-in for the remediator's {name}"
            if name.endswith("_total"):
                self.metrics[name] = Counter(
                    name.removesuffix("_total"), doc, labels, registry=self.registry
                )
            else:
                self.metrics[name] = Gauge(name, doc, labels, registry=self.registry)
        self._server: WSGIServer | None = None
        self.address = ""

    def _counter(self, short: str) -> Counter:
        metric = self.metrics[f"torghut_ta_remediation_{short}_total"]
        assert isinstance(metric, Counter)
        return metric

    def _gauge(self, short: str) -> Gauge:
        metric = self.metrics[f"torghut_ta_remediation_{short}"]
        assert isinstance(metric, Gauge)
        return metric

    def seed(self) -> None:
        """Every series at 0 (as the real remediator must create its counters), a pending
        approval and a run in progress."""
        for p in PROCEDURES:
            for o in OUTCOMES:
                self._counter("runs").labels(p, o)
                for s in STEPS:
                    self._counter("steps").labels(p, s, o)
        for gate in GATES:
            self._counter("gate_blocks").labels(gate)
        for code in CODES:
            self._counter("webhook_requests").labels(code)
        self._gauge("in_progress").set(1)
        self._gauge("pending_approvals").set(1)
        self._gauge("paused").set(0)

    def bump(self) -> None:
        for p in PROCEDURES:
            self._counter("runs").labels(p, "succeeded").inc()
            self._counter("steps").labels(p, STEPS[0], "succeeded").inc()
        self._counter("runs").labels("A", "failed").inc()
        self._counter("gate_blocks").labels("cooldown").inc()
        self._counter("webhook_requests").labels("202").inc(3)

    def start(self) -> FakeRemediator:
        self.seed()
        port = free_port()
        self._server, _thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        self.address = f"127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
