"""Helpers for the remediator's end-to-end tests on a whole sandbox stack: the stack's own
ClickHouse identities, its tmpfs as another tenant fills and frees it, alerts posted to its
Alertmanager, the FlinkDeployment and its Events, the git remote's history, runs."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import urllib.request
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from prometheus_client.parser import text_string_to_metric_families

from sandbox.testing.remediator import call, wait_run
from sandbox.util import poll_until

MIB = 2**20
NAMESPACE, DEPLOYMENT = "torghut", "torghut-ta"
MICROBARS = ["event_ts", "symbol", "open", "high", "low", "close", "volume", "trade_count"]
APP_PATH = "argocd/applications/torghut"


# --- ClickHouse and its disk ------------------------------------------------------------------


def client(stack: dict[str, Any], role: str = "") -> Client:
    """role "" (the TA writer), "_ops" (read only) or "_remediator"."""
    host, _, port = stack["clickhouse_http"].removeprefix("http://").rpartition(":")
    return clickhouse_connect.get_client(
        host=host, port=int(port), username=stack[f"clickhouse{role}_user"],
        password=Path(stack[f"clickhouse{role}_password_file"]).read_text(),
    )  # fmt: skip


def insert_old_day(stack: dict[str, Any], day: date, rows: int) -> None:
    """A day of incompressible microbars, as the writer would have written it back then."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rnd = random.Random(day.toordinal())
    data = [
        [start + timedelta(milliseconds=i), f"S{i % 50}", rnd.random(), rnd.random(),
         rnd.random(), rnd.random(), rnd.random(), rnd.getrandbits(32)]
        for i in range(rows)
    ]  # fmt: skip
    writer = client(stack)
    try:
        writer.insert("torghut.ta_microbars", data, column_names=MICROBARS)
    finally:
        writer.close()


def partitions(stack: dict[str, Any], table: str = "ta_microbars") -> dict[str, int]:
    """Active partitions of a TA table: partition -> bytes on disk."""
    ops = client(stack, "_ops")
    try:
        rows = ops.query(
            "SELECT partition, sum(bytes_on_disk) FROM system.parts WHERE active "
            f"AND database = 'torghut' AND table = '{table}' GROUP BY partition"
        ).result_rows
    finally:
        ops.close()
    return {str(p): int(b) for p, b in rows}


def disk(stack: dict[str, Any]) -> tuple[int, int]:
    vfs = os.statvfs(stack["clickhouse_data_mount"])
    return vfs.f_bavail * vfs.f_frsize, vfs.f_blocks * vfs.f_frsize


def filler(stack: dict[str, Any]) -> Path:
    return Path(stack["clickhouse_data_mount"]) / "other-tenant.bin"


def fill(stack: dict[str, Any], *, leave: int = 0) -> None:
    """Another tenant of the volume writes until only `leave` bytes are free (0: ENOSPC)."""
    path = filler(stack)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (MIB, 1 << 16, 1 << 12):
            try:
                while disk(stack)[0] - size >= leave:
                    os.write(fd, bytes(size))
            except OSError as exc:
                assert exc.errno == 28, exc  # ENOSPC
    finally:
        os.close(fd)


def free_a_little(stack: dict[str, Any], nbytes: int) -> None:
    """The other tenant gives back `nbytes` of its file (what a person would ask of it)."""
    path = filler(stack)
    os.truncate(path, max(0, path.stat().st_size - nbytes))


# --- the cluster ------------------------------------------------------------------------------


async def _kube(kubeconfig: str, fn: Callable[[Any], Any]) -> Any:
    from kubernetes_asyncio import config

    api = await config.new_client_from_config(config_file=kubeconfig)
    async with api:
        return await fn(api)


def flinkdeployment(stack: dict[str, Any]) -> dict[str, Any]:
    from kubernetes_asyncio import client as k

    async def get(api: Any) -> Any:
        return await k.CustomObjectsApi(api).get_namespaced_custom_object(
            "flink.apache.org", "v1beta1", NAMESPACE, "flinkdeployments", DEPLOYMENT
        )

    result: dict[str, Any] = asyncio.run(_kube(stack["kubeconfig"], get))
    return result


