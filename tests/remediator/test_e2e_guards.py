"""The remediator's guards end to end on a whole sandbox stack, auto mode, real processes.

The acting run is the trading gate (TATradingOnStaleSignals -> pause_trading through GitOps:
branch, GitHub merge, Argo CD sync -> verify_trading_paused): on `--replicated` the TA job
cannot write to chdb's read-only replicas, so the signals are stale and the gate acts. The
stack's Prometheus is stopped: the tests post the alerts to the stack's Alertmanager themselves,
so no run starts that a test did not ask for.

- labels off the allowlist reach no SQL and no manifest; the journal says why;
- the kill switch annotation on the FlinkDeployment stops an auto run before any step;
- `ta-remediator serve` SIGKILLed right after the step's idempotency key was written: started
  again with the same config, the run resumes without a second commit;
- fencing: two processes with the same config and different identities and journals: only the
  Lease holder acts; the other takes over only once the holder stops renewing, and the holder,
  resumed after its Lease was taken, does not act.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from remediator_e2e_kit import (
    GATE,
    Remediator,
    am_alerts,
    as_stack,
    env_pid,
    git_head,
    launch,
    post_alerts,
    posted_alerts_stack,
    run,
    runs,
    trading_enabled,
    wait,
    wait_for,
)

from sandbox.testing.remediator import alert, call, notification, post_webhook
from sandbox.util import free_port, pid_alive, poll_until, stop_pid

pytestmark = [pytest.mark.slow, pytest.mark.replicated, pytest.mark.timeout(900)]
# several acting runs on one target in a module: no cooldown between them
POLICY = {"cooldown": "1s", "max_runs_per_hour": 100}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with posted_alerts_stack(tmp_path_factory.mktemp("e2e-guards") / "stack") as status:
        yield status


@pytest.fixture(scope="module")
def r1(stack: dict[str, Any]) -> Remediator:
    """The first remediator, on the stack's port (Alertmanager delivers to it)."""
    return launch(stack, "r1", port=stack["port"], policy=POLICY)


# --- what the tests read -------------------------------------------------------------------------


def _kube(status: dict[str, Any], fn: Any) -> Any:
    async def go() -> Any:
        from kubernetes_asyncio import client, config

        api = await config.new_client_from_config(config_file=status["kubeconfig"])
        async with api:
            return await fn(client, api)

    return asyncio.run(go())


def _flinkdeployment(status: dict[str, Any]) -> dict[str, Any]:
    async def get(client: Any, api: Any) -> Any:
        return await client.CustomObjectsApi(api).get_namespaced_custom_object(
            "flink.apache.org", "v1beta1", "torghut", "flinkdeployments", "torghut-ta"
        )

    return dict(_kube(status, get))


def _annotate(status: dict[str, Any], value: str | None) -> None:
    async def patch(client: Any, api: Any) -> Any:
        body = {"metadata": {"annotations": {"torghut.io/remediation-paused": value}}}
        return await client.CustomObjectsApi(api).patch_namespaced_custom_object(
            "flink.apache.org",
            "v1beta1",
            "torghut",
            "flinkdeployments",
            "torghut-ta",
            body,
            _content_type="application/merge-patch+json",
        )

    _kube(status, patch)


def _lease_holder(status: dict[str, Any]) -> str | None:
    async def get(client: Any, api: Any) -> Any:
        return await client.CoordinationV1Api(api).read_namespaced_lease(
            "torghut-ta-remediator", "torghut-ta-ops"
        )

    return _kube(status, get).spec.holder_identity  # type: ignore[no-any-return]


