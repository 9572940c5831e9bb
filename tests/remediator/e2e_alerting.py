"""The remediator's end-to-end tests on a whole sandbox stack: alerts posted to its
Alertmanager as Prometheus would send them (procedure A's, each firing its own incident), their
state in its Prometheus, the runs they start, and the remediator's metrics."""

from __future__ import annotations

import json
import random
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.testing.remediator import call, wait_run
from sandbox.util import poll_until

DEPLOYMENT = "torghut-ta"
DISK_PRESSURE = {
    "severity": "critical", "component": "clickhouse", "procedure": "A", "remediation": "auto",
    "replica": "chi-0", "disk": "default",
}  # fmt: skip
JOB_FAILED = {
    "severity": "critical", "component": "flink", "procedure": "A", "remediation": "auto",
    "deployment": DEPLOYMENT,
}  # fmt: skip


def _am(stack: dict[str, Any], method: str, path: str, body: object = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{stack['alertmanager']}{path}", data=data, method=method,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def am_alert(alertname: str, *, resolved: bool = False, **labels: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    ends = now if resolved else now + timedelta(minutes=30)
    return {
        "labels": {"alertname": alertname, **labels},
        "annotations": {"summary": f"{alertname} (posted by the end-to-end test)"},
        "startsAt": (now - timedelta(minutes=5)).isoformat(),
        "endsAt": ends.isoformat(),
        "generatorURL": "http://prometheus.test/graph",
    }


def post_alerts(stack: dict[str, Any], alerts: list[dict[str, Any]]) -> None:
    """As Prometheus would send them: to the stack's Alertmanager, which routes them."""
    _am(stack, "POST", "/api/v2/alerts", alerts)


def am_alerts(stack: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = _am(stack, "GET", "/api/v2/alerts?active=true")
    return found


def prometheus_alert(stack: dict[str, Any], alertname: str, **labels: str) -> str | None:
    """The state (pending, firing) of an alert in the stack's real Prometheus, or None."""
    with urllib.request.urlopen(f"{stack['prometheus']}/api/v1/alerts", timeout=30) as resp:
        found = json.loads(resp.read())["data"]["alerts"]
    for a in found:
        have = a["labels"]
        if have.get("alertname") == alertname and all(have.get(k) == v for k, v in labels.items()):
            return str(a["state"])
    return None


def run_ids(stack: dict[str, Any]) -> set[str]:
    status, body = call(stack, "GET", "/runs?limit=1000")
    assert status == 200, body
    return {r["id"] for r in body["runs"]}


def new_run(stack: dict[str, Any], before: set[str], procedure: str = "A") -> str:
    def check() -> str | None:
        status, body = call(stack, "GET", "/runs?limit=1000")
        assert status == 200, body
        fresh = [r["id"] for r in body["runs"] if r["id"] not in before]
        mine = [r for r in body["runs"] if r["id"] in fresh and r["procedure"] == procedure]
        return mine[0]["id"] if mine else None

    return poll_until(check, timeout=180, interval=1.0, what=f"a new procedure {procedure} run")


def ended(stack: dict[str, Any], run_id: str, timeout: float = 600) -> dict[str, Any]:
    return wait_run(stack, run_id, lambda r: r["outcome"] is not None, what="the run to end",
                    timeout=timeout)  # fmt: skip


_POSTED: list[tuple[str, dict[str, str]]] = []


def fire(stack: dict[str, Any], *names: str) -> str:
    """Post the alerts to Alertmanager; the id of the run they start. Each firing is its own
    incident (an `incident` label): a refiring of an alert just resolved was seen not to be
    notified again by Alertmanager 0.25 within minutes."""
    before = run_ids(stack)
    labels = {"TAClickHouseDiskPressure": DISK_PRESSURE, "TAFlinkJobFailed": JOB_FAILED}
    incident = {"incident": f"e2e-{len(_POSTED)}-{random.getrandbits(32):08x}"}
    posted = [(n, {**labels[n], **incident}) for n in names]
    _POSTED.extend(posted)
    post_alerts(stack, [am_alert(n, **ls) for n, ls in posted])
    return new_run(stack, before)


def resolve_all(stack: dict[str, Any]) -> None:
    """Resolve every alert `fire` posted (else Alertmanager re-sends them)."""
    if _POSTED:
        post_alerts(stack, [am_alert(n, resolved=True, **ls) for n, ls in _POSTED])
        _POSTED.clear()
