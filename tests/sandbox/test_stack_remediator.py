"""The stack runs the real remediator (`ta-remediator serve`, observe mode) with its own
credentials; the stack's Alertmanager delivers procedure alerts to it; `down` stops it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from exporter.exitcodes import USAGE
from remediator.config import load_remediator_config
from sandbox import prometheus, remediator_svc, stack, state
from sandbox.testing.remediator import (
    WEBHOOK_TOKEN,
    alert,
    call,
    notification,
    post_webhook,
    wait_run,
)
from sandbox.util import Service, pid_alive, poll_until, recording_spawns

pytestmark = pytest.mark.slow

KEYS = ("remediator", "remediator_webhook_token_file", "remediator_token_file", "remediator_config")
REMEDIATOR_SA = "system:serviceaccount:torghut-ta-ops:torghut-ta-ops-remediator"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "sandbox.cli", *args],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def _admin_token(sandbox_stack: dict[str, Any]) -> str:
    path = Path(sandbox_stack["dir"], "kube", "kube-standin.json")
    return str(json.loads(path.read_text())["token"])


def _audit(sandbox_stack: dict[str, Any], user: str) -> list[dict[str, Any]]:
    """The kube stand-in's record of `user`'s calls."""
    req = urllib.request.Request(
        f"{sandbox_stack['kube_api']}/sandbox/audit?user={user}",
        headers={"Authorization": f"Bearer {_admin_token(sandbox_stack)}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        items: list[dict[str, Any]] = json.loads(resp.read())["items"]
    return items


def test_status_names_the_remediator_its_token_files_and_config(
    sandbox_stack: dict[str, Any],
) -> None:
    out = _cli("status", "--dir", sandbox_stack["dir"], "--json")
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert set(KEYS) <= set(status), sorted(status)
    assert status["up"]["remediator"] is True
    assert status["remediator"].startswith("http://127.0.0.1:")
    for key in (
        "remediator_webhook_token_file",
        "remediator_token_file",
        "remediator_scenario_token_file",
    ):
        secret = Path(status[key]).read_text().strip()
        assert len(secret) > 20 and secret not in out.stdout, key
    with urllib.request.urlopen(f"{status['remediator']}/healthz", timeout=10) as resp:
        assert resp.status == 200 and resp.read() == b"ok\n"
    assert status["approvals_page"] == f"{status['remediator']}/ui"
    with urllib.request.urlopen(f"{status['approvals_page']}/login", timeout=10) as resp:
        assert resp.status == 200 and b'action="/ui/login"' in resp.read()

    cfg = load_remediator_config(status["remediator_config"])
    rem = cfg.remediator
    assert rem.mode == "observe"
    assert rem.journal_path.parent == Path(sandbox_stack["dir"], "remediator")
    assert rem.journal_path.is_file()  # opened by the running server
    assert f"http://127.0.0.1:{rem.listen.port}" == status["remediator"]
    # a person's token, and the one `ta-sandbox scenario --approve` answers approvals with
    assert [t.name for t in rem.api_tokens] == [remediator_svc.OPERATOR, remediator_svc.SCENARIO]
    assert all(t.may_approve for t in rem.api_tokens)
    # its own Kubernetes identity: the chart's remediator ServiceAccount, not the exporter's
    kube_token = Path(status["remediator_kube_token_file"]).read_text().strip()
    assert kube_token != Path(status["exporter_kube_token_file"]).read_text().strip()
    kubeconfig = yaml.safe_load(Path(str(cfg.kubernetes.kubeconfig)).read_text())
    assert kubeconfig["users"][0]["user"]["token"] == kube_token


def test_the_webhook_takes_only_its_token_and_the_operator_reads_runs(
    sandbox_stack: dict[str, Any],
) -> None:
    payload = notification(alert("TAReplayRequested", procedure="C", severity="warning"))
    status, body = post_webhook(sandbox_stack, payload, token=False)
    assert status == 401, body
    status, body = call(
        sandbox_stack, "POST", "/webhook/alertmanager", body=payload
    )  # the operator's token is not the webhook's
    assert status == 401, body
    status, body = post_webhook(sandbox_stack, payload)
    assert status == 202, body
    assert body["runs"] == [] and "started by a person" in body["ignored"][0]["reason"]

    status, body = call(sandbox_stack, "GET", "/runs")
    assert status == 200 and isinstance(body["runs"], list), body
    status, body = call(sandbox_stack, "GET", "/runs", token_key=WEBHOOK_TOKEN)
    assert status == 403, body  # the webhook token may only post notifications
    status, body = call(sandbox_stack, "GET", "/runs", token_key=None)
    assert status == 401, body


async def _am_post(am_url: str, alerts: list[dict[str, Any]]) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{am_url}/api/v2/alerts", json=alerts) as resp:
            assert resp.status == 200, await resp.text()


async def test_the_stacks_alertmanager_delivers_procedure_alerts_to_it(
    sandbox_stack: dict[str, Any],
) -> None:
    """Through the shipped route and the webhook token file: a procedure B alert becomes a run,
    triaged with the remediator's own ServiceAccount; its resolve ends the run."""
    await prometheus.wait_targets_up(
        sandbox_stack["prometheus"], [remediator_svc.SCRAPE_JOB], timeout=120
    )
    labels = {
        "alertname": "TAClickHouseReplicaReadOnly",
        "procedure": "B",
        "severity": "critical",
        "namespace": "torghut",
        "deployment": "torghut-ta",
        "test": "stack-remediator",
    }
    am_url = sandbox_stack["alertmanager"]
    await _am_post(am_url, [{"labels": labels}])

    def delivered() -> dict[str, Any] | None:
        status, body = call(sandbox_stack, "GET", "/runs?limit=1000")
        assert status == 200, body
        return next(
            (
                r
                for r in body["runs"]
                if any(a["labels"].get("test") == "stack-remediator" for a in r["alerts"])
            ),
            None,
        )

    run = await asyncio.to_thread(
        poll_until, delivered, timeout=120, interval=0.5, what="the alert delivered as a run"
    )
    assert run["procedure"] == "B" and run["mode"] == "observe"
    triaged = await asyncio.to_thread(
        wait_run,
        sandbox_stack,
        run["id"],
        lambda r: r["state"] not in ("new", "triage", "retriage"),
        what="the run triaged",
    )
    assert triaged["state"] in ("refused", "observed", "escalated"), triaged
    # the triage read Kubernetes as the remediator's ServiceAccount, every call allowed
    audit = await asyncio.to_thread(_audit, sandbox_stack, REMEDIATOR_SA)
    assert audit and all(a["allowed"] for a in audit), [a for a in audit if not a["allowed"]]

    ended = datetime.now(UTC) - timedelta(seconds=1)
    await _am_post(am_url, [{"labels": labels, "endsAt": ended.isoformat()}])
    done = await asyncio.to_thread(
        wait_run, sandbox_stack, run["id"], lambda r: r["outcome"] is not None, what="resolved"
    )
    assert done["outcome"] == triaged["state"], done


