"""Procedure C (replay) end to end on a whole sandbox stack with the real remediator in auto mode:
Kafka holds 2.5 hours of backdated trades (`history_hours`), the TA job stand-in has Flink's
start-position semantics, and the operator uses `ta-remediator` (the CLI) as the runbook says.

The tests share one stack and run in order: the trap (a new group id alone replays nothing),
a plan made stale by it, a replay from two hours ago to its end (refusals on the way), then a
replay rolled back mid-way.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from e2e_clickhouse import client
from e2e_cluster import flinkdeployment, steady, wait_job
from e2e_gitops import APP_PATH, file_at_main

from remediator.actuators import argocd, no_fence
from remediator.config import load_remediator_config
from sandbox import stack as sandbox_stack
from sandbox.cli import summary
from sandbox.gitops import GitRepo, git
from sandbox.s3 import client as s3_client
from sandbox.s3 import parse_s3_uri
from sandbox.testing.remediator import call, wait_run
from sandbox.util import poll_until

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
STEADY_GROUP = "torghut-ta-v1"
TOPIC = "torghut.trades.v1"
OVERRIDES = {
    "remediator": {
        "policy": {"verify_timeout": "180s", "verify_every": "2s", "retry_backoff": "1s"},
        "replay": {"output_consumers": ["torghut (trading service)"], "silence_for": "1h"},
    },
    "report": {"freshness": "30s"},
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("procedure-c") / "stack"
    try:
        sandbox_stack.up(
            workdir, timings="fast", remediator_mode="auto", remediator_overrides=OVERRIDES,
            history_hours=2.5, log=lambda _m: None,
        )  # fmt: skip
        info: dict[str, Any] = summary(workdir)
        info["dir"] = str(workdir)
        steady(info)
        yield info
    finally:
        sandbox_stack.down(workdir, log=lambda _m: None)


# --- helpers --------------------------------------------------------------------------------------


def cli(stack: dict[str, Any], *args: str) -> tuple[int, Any, str]:
    """`ta-remediator ARGS` as an operator runs it: (exit code, JSON answer or None, stderr)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TA_REMEDIATOR_URL": stack["remediator"],
        "TA_REMEDIATOR_TOKEN_FILE": stack["remediator_token_file"],
    }
    proc = subprocess.run(
        [sys.executable, "-m", "remediator.cli", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    out = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else None
    return proc.returncode, out, proc.stderr


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def committed(stack: dict[str, Any], group: str) -> dict[int, int]:
    async def read() -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=stack["kafka_bootstrap"])
        await admin.start()
        try:
            tps = [TopicPartition(TOPIC, p) for p in range(3)]
            got = await admin.list_consumer_group_offsets(group, partitions=tps)
            return {tp.partition: m.offset for tp, m in got.items() if m.offset >= 0}
        finally:
            await admin.close()

    return asyncio.run(read())


def window(stack: dict[str, Any], start: datetime, end: datetime) -> tuple[int, int, datetime]:
    """ta_signals in [start, end): rows (FINAL), distinct keys, the oldest ingest_ts (FINAL)."""
    ops = client(stack, "_ops")
    try:
        rows, keys, oldest = ops.query(
            "SELECT count(), uniqExact(symbol, event_ts), min(ingest_ts) FROM torghut.ta_signals "
            "FINAL WHERE event_ts >= {a:DateTime64(3)} AND event_ts < {b:DateTime64(3)}",
            parameters={"a": start.replace(tzinfo=None), "b": end.replace(tzinfo=None)},
        ).result_rows[0]
    finally:
        ops.close()
    return int(rows), int(keys), oldest.replace(tzinfo=UTC)


def ta_log(stack: dict[str, Any]) -> str:
    return (Path(stack["dir"]) / "logs" / "ta-writer.log").read_text()


def push(
    stack: dict[str, Any], tmp: Path, edit: dict[str, str], message: str, image: str = ""
) -> str:
    """A person's direct change of ta/configmap.yaml (and the image), a restartNonce bump,
    synced."""
    work = tmp / f"clone-{len(list(tmp.iterdir()))}"
    subprocess.run(["git", "clone", "-q", stack["git_remote"], str(work)], check=True)
    git(work, "config", "user.name", "oncall")
    git(work, "config", "user.email", "oncall@torghut.invalid")
    repo = GitRepo(Path(stack["git_remote"]), work)
    cm = f"{APP_PATH}/ta/configmap.yaml"
    text = repo.read(cm)
    for key, value in edit.items():
        lines = [ln for ln in text.splitlines() if ln.strip().startswith(f"{key}:")]
        text = text.replace(lines[0], f"  {key}: {value}")
    repo.write(cm, text)
    fd = f"{APP_PATH}/ta/flinkdeployment.yaml"
    job = repo.read(fd)
    nonce = next(ln for ln in job.splitlines() if ln.strip().startswith("restartNonce:"))
    job = job.replace(nonce, f"  restartNonce: {int(nonce.split(':')[1]) + 1}")
    if image:
        line = next(ln for ln in job.splitlines() if ln.strip().startswith("image:"))
        job = job.replace(line, f"  image: {image}")
    repo.write(fd, job)
    sha = repo.commit_and_push(message)
    cfg = load_remediator_config(Path(stack["dir"]) / "remediator.yaml")
    argo = cfg.remediator.argocd
    assert argo is not None
    asyncio.run(argocd.sync(cfg=argo, app=argo.app, revision=sha, timeout=120, fence=no_fence))
    return sha


def job_id(stack: dict[str, Any]) -> str:
    return str(((flinkdeployment(stack).get("status") or {}).get("jobStatus") or {}).get("jobId"))


def new_job_running(stack: dict[str, Any], before: str) -> None:
    poll_until(
        lambda: job_id(stack) != before and flinkdeployment(stack)["status"]["jobStatus"]["state"]
        == "RUNNING",
        timeout=180, interval=1.0, what="a new job RUNNING",
    )  # fmt: skip


def silence_state(stack: dict[str, Any], sid: str) -> str:
    with urllib.request.urlopen(f"{stack['alertmanager']}/api/v2/silence/{sid}", timeout=30) as r:
        return str(json.loads(r.read())["status"]["state"])


def steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in run["steps"]}


