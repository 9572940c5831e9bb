"""`ta-exporter report` and `ta-exporter serve` as real processes against the running sandbox stack.

The shared stack is only read: each test writes its own copy of `<dir>/exporter.yaml` with the
changes it needs (thresholds, an extra topic, a hung replica), never touching the stack's state.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.report import EXIT_CODES
from sandbox.faults import SilentServer
from sandbox.util import free_port, poll_until, stop_pid

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "exporter.cli"]


def _stack_config(stack: dict[str, Any]) -> dict[str, Any]:
    return yaml.safe_load(Path(stack["dir"], "exporter.yaml").read_text())


def _password(stack: dict[str, Any]) -> str:
    return Path(stack["dir"], "secrets", "clickhouse-password").read_text().strip()


def _write(tmp_path: Path, data: dict[str, Any], name: str = "exporter.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _report(config: Path) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(
        [*CLI, "report", "--config", str(config), "--json", "--log-level", "debug"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _statuses(data: dict[str, Any]) -> dict[str, str]:
    return {c["component"]: c["status"] for c in data["components"]}


def _healthy_now(config: Path) -> tuple[int, dict[str, Any], str]:
    """The stack's own config judges healthy once signals flow (the TA writer starts with it)."""
    return poll_until(
        lambda: (r := _report(config))[0] == 0 and r, timeout=60, interval=0.5, what="healthy"
    )


def test_report_exit_codes_follow_the_verdict(sandbox_stack: dict[str, Any], tmp_path) -> None:
    base = _stack_config(sandbox_stack)
    secret = _password(sandbox_stack)

    code, data, stderr = _healthy_now(_write(tmp_path, base))
    assert data["overall"] == "healthy" and code == EXIT_CODES["healthy"] == 0
    assert set(_statuses(data).values()) == {"healthy"}

    # an extra topic that does not exist: Kafka degraded (exit 1), everything else still healthy
    degraded = {**base, "kafka": {**base["kafka"], "topics": [*base["kafka"]["topics"], "ta-nope"]}}
    code, data, stderr2 = _report(_write(tmp_path, degraded, "degraded.yaml"))
    assert (code, data["overall"]) == (1, "degraded"), data
    kafka = next(c for c in data["components"] if c["component"] == "kafka")
    assert kafka["details"]["missing_topics"] == "ta-nope"

    # a freshness bound no pipeline meets: signals stale while the market is open (exit 2)
    down = {**base, "report": {"freshness": "1ms"}}
    code, data, stderr3 = _report(_write(tmp_path, down, "down.yaml"))
    assert (code, data["overall"]) == (2, "down"), data
    assert _statuses(data)["freshness"] == "down"

    for text in (stderr, stderr2, stderr3):
        _json_lines(text)  # every line is a JSON object
        assert secret not in text
    assert secret not in json.dumps(data)


def test_report_with_a_bad_config_says_which_key(tmp_path) -> None:
    path = _write(tmp_path, {"clickhouse": {"replicas": []}, "kafka": {"topics": []}})
    proc = subprocess.run(
        [*CLI, "report", "--config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 4
    assert "clickhouse.replicas" in proc.stderr and proc.stdout == ""


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_ready_after_first_cycle_metrics_valid_logs_clean(
    sandbox_stack: dict[str, Any], tmp_path, silent: SilentServer
) -> None:
    cfg = _stack_config(sandbox_stack)
    # a hung second replica holds the first complete cycle back until its 3s timeout
    ch = cfg["clickhouse"]
    ch["replicas"] = [*ch["replicas"], {"name": "hung", "url": f"http://127.0.0.1:{silent.port}"}]
    cfg["probes"] = {"default": {"interval": "1s", "timeout": "3s", "staleness": "30s"}}
    port = free_port()
    cfg["server"] = {"host": "127.0.0.1", "port": port}
    config = _write(tmp_path, cfg)
    stderr_path = tmp_path / "serve.stderr"
    with stderr_path.open("w") as err:
        proc = subprocess.Popen(
            [*CLI, "serve", "--config", str(config), "--log-level", "debug"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def answered() -> tuple[int, str]:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}: {stderr_path.read_text()}")
            return _get(url + "/readyz")

        status, body = poll_until(answered, timeout=60, interval=0.05, what="/readyz answers")
        assert status == 503 and "first cycle" in body
        poll_until(lambda: answered()[0] == 200, timeout=30, interval=0.1, what="/readyz turns 200")

        status, metrics = _get(url + "/metrics")
        assert status == 200
        assert 'torghut_ta_probe_success{probe="clickhouse_storage/hung"} 0.0' in metrics
        assert 'torghut_ta_probe_success{probe="clickhouse_storage/chi-0"} 1.0' in metrics
        check = subprocess.run(
            ["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr

        status, report = _get(url + "/report")
        assert status == 200 and _password(sandbox_stack) not in report
        hung = json.loads(report)["components"]
        assert any("probe clickhouse_storage/hung" in c["details"] for c in hung)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            stop_pid(proc.pid)
            raise
    assert code == 0
    logs = _json_lines(stderr_path.read_text())
    assert {"serving", "probe failed", "stopping"} <= {entry["msg"] for entry in logs}
    failed = [e for e in logs if e["msg"] == "probe failed"]
    assert any(e["probe"] == "clickhouse_storage/hung" and "timeout" in e["error"] for e in failed)
    assert _password(sandbox_stack) not in stderr_path.read_text()