def _tables(status: dict[str, Any]) -> list[str]:
    query = "SELECT name FROM system.tables WHERE database = 'torghut' ORDER BY name"
    password = Path(status["clickhouse_password_file"]).read_text().strip()
    req = urllib.request.Request(
        f"{status['clickhouse_http']}/?query={urllib.parse.quote(query)}",
        headers={"X-ClickHouse-User": status["clickhouse_user"], "X-ClickHouse-Key": password},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read().decode().split()


def _world(status: dict[str, Any]) -> dict[str, Any]:
    """What a remediator could change: git, the FlinkDeployment's spec, ClickHouse's tables."""
    return {
        "git": git_head(status),
        "fd_spec": _flinkdeployment(status)["spec"],
        "tables": _tables(status),
    }


def _intake_ignored(rem: Remediator) -> list[str]:
    with sqlite3.connect(f"file:{rem.journal}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT reason FROM decisions WHERE run_id IS NULL AND gate = 'intake' ORDER BY id"
        ).fetchall()
    return [str(r[0]) for r in rows]


def _commits(status: dict[str, Any], since: str, grep: str) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", status["git_remote"], "log", "--no-merges", "--format=%H %s",
         f"--grep={grep}", "--fixed-strings", f"{since}..HEAD"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return out.stdout.splitlines()


def _gate_run(status: dict[str, Any], rem: Remediator, before: set[str]) -> dict[str, Any] | None:
    new = [
        r for r in runs(status, rem) if r["procedure"] == "trading_gate" and r["id"] not in before
    ]
    return new[0] if new else None


def _ids(status: dict[str, Any], rem: Remediator) -> set[str]:
    return {r["id"] for r in runs(status, rem)}


def _resume_trading(status: dict[str, Any], rem: Remediator) -> None:
    code, body = call(as_stack(status, rem), "POST", "/trading/resume",
                      body={"reason": "signals checked by hand; test reset",
                            "signals_known_good": True})  # fmt: skip
    assert code == 200, (code, body)
    wait(lambda: trading_enabled(status) == 1.0, "the exporter sees trading on again")


# --- the tests -----------------------------------------------------------------------------------


def test_labels_off_the_allowlist_reach_no_sql_and_no_manifest(stack, r1) -> None:
    before = _world(stack)
    labels = {"severity": "critical", "component": "clickhouse", "remediation": "auto"}
    post_alerts(
        stack,
        [
            {"labels": {"alertname": "TAClickHouseDiskPressure", "procedure": "A",
                        "table": "ta_signals; DROP TABLE x", "replica": "chi-0", **labels}},
            {"labels": {"alertname": "TAFlinkJobFailed", "procedure": "A",
                        "namespace": "kube-system", "deployment": "torghut-ta", **labels}},
        ],
    )  # fmt: skip
    ignored = wait(lambda: len(_intake_ignored(r1)) >= 2 and _intake_ignored(r1), "journaled")
    assert any("label table='ta_signals; DROP TABLE x' is not on the allowlist" in r
               for r in ignored), ignored  # fmt: skip
    assert any("label namespace='kube-system' is not on the allowlist" in r for r in ignored)
    assert runs(stack, r1) == []
    assert _world(stack) == before


def test_the_kill_switch_annotation_stops_an_auto_run_before_any_step(stack, r1) -> None:
    before_world = _world(stack)
    before = _ids(stack, r1)
    _annotate(stack, "true")
    try:
        post_alerts(stack, [{"labels": GATE}])
        gate = wait(
            lambda: (
                (r := _gate_run(stack, r1, before)) and r["state"] not in ("new", "triage") and r
            ),
            "the trading gate run stopped",
        )
        assert "torghut.io/remediation-paused" in gate["reason"] or "annotation" in gate["reason"]
        assert not gate["acted"] and all(s["status"] == "pending" for s in gate["steps"]), gate
        assert _world(stack) == before_world
        code, body = call(as_stack(stack, r1), "POST", f"/runs/{gate['id']}/cancel",
                          body={"reason": "test: kill switch checked"})  # fmt: skip
        assert code in (200, 202), (code, body)
        wait_for(stack, r1, gate["id"], lambda r: r["state"] == "ended", what="cancelled")
    finally:
        _annotate(stack, None)
    assert _world(stack) == before_world


def test_sigkill_right_after_the_idempotency_key_then_restart_resumes_without_repeating(
    stack, r1
) -> None:
    head = git_head(stack)
    before = _ids(stack, r1)
    post_alerts(stack, [{"labels": {**GATE, "attempt": "sigkill"}}])

    def acting() -> dict[str, Any] | None:
        gate = _gate_run(stack, r1, before)
        if gate is None:
            return None
        step = run(stack, r1, gate["id"])["steps"][0]
        return gate if step["status"] in ("acting", "done") else None

    gate = poll_until(acting, timeout=300, interval=0.1, what="pause_trading acting")
    os.kill(r1.pid, signal.SIGKILL)
    poll_until(lambda: not pid_alive(r1.pid), timeout=60, what="r1 gone")
    killed = _row_step(r1, gate["id"])
    assert killed in ("acting", "done"), killed

    again = launch(stack, "r1", port=stack["port"], policy=POLICY)
    r1.pid = again.pid
    done = wait_for(stack, r1, gate["id"], lambda r: r["state"] == "ended", what="run resumed")
    assert done["outcome"] == "succeeded", done["reason"]
    pause = done["steps"][0]
    assert pause["name"] == "pause_trading" and pause["status"] == "done"
    commits = _commits(stack, head, f"Remediator-Run: {gate['id']}")
    assert len(commits) == 1, commits  # one change, not a second commit after the restart
    if killed == "acting":  # the restart re-read the real state, or found nothing done yet
        reasons = [d["reason"] for d in done["decisions"]]
        assert pause["detail"].startswith("found done after a restart") or any(
            "was not done before the restart" in r for r in reasons
        ), (pause, reasons)
    wait(lambda: trading_enabled(stack) == 0.0, "the exporter sees trading paused")


def _row_step(rem: Remediator, run_id: str) -> str:
    with sqlite3.connect(f"file:{rem.journal}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT status FROM steps WHERE run_id = ? ORDER BY idx LIMIT 1", (run_id,)
        ).fetchone()
    return str(row[0])


def test_two_processes_one_lease_only_the_holder_acts(stack, r1) -> None:
    _resume_trading(stack, r1)
    assert _lease_holder(stack) == "r1"
    r2 = launch(stack, "r2", port=free_port(), policy=POLICY)
    try:
        head = git_head(stack)

        def send(rem: Remediator, attempt: str) -> str:
            code, body = post_webhook(
                as_stack(stack, rem), notification(alert(**GATE, attempt=attempt))
            )
            assert code == 202, (code, body)
            [run_id] = body["runs"]
            return str(run_id)

        def fenced(rem: Remediator, run_id: str) -> dict[str, Any] | None:
            r = run(stack, rem, run_id)
            return r if any(d["gate"] == "lease" for d in r["decisions"]) else None

        # r2 plans (trading on, signals stale) and is stopped by the Lease before the step
        r2_run = send(r2, "fencing")
        other = wait(lambda: fenced(r2, r2_run), "r2 stopped by the Lease")
        assert not other["acted"] and other["state"] != "ended", other
        assert all(s["status"] == "pending" for s in other["steps"]), other["steps"]
        assert "not the leader" in other["reason"], other["reason"]
        # the holder acts on the same alert
        r1_run = send(r1, "fencing")
        done = wait_for(stack, r1, r1_run, lambda r: r["state"] == "ended", what="r1's run")
        assert done["outcome"] == "succeeded", done["reason"]
        assert len(_commits(stack, head, "Remediator-Run: ")) == 1
        assert run(stack, r2, r2_run)["steps"][0]["status"] == "pending"

        # the holder stops renewing (SIGSTOP): r2 takes the Lease once it expired and carries
        # its open run on; trading is already paused, so its change commits nothing
        os.kill(r1.pid, signal.SIGSTOP)
        try:
            wait(lambda: _lease_holder(stack) == "r2", "r2 holds the Lease", timeout=180)
            taken = wait_for(stack, r2, r2_run, lambda r: r["state"] == "ended",
                             what="r2's run once it leads")  # fmt: skip
            assert taken["outcome"] == "succeeded", taken["reason"]
            assert taken["steps"][0]["evidence"].get("changed") == "false", taken["steps"][0]
            assert len(_commits(stack, head, "Remediator-Run: ")) == 1
            # a person resumes trading (through the leader), so a new run would act again
            _resume_trading(stack, r2)
            head = git_head(stack)
        finally:
            os.kill(r1.pid, signal.SIGCONT)

        # r1, resumed with its Lease taken, plans but does not act
        late = send(r1, "after-takeover")
        stopped = wait(lambda: fenced(r1, late), "r1 stopped by the Lease")
        assert not stopped["acted"] and "not the leader" in stopped["reason"], stopped
        assert all(s["status"] == "pending" for s in stopped["steps"]), stopped["steps"]
        assert _lease_holder(stack) == "r2"
        assert _commits(stack, head, "Remediator-Run: ") == []
        assert trading_enabled(stack) == 1.0
        # the fenced run stays open and would act once r1 leads again: cancelled here
        code, body = call(as_stack(stack, r1), "POST", f"/runs/{late}/cancel",
                          body={"reason": "test: fencing checked"})  # fmt: skip
        assert code == 200, (code, body)
    finally:
        r2.stop()


def _gate_failed(stack: dict[str, Any], r1: Remediator, attempt: str) -> dict[str, Any]:
    """Post the trading gate alert (label `attempt`) and wait for its run to end."""
    before = _ids(stack, r1)
    post_alerts(stack, [{"labels": {**GATE, "attempt": attempt}}])
    gate = wait(lambda: _gate_run(stack, r1, before), f"the {attempt} run")
    return wait_for(stack, r1, gate["id"], lambda r: r["state"] == "ended", what="it ends")


def _paged(stack: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    return [
        a for a in am_alerts(stack, "TARemediationFailed") if a["labels"].get("run_id") == run_id
    ]


def test_argo_cd_refusing_the_sync_fails_safe_at_once_and_pages(stack, r1) -> None:
    wait(lambda: _lease_holder(stack) == "r1", "r1 leads again (r2 released the Lease)")
    _resume_trading(stack, r1)
    token_file = Path(
        yaml.safe_load(r1.config.read_text())["remediator"]["argocd"]["token"]["file"]
    )
    token = token_file.read_text()
    token_file.write_text("revoked-token")  # Argo CD answers 401 from now on
    try:
        done = _gate_failed(stack, r1, "argo-denied")
    finally:
        token_file.write_text(token)
    pause = done["steps"][0]
    assert done["outcome"] == "failed" and pause["status"] == "failed", done
    assert pause["attempts"] == 1, pause  # a refusal is not retried
    assert "401" in pause["detail"] and "remediator.argocd.token" in pause["detail"], pause
    assert done["steps"][1]["status"] == "pending"
    # the change was merged before Argo CD refused: the page says git may be ahead
    assert "its git change may already be merged" in done["reason"], done["reason"]
    wait(lambda: _paged(stack, done["id"]), "TARemediationFailed for the run")


def test_github_unreachable_retries_within_the_limit_then_fails_safe_and_pages(stack, r1) -> None:
    # the previous run merged TRADING_ENABLED=false but never synced it: a person resumes
    _resume_trading(stack, r1)
    stop_pid(env_pid(stack, "github"))  # the last test: nothing after it needs GitHub
    done = _gate_failed(stack, r1, "github-down")
    pause = done["steps"][0]
    assert done["outcome"] == "failed" and pause["status"] == "failed", done
    assert pause["attempts"] == 3, pause  # policy.step_attempts (default 3)
    assert "GitHub" in pause["detail"] and "attempts exhausted" in done["reason"], done["reason"]
    wait(lambda: _paged(stack, done["id"]), "TARemediationFailed for the run")
    assert trading_enabled(stack) == 1.0  # nothing changed where it counts
