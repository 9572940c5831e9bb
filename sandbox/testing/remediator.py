"""Talking to the stack's remediator (`sandbox.remediator_svc`) from tests, as Alertmanager and
as an operator do: no fixtures, the stack's own (`sandbox_stack`) runs it.

- `alert(alertname, status, **labels)`, `notification(*alerts)`: an Alertmanager v4 webhook
  payload.
- `call(stack, method, path, token_key=..., body=...)`: (HTTP status, JSON body) with the token
  read from the file `status` names (`remediator_token_file`, the operator's, by default;
  `remediator_webhook_token_file`; or None for no token).
- `post_webhook(stack, payload, token=True)`, `wait_run(stack, run_id, predicate)`.
- `metrics(stack)`: its /metrics as `Samples`; `metric(samples, name, **labels)` one of them.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from sandbox.util import poll_until

# a /metrics page as {(sample name, its labels): value}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
RUNS = "torghut_ta_remediation_runs_total"
STEPS = "torghut_ta_remediation_steps_total"

OPERATOR_TOKEN = "remediator_token_file"
WEBHOOK_TOKEN = "remediator_webhook_token_file"


def alert(alertname: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    """One alert; its fingerprint is fixed by name and labels, as Alertmanager's is."""
    all_labels = {"alertname": alertname, **labels}
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {},
        "startsAt": now,
        "endsAt": now if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": hashlib.sha256(json.dumps(all_labels, sort_keys=True).encode()).hexdigest()[
            :16
        ],
    }


def notification(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": "{}/{}:{test}",
        "truncatedAlerts": 0,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": "torghut-ta-remediator",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "",
        "alerts": list(alerts),
    }


def call(
    stack: Mapping[str, Any],
    method: str,
    path: str,
    *,
    token_key: str | None = OPERATOR_TOKEN,
    body: object = None,
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token_key is not None:
        headers["Authorization"] = f"Bearer {Path(stack[token_key]).read_text().strip()}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{stack['remediator']}{path}", data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def post_webhook(
    stack: Mapping[str, Any], payload: dict[str, Any], *, token: bool = True
) -> tuple[int, Any]:
    return call(
        stack, "POST", "/webhook/alertmanager", token_key=WEBHOOK_TOKEN if token else None,
        body=payload,
    )  # fmt: skip


def wait_run(
    stack: Mapping[str, Any],
    run_id: str,
    predicate: Callable[[dict[str, Any]], bool],
    *,
    what: str,
    timeout: float = 180.0,
) -> dict[str, Any]:
    """Poll GET /runs/{id} (operator token) until `predicate(run)` holds."""
    last: list[dict[str, Any]] = []

    def check() -> dict[str, Any] | None:
        status, run = call(stack, "GET", f"/runs/{run_id}")
        assert status == 200, (status, run)
        last[:] = [run]
        return run if predicate(run) else None

    t0 = time.monotonic()
    try:
        return poll_until(check, timeout=timeout, interval=0.5, what=what)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc} after {time.monotonic() - t0:.0f}s; run: {last}") from None


def metrics(status: Mapping[str, Any]) -> Samples:
    """The stack remediator's /metrics, every sample keyed by its name and labels."""
    with urllib.request.urlopen(f"{status['remediator']}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric(found: Samples, name: str, **labels: str) -> float:
    """The sample of `name` with exactly these labels (0 when the page has none)."""
    return found.get((name, frozenset(labels.items())), 0.0)
