"""ta-remediator as a person uses it: real processes, a real server, every exit code."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from remediator_kit import WEBHOOK_TOKEN, alert, body, remediator_data

from sandbox.util import free_port, poll_until, spawn, stop_pid

CLI = [sys.executable, "-m", "remediator.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env=env)


def write_config(tmp_path: Path, **section: Any) -> Path:
    data = remediator_data(tmp_path, **section)
    # nothing listens on these ports: every probe fails fast, facts are unknown
    data["probes"] = {"default": {"interval": "5s", "timeout": "1s", "staleness": "10s"}}
    path = tmp_path / "remediator.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = write_config(tmp_path, listen={"host": "127.0.0.1", "port": port})
    proc = spawn([*CLI, "serve", "--config", str(config)], log_path=tmp_path / "serve.log")
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as resp:
            return resp.status == 200

    try:
        poll_until(ready, timeout=90, what="remediator ready")
        yield url
    finally:
        stop_pid(proc.pid, timeout=30)
    log = (tmp_path / "serve.log").read_text()
    for secret in ("wh-token-3f9a", "alice-token-77c1", "viewer-token-0b2e"):
        assert secret not in log


def test_check_config_ok_and_a_bad_key_is_named(tmp_path: Path) -> None:
    ok = run("check-config", str(write_config(tmp_path)))
    assert (ok.returncode, ok.stdout) == (0, "ok\n")
    bad = run("check-config", str(write_config(tmp_path, mode="auto")))
    assert bad.returncode == 4 and "remediator.gitops: required in mode 'auto'" in bad.stderr


def test_serve_refuses_to_start_without_a_webhook_token(tmp_path: Path) -> None:
    data = remediator_data(tmp_path)
    del data["remediator"]["webhook_token"]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    proc = run("serve", "--config", str(path))
    assert proc.returncode == 4 and "remediator.webhook_token: required" in proc.stderr


def test_usage_errors_exit_64_and_an_unreachable_server_69(tmp_path: Path) -> None:
    assert run("frobnicate").returncode == 64
    assert run("pause").returncode == 64  # --reason is required
    no_url = run("runs", env={"PATH": "/usr/bin:/bin"})
    assert no_url.returncode == 64 and "TA_REMEDIATOR_URL" in no_url.stderr
    down = run("runs", "--url", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 69 and "cannot reach the remediator" in down.stderr


def test_client_commands_against_a_running_server(server: str, tmp_path: Path) -> None:
    alice, viewer = tmp_path / "alice-token", tmp_path / "viewer-token"
    as_alice = ("--url", server, "--token-file", str(alice))
    as_viewer = ("--url", server, "--token-file", str(viewer))

    status = run("status", *as_alice)
    assert status.returncode == 0 and json.loads(status.stdout)["mode"] == "observe"
    refused = run("pause", "--reason", "test", *as_viewer)
    assert refused.returncode == 1 and "may read but not act" in refused.stderr
    paused = run("pause", "--reason", "maintenance window", *as_alice)
    assert paused.returncode == 0 and json.loads(paused.stdout)["by"] == "alice"
    assert run("resume", "--reason", "done", *as_alice).returncode == 0

    req = urllib.request.Request(
        f"{server}/webhook/alertmanager",
        data=body(alert("TAClickHouseDiskPressure", procedure="A", replica="r1")),
        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        [run_id] = json.loads(resp.read())["runs"]

    def triaged() -> dict[str, Any] | None:
        shown = run("show", run_id, *as_viewer)
        data = json.loads(shown.stdout)
        return data if data["state"] == "refused" else None

    data = poll_until(triaged, timeout=120, interval=0.5, what="run triaged")
    # nothing answers on the configured ports: unknown is never healthy, nothing is planned
    assert "could not be read" in data["reason"]
    markdown = run("show", run_id, "--markdown", *as_viewer)
    assert markdown.returncode == 0
    assert markdown.stdout.startswith(f"## Remediation run {run_id}\n")
    assert "precondition: block" in markdown.stdout
    listed = run("runs", "--open", *as_viewer)
    assert [r["id"] for r in json.loads(listed.stdout)["runs"]] == [run_id]
    assert run("show", "no-such-run", *as_viewer).returncode == 1
    for verb in ("approve", "deny"):
        waits_for_nothing = run(verb, run_id, "--reason", "x", *as_alice)
        assert waits_for_nothing.returncode == 1 and "not waiting for an approval" in (
            waits_for_nothing.stderr
        )
    # the fresh read cannot reach ClickHouse: unknown signals refuse a resume not stated good
    refused = run("trading", "resume", "--reason", "signals fresh", *as_alice)
    assert refused.returncode == 1 and "signals are unknown" in refused.stderr, refused.stderr
    resumed = run(
        "trading", "resume", "--reason", "checked by hand", "--signals-known-good", *as_alice
    )
    assert resumed.returncode == 0, resumed.stderr
    data = json.loads(resumed.stdout)
    assert data["change"] is None  # observe mode: recorded, not changed
    assert (data["signals"], data["signals_known_good"], data["by"]) == ("unknown", True, "alice")
    assert run("trading", "resume", "--reason", "x", *as_viewer).returncode == 1
    assert run("trading", "resume", *as_alice).returncode == 64  # --reason is required
    cancelled = run("cancel", run_id, "--reason", "test over", *as_alice)
    assert cancelled.returncode == 0
    assert run("cancel", run_id, "--reason", "twice", *as_alice).returncode == 1


def test_sigkill_then_restart_keeps_one_run_and_finishes_its_triage(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, listen={"host": "127.0.0.1", "port": port})
    url = f"http://127.0.0.1:{port}"

    def start() -> int:
        proc = spawn([*CLI, "serve", "--config", str(config)], log_path=tmp_path / "serve.log")

        def ready() -> bool:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as resp:
                return resp.status == 200

        poll_until(ready, timeout=90, what="remediator ready")
        return proc.pid

    def post() -> list[str]:
        req = urllib.request.Request(
            f"{url}/webhook/alertmanager",
            data=body(alert("TAClickHouseDiskPressure", procedure="A", replica="r1")),
            headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return list(json.loads(resp.read())["runs"])

    pid = start()
    try:
        [run_id] = post()
        stop_pid(pid, timeout=5, sig=9)  # wherever it was: before, during or after triage
        pid = start()
        assert post() == [run_id]  # the re-send joins the same incident
        viewer = ("--url", url, "--token-file", str(tmp_path / "viewer-token"))

        def settled() -> dict[str, Any] | None:
            data = json.loads(run("show", run_id, *viewer).stdout)
            return data if data["state"] == "refused" else None

        data = poll_until(settled, timeout=120, interval=0.5, what="triage finished after restart")
        assert [d["gate"] for d in data["decisions"]].count("precondition") >= 1
        assert len(json.loads(run("runs", *viewer).stdout)["runs"]) == 1
    finally:
        stop_pid(pid, timeout=30)


def test_replay_commands_refuse_bad_input_and_unknown_runs(server: str, tmp_path: Path) -> None:
    as_alice = ("--url", server, "--token-file", str(tmp_path / "alice-token"))
    as_viewer = ("--url", server, "--token-file", str(tmp_path / "viewer-token"))
    assert run("replay", "plan", "--from", "2026-12-01T06:00:00Z", *as_alice).returncode == 64
    for when, message in (
        ("2026-12-01T06:00:00", "from: '2026-12-01T06:00:00' has no time zone"),
        ("2026-12-01T06:00:00 PST", "time zone 'PST' is not accepted"),
        ("2999-01-01T00:00:00Z", "is in the future"),
        ("an hour ago", "is not a time"),
    ):
        bad = run("replay", "plan", "--from", when, "--reason", "x", *as_alice)
        assert bad.returncode == 1 and message in bad.stderr, bad.stderr
    backwards = run("replay", "plan", "--from", "2026-12-01T06:00:00Z", "--to",
                    "2026-12-01T05:00:00Z", "--reason", "x", *as_alice)  # fmt: skip
    assert backwards.returncode == 1 and "to: " in backwards.stderr
    assert "is not after --from" in backwards.stderr
    listed = json.loads(run("runs", *as_alice).stdout)["runs"]
    assert listed == []  # bad input journals nothing
    viewer = run("replay", "plan", "--from", "2026-12-01T06:00:00Z", "--reason", "x", *as_viewer)
    assert viewer.returncode == 1 and "may read but not act" in viewer.stderr
    # nothing answers on the configured ports: retention is unknown, so the plan is refused
    refused = run("replay", "plan", "--from", "2026-12-01T06:00:00Z", "--reason", "x", *as_alice)
    assert refused.returncode == 1 and "could not be read" in refused.stderr, refused.stderr
    [journaled] = json.loads(run("runs", *as_alice).stdout)["runs"]
    assert journaled["procedure"] == "C" and journaled["outcome"] == "refused"
    for args in (("replay", "start", "run-nope"), ("rollback", "run-nope", "--reason", "x")):
        unknown = run(*args, *as_alice)
        assert unknown.returncode == 1 and "(404): no run 'run-nope'" in unknown.stderr
    not_replay = run("rollback", journaled["id"], "--reason", "x", *as_alice)
    assert not_replay.returncode == 1 and "changed nothing a rollback would undo" in (
        not_replay.stderr
    )
    image = run("image", "rollback", "--to", "sha256:abc", "--reason", "x", *as_alice)
    assert image.returncode == 1 and "is not an image digest" in image.stderr