def test_down_stops_a_remediator_recorded_at_spawn(
    sandbox_stack: dict[str, Any], tmp_path: Path
) -> None:
    """As `up` starts it (spawned under recording_spawns): recorded before it is waited on,
    stopped by `down`."""
    (tmp_path / "secrets").mkdir(mode=0o700)
    kube_service = Service(
        "kube", 0, {"kube_api": sandbox_stack["kube_api"], "token": _admin_token(sandbox_stack)}
    )
    services: list[Service] = []
    recorded_at_spawn: list[str] = []

    def spawned(name: str, pid: int, log_path: Path) -> None:
        services.append(Service(f"{name} (starting)", pid, {}, str(log_path)))
        state.save(tmp_path, services)
        recorded_at_spawn.append(name)

    exporter_cfg = yaml.safe_load(Path(sandbox_stack["dir"], "exporter.yaml").read_text())
    with recording_spawns(spawned):
        svc = remediator_svc.start(
            tmp_path, mode="observe", exporter_cfg=exporter_cfg, kube_service=kube_service,
            clickhouse_user="torghut_remediator",
            clickhouse_password_file=Path(sandbox_stack["clickhouse_remediator_password_file"]),
            alertmanager_url=sandbox_stack["alertmanager"],
        )  # fmt: skip
    assert recorded_at_spawn == ["remediator"]
    assert [s.pid for s in state.load(tmp_path)] == [svc.pid]
    assert pid_alive(svc.pid)
    assert stack.down(tmp_path, log=lambda _m: None) == 1
    assert not pid_alive(svc.pid)


def test_a_mode_the_config_refuses_starts_nothing(tmp_path: Path) -> None:
    with pytest.raises(remediator_svc.ModeRefused, match=r"remediator\.mode"):
        stack.up(tmp_path / "s", remediator_mode="bogus", log=lambda _m: None)
    assert not (tmp_path / "s").exists()
    refused = []
    for mode in remediator_svc.MODES:
        try:
            remediator_svc.check_mode(mode)
        except remediator_svc.ModeRefused as exc:
            refused.append((mode, str(exc)))
    assert "observe" not in dict(refused)
    for mode, reason in refused:  # today propose and auto, until the executor enables them
        proc = _cli("up", "--dir", str(tmp_path / mode), "--remediator-mode", mode)
        assert proc.returncode == USAGE, proc.stderr
        assert reason in proc.stderr
        assert not (tmp_path / mode).exists()