def job_status(stack: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(spec.job.state, status.jobStatus.state, status.lifecycleState)."""
    fd = flinkdeployment(stack)
    status = fd.get("status") or {}
    return (
        ((fd.get("spec") or {}).get("job") or {}).get("state"),
        (status.get("jobStatus") or {}).get("state"),
        status.get("lifecycleState"),
    )


def events(stack: dict[str, Any]) -> list[dict[str, Any]]:
    """Events about the FlinkDeployment (reason, message, type), oldest first."""
    from kubernetes_asyncio import client as k

    async def get(api: Any) -> Any:
        found = await k.CoreV1Api(api).list_namespaced_event(NAMESPACE)
        return [
            {"reason": e.reason, "message": e.message, "type": e.type}
            for e in found.items
            if e.involved_object.name == DEPLOYMENT
        ]

    result: list[dict[str, Any]] = asyncio.run(_kube(stack["kubeconfig"], get))
    return result


def wait_job(
    stack: dict[str, Any], ok: Callable[[tuple[str | None, str | None, str | None]], bool],
    what: str, timeout: float = 300,
) -> tuple[str | None, str | None, str | None]:  # fmt: skip
    last: list[object] = []

    def check() -> tuple[str | None, str | None, str | None] | None:
        got = job_status(stack)
        last[:] = [got]
        return got if ok(got) else None

    try:
        return poll_until(check, timeout=timeout, interval=1.0, what=what)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; last (spec, state, lifecycle): {last}") from None


def exporter_verdicts(stack: dict[str, Any]) -> dict[str, str]:
    with urllib.request.urlopen(f"{stack['exporter']}/report", timeout=30) as resp:
        report = json.loads(resp.read())
    return {c["component"]: c["status"] for c in report["components"]}


# --- git ----------------------------------------------------------------------------------------


def git(stack: dict[str, Any], *args: str) -> str:
    out = subprocess.run(
        ["git", "--git-dir", stack["git_remote"], *args],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return out.stdout


def run_commits(stack: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    """The non-merge commits on main that carry `run_id`, oldest first: step, files, and the
    changed lines (-/+ without the diff headers)."""
    shas = git(stack, "log", "--no-merges", "--reverse", "--format=%H", "main").split()
    commits = []
    for sha in shas:
        message = git(stack, "show", "-s", "--format=%B", sha)
        if f"Remediator-Run: {run_id}" not in message:
            continue
        step = message.split("Remediator-Step: ", 1)[1].split()[0]
        files = git(stack, "show", "--format=", "--name-only", sha).split()
        patch = git(stack, "show", "--format=", "-U0", sha).splitlines()
        lines = [
            ln for ln in patch
            if ln[:1] in "+-" and not ln.startswith(("+++", "---"))
        ]  # fmt: skip
        commits.append({"sha": sha, "step": step, "files": files, "lines": lines})
    return commits


def file_at_main(stack: dict[str, Any], name: str) -> str:
    return git(stack, "show", f"main:{APP_PATH}/{name}")


# --- Alertmanager and the remediator ------------------------------------------------------------


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


DISK_PRESSURE = {
    "severity": "critical", "component": "clickhouse", "procedure": "A", "remediation": "auto",
    "replica": "chi-0", "disk": "default",
}  # fmt: skip
JOB_FAILED = {
    "severity": "critical", "component": "flink", "procedure": "A", "remediation": "auto",
    "deployment": DEPLOYMENT,
}  # fmt: skip


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


def metrics(stack: dict[str, Any]) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(f"{stack['remediator']}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


# --- GitHub, as a person reviewing the remediator's pull requests --------------------------------

GITHUB_REPO = "torghut/gitops"


def github(stack: dict[str, Any], method: str, path: str, body: object = None) -> Any:
    token = Path(stack["github_token_file"]).read_text().strip()
    req = urllib.request.Request(
        f"{stack['github_api']}/repos/{GITHUB_REPO}{path}",
        data=None if body is None else json.dumps(body).encode(), method=method,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def open_pulls(stack: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    pulls: list[dict[str, Any]] = github(stack, "GET", "/pulls?state=open&per_page=100")
    return [p for p in pulls if p["head"]["ref"].startswith(f"remediator/{run_id}/")]


def merge(stack: dict[str, Any], pull: dict[str, Any]) -> str:
    """Merge the pull request as its reviewer: the merge commit's sha."""
    merged = github(
        stack, "PUT", f"/pulls/{pull['number']}/merge",
        {"sha": pull["head"]["sha"], "merge_method": "merge"},
    )  # fmt: skip
    assert merged["merged"] is True, merged
    return str(merged["sha"])


def start_stack(
    workdir: Path, *, mode: str, overrides: dict[str, Any], disk_limit_mib: int,
    timings: str = "fast",
) -> dict[str, Any]:  # fmt: skip
    """`ta-sandbox up` with the remediator in `mode`; the caller runs `stack.down` whatever
    happens. Returns `status --json`'s view plus `dir`."""
    from sandbox import stack
    from sandbox.cli import summary

    if os.geteuid() != 0:
        raise AssertionError(
            f"these tests mount a tmpfs for ClickHouse: they need root (euid {os.geteuid()})"
        )
    stack.up(
        workdir, timings=timings, disk_limit_mib=disk_limit_mib, remediator_mode=mode,
        remediator_overrides=overrides, log=lambda _m: None,
    )  # fmt: skip
    info: dict[str, Any] = summary(workdir)
    info["dir"] = str(workdir)
    return info


# --- procedure A's shared setup ----------------------------------------------------------------

LIMIT_MIB = 64
FRESHNESS_S = 30  # the remediator's freshness bound (report.freshness) in these stacks
OVERRIDES = {
    "remediator": {
        "policy": {
            "cooldown": "1s",  # the tests run procedure A back to back on one target
            "max_runs_per_hour": 30,
            "verify_timeout": "60s",
            "verify_every": "2s",
            "retry_backoff": "1s",
            # the sandbox's Kafka holds the stack's own lifetime only: older days are
            # unreplayable, which would need a person
            "drop": {"keep_days": 2, "max_partitions": 3, "approve_unreplayable": False},
        }
    },
    "report": {"freshness": f"{FRESHNESS_S}s"},
}
STEPS = "torghut_ta_remediation_steps_total"
RUNS = "torghut_ta_remediation_runs_total"


def steady(stack: dict[str, Any], timeout: float = 300) -> None:
    """The job RUNNING and STABLE and the exporter judging the signals fresh."""
    wait_job(stack, lambda j: j[1:] == ("RUNNING", "STABLE"), "the TA job RUNNING and STABLE",
             timeout=timeout)  # fmt: skip
    poll_until(
        lambda: exporter_verdicts(stack).get("freshness") == "healthy",
        timeout=timeout, interval=2.0, what="the exporter judging the signals fresh",
    )  # fmt: skip


def days(*ago: int) -> list[date]:
    today = datetime.now(UTC).date()
    return [today - timedelta(days=n) for n in ago]


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


def ended(stack: dict[str, Any], run_id: str, timeout: float = 600) -> dict[str, Any]:
    return wait_run(stack, run_id, lambda r: r["outcome"] is not None, what="the run to end",
                    timeout=timeout)  # fmt: skip


def full_disk_and_failed_job(stack: dict[str, Any]) -> None:
    fill(stack)
    wait_job(stack, lambda j: "FAILED" in j[1:], "the TA job FAILED on its inserts")


def prometheus_alert(stack: dict[str, Any], alertname: str, **labels: str) -> str | None:
    """The state (pending, firing) of an alert in the stack's real Prometheus, or None."""
    with urllib.request.urlopen(f"{stack['prometheus']}/api/v1/alerts", timeout=30) as resp:
        found = json.loads(resp.read())["data"]["alerts"]
    for a in found:
        have = a["labels"]
        if have.get("alertname") == alertname and all(have.get(k) == v for k, v in labels.items()):
            return str(a["state"])
    return None