# --- the tests ----------------------------------------------------------------------------------


def test_a_new_group_id_alone_replays_nothing_and_makes_a_plan_stale(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    # a checkpoint completed (the job commits only after one): there is state to restore
    poll_until(lambda: committed(stack, STEADY_GROUP), timeout=120, interval=2.0,
               what="the steady-state job's first checkpoint")  # fmt: skip
    now = datetime.now(UTC)
    rc, plan, err = cli(stack, "replay", "plan", "--from", iso(now - timedelta(hours=2)),
                        "--reason", "e2e: a plan the trap makes stale")  # fmt: skip
    assert rc == 0, err
    before_rows = window(stack, now - timedelta(hours=2), now - timedelta(minutes=30))
    assert before_rows[0] > 500, before_rows  # the history was processed once
    first = job_id(stack)
    trap = "torghut-ta-trap-1"
    push(stack, tmp_path, {"TA_GROUP_ID": trap}, "replay by changing the group id only")
    new_job_running(stack, first)
    # the job restored its checkpoint: the new group starts where the old one was, not 2h ago
    poll_until(lambda: committed(stack, trap), timeout=120, interval=2.0, what="a trap commit")
    assert f"as group {trap} from checkpoint" in ta_log(stack)
    after_rows = window(stack, now - timedelta(hours=2), now - timedelta(minutes=30))
    assert after_rows == before_rows  # not one row of the window rewritten
    # the steady state changed since the plan: starting it is refused, nothing changed
    rc, _, err = cli(stack, "replay", "start", plan["run"])
    assert rc == 1 and "re-plan required" in err and trap in err, err
    assert f"TA_GROUP_ID: {trap}" in file_at_main(stack, "ta/configmap.yaml")
    # back to the steady group (last-state again restores the newest checkpoint: fine here)
    second = job_id(stack)
    push(stack, tmp_path, {"TA_GROUP_ID": STEADY_GROUP}, "back to the steady group")
    new_job_running(stack, second)
    steady(stack)


def test_a_replay_from_two_hours_ago_rewrites_the_window_and_returns(
    stack: dict[str, Any],
) -> None:
    steady(stack)  # RUNNING and STABLE: the plan takes a savepoint first
    now = datetime.now(UTC)
    start = now - timedelta(hours=2)
    poll_until(lambda: committed(stack, STEADY_GROUP), timeout=120, interval=2.0,
               what="steady-state commits")  # fmt: skip
    before = committed(stack, STEADY_GROUP)
    # refusals first: older than retention, bad input
    rc, _, err = cli(stack, "replay", "plan", "--from", iso(now - timedelta(hours=3)),
                     "--reason", "e2e")  # fmt: skip
    assert rc == 1 and "older than the earliest retained record of torghut.trades.v1" in err, err
    rc, _, err = cli(stack, "replay", "plan", "--from", "2026-12-01T10:00:00", "--reason", "e2e")
    assert rc == 1 and "has no time zone" in err, err
    rc, _, err = cli(stack, "replay", "plan", "--from", iso(start), "--reason", "e2e",
                     "--group-id", STEADY_GROUP)  # fmt: skip
    assert rc == 1 and "equals the steady-state group" in err, err

    rc, plan, err = cli(stack, "replay", "plan", "--from", iso(start), "--to",
                        iso(now - timedelta(minutes=30)), "--reason", "e2e: bad signals")  # fmt: skip
    assert rc == 0, err
    names = [s["name"] for s in plan["steps"]]
    assert names[:5] == ["record_steady_state", "take_savepoint", "pause_trading",
                         "silence_replay_alerts", "start_replay"], names  # fmt: skip
    begin = next(s for s in plan["steps"] if s["name"] == "start_replay")["target"]
    group = begin["group"]
    assert group.startswith(f"{STEADY_GROUP}-replay-") and begin["upgrade_mode"] == "stateless"
    ms = int(start.timestamp()) * 1000
    assert begin["starting_offsets"] == f"timestamp:{ms}"
    notes = " | ".join(plan["notes"])
    assert "earliest_retained" in notes and "estimated_seconds" in notes, notes
    assert "a new group id alone would replay nothing" in notes, notes
    assert "torghut (trading service)" in notes, notes
    assert "initialSavepointPath" in notes and "no savepoint" not in notes, notes
    job_before_savepoint = job_id(stack)

    rc, _, err = cli(stack, "replay", "start", plan["run"])
    assert rc == 0, err
    rc, _, err = cli(stack, "replay", "plan", "--from", iso(start), "--reason", "e2e: second")
    assert rc == 1 and f"already in progress (run {plan['run']})" in err, err

    run = wait_run(stack, plan["run"], lambda r: r["outcome"] is not None, what="the replay",
                   timeout=900)  # fmt: skip
    assert run["outcome"] == "succeeded", (run["reason"], run["steps"])
    done = steps(run)
    assert 'value: "false"' in file_at_main(stack, "knative-service.yaml")  # trading paused
    log = ta_log(stack)
    assert f"as group {group} from TA_KAFKA_STARTING_OFFSETS={ms}" in log
    assert f"as group {STEADY_GROUP} from TA_KAFKA_STARTING_OFFSETS=committed" in log
    rows, keys, oldest = window(stack, start, now - timedelta(minutes=30))
    assert rows == keys and rows > 500, (rows, keys)
    replay_began = datetime.fromisoformat(done["start_replay"]["evidence"]["started_at"])
    assert oldest >= replay_began - timedelta(seconds=1), (oldest, replay_began)
    for name in ("verify_replay_caught_up", "verify_rewritten", "verify_steady_offsets",
                 "verify_job", "verify_freshness"):  # fmt: skip
        assert done[name]["status"] == "done", done[name]
    # the savepoint taken before the replay: journaled, reported by the operator, in S3
    saved = done["take_savepoint"]
    assert saved["status"] == "done", saved
    location = saved["evidence"]["location"]
    fd_now = flinkdeployment(stack)
    savepoints_dir = fd_now["spec"]["flinkConfiguration"]["state.savepoints.dir"]
    assert location.startswith(f"{savepoints_dir}/savepoint-{job_before_savepoint[:6]}-"), location
    assert fd_now["status"]["jobStatus"]["savepointInfo"]["lastSavepoint"]["location"] == location
    assert "initialSavepointPath" in saved["evidence"]["restore"]
    assert f"job {job_before_savepoint} wrote savepoint {location}" in log
    bucket, prefix = parse_s3_uri(location + "/")
    body = s3_client(stack["s3"]).get_object(Bucket=bucket, Key=f"{prefix}_metadata")
    offsets = json.loads(body["Body"].read())["offsets"]
    # the steady-state job's position, at or past the offsets recorded just before it
    held = {f"{o['topic']}:{o['partition']}": o["offset"] for o in offsets}
    recorded = json.loads(done["record_steady_state"]["evidence"]["committed"])
    assert recorded and all(held[k] >= o for k, o in recorded.items()), (held, recorded)
    # the way back: the steady group, last-state, the same digest; its offsets never moved back
    cm, fd = file_at_main(stack, "ta/configmap.yaml"), flinkdeployment(stack)
    assert f"TA_GROUP_ID: {STEADY_GROUP}" in cm and "TA_KAFKA_STARTING_OFFSETS: earliest" in cm
    assert fd["spec"]["job"]["upgradeMode"] == "last-state"
    assert fd["spec"]["image"] == done["record_steady_state"]["target"]["image"]
    after = committed(stack, STEADY_GROUP)
    assert all(after[p] >= o for p, o in before.items()), (before, after)
    # the replay group's silence is gone; trading waits for a person
    sid = done["silence_replay_alerts"]["evidence"]["silence_ids"]
    assert silence_state(stack, sid) == "expired"
    assert "trading stays paused until a person resumes it" in run["reason"]


def test_a_replay_rolled_back_mid_way_returns_to_the_steady_offsets(
    stack: dict[str, Any],
) -> None:
    steady(stack)
    rc, _, err = cli(stack, "rollback", "run-nope", "--reason", "e2e")
    assert rc == 1 and "no run 'run-nope'" in err, err
    rc, plan, err = cli(stack, "replay", "plan", "--from",
                        iso(datetime.now(UTC) - timedelta(hours=1)), "--reason", "e2e: to roll back",
                        "--signals-known-good")  # fmt: skip
    assert rc == 0, err
    assert "pause_trading" not in [s["name"] for s in plan["steps"]]
    rc, _, err = cli(stack, "rollback", plan["run"], "--reason", "e2e")
    assert rc == 1 and "changed nothing a rollback would undo" in err, err
    assert cli(stack, "replay", "start", plan["run"])[0] == 0
    run = wait_run(
        stack, plan["run"],
        lambda r: steps(r)["start_replay"]["status"] == "done" or r["outcome"] is not None,
        what="the replay job started", timeout=600,
    )  # fmt: skip
    assert run["outcome"] is None, run
    recorded = json.loads(steps(run)["record_steady_state"]["evidence"]["committed"])
    rc, rollback, err = cli(stack, "rollback", plan["run"], "--reason", "e2e: wrong window")
    assert rc == 0, err
    location = steps(run)["take_savepoint"]["evidence"]["location"]
    assert any(location in n and "initialSavepointPath" in n for n in rollback["notes"]), rollback
    back = wait_run(stack, rollback["run"], lambda r: r["outcome"] is not None,
                    what="the rollback", timeout=900)  # fmt: skip
    assert back["outcome"] == "succeeded", (back["reason"], back["steps"])
    replay = wait_run(stack, plan["run"], lambda r: r["outcome"] is not None, what="replay end")
    assert replay["outcome"] == "cancelled" and "rolled back by run" in replay["reason"]
    cm, fd = file_at_main(stack, "ta/configmap.yaml"), flinkdeployment(stack)
    assert f"TA_GROUP_ID: {STEADY_GROUP}" in cm
    assert fd["spec"]["job"]["upgradeMode"] == "last-state"
    after = committed(stack, STEADY_GROUP)
    assert all(after[int(k.rsplit(":", 1)[1])] >= o for k, o in recorded.items()), (recorded, after)
    silence = steps(replay)["silence_replay_alerts"]["evidence"]["silence_ids"]
    assert silence_state(stack, silence) == "expired"
    wait_job(stack, lambda j: j[1:] == ("RUNNING", "STABLE"), "the job STABLE after rollback")
    status, data = call(stack, "GET", "/status")
    assert status == 200 and plan["run"] not in data["open_runs"]


def test_an_image_rollback_restores_a_digest_from_the_manifest_history(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    steady(stack)
    good = flinkdeployment(stack)["spec"]["image"]
    good_digest = good.split("@", 1)[1]
    rc, _, err = cli(stack, "image", "rollback", "--to", good_digest, "--reason", "e2e")
    assert rc == 1 and "is already the image" in err, err
    rc, _, err = cli(stack, "image", "rollback", "--to", "sha256:" + "0" * 64, "--reason", "e2e")
    assert rc == 1 and "not in the git history" in err and good_digest in err, err
    rc, _, err = cli(stack, "image", "rollback", "--to", "latest", "--reason", "e2e")
    assert rc == 1 and "is not an image digest" in err, err
    before = job_id(stack)
    bad = good.split("@", 1)[0] + "@sha256:" + "b" * 64
    push(stack, tmp_path, {}, "deploy a bad TA image", image=bad)
    new_job_running(stack, before)
    rc, run, err = cli(stack, "image", "rollback", "--to", good_digest, "--reason", "e2e: bad")
    assert rc == 0, err
    done = wait_run(stack, run["run"], lambda r: r["outcome"] is not None, what="image rollback",
                    timeout=600)  # fmt: skip
    assert done["outcome"] == "succeeded", (done["reason"], done["steps"])
    assert flinkdeployment(stack)["spec"]["image"] == good
    assert [s["name"] for s in done["steps"]] == ["set_image", "verify_job", "verify_freshness"]
