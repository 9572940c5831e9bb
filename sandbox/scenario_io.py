"""What `ta-sandbox scenario` reads and touches on a running stack: the HTTP APIs of Prometheus,
Alertmanager, the exporter, the remediator (as the `scenario` API identity) and the kube
stand-in's job view; processes from the state file; ClickHouse's volume as another tenant.

`status` below is `ta-sandbox status --json`'s object plus `dir`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from sandbox import state

NAMESPACE, DEPLOYMENT = "torghut", "torghut-ta"
MIB = 2**20
APP = "argocd/applications/torghut"
ARGOCD_APP = "torghut-ta"
Status = Mapping[str, Any]


def http_json(
    url: str, *, method: str = "GET", body: object = None, token: str | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:  # fmt: skip
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            code, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        code, raw = exc.code, exc.read()
    try:
        return code, json.loads(raw) if raw else None
    except ValueError:
        return code, raw.decode(errors="replace")


def _ok(code: int, body: Any, what: str) -> Any:
    if code >= 300:
        raise RuntimeError(f"{what}: HTTP {code}: {body}")
    return body


# --- observing -----------------------------------------------------------------------------------


def prometheus_alerts(status: Status) -> list[dict[str, Any]]:
    """Prometheus's alerts (pending and firing), from /api/v1/alerts."""
    body = _ok(*http_json(f"{status['prometheus']}/api/v1/alerts"), "Prometheus alerts")
    return list(body["data"]["alerts"])


def alertmanager_alerts(status: Status) -> list[dict[str, Any]]:
    body = _ok(*http_json(f"{status['alertmanager']}/api/v2/alerts?active=true"), "Alertmanager")
    return list(body)


def report(status: Status) -> dict[str, Any]:
    body = _ok(*http_json(f"{status['exporter']}/report"), "the exporter's report")
    return dict(body)


def exporter_samples(status: Status, name: str) -> list[float]:
    """Every sample of `name` the exporter serves."""
    with urllib.request.urlopen(f"{status['exporter']}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    return [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def exporter_metric(status: Status, name: str) -> float | None:
    """The one sample of `name` the exporter serves, or None when it has none."""
    values = exporter_samples(status, name)
    return values[0] if len(values) == 1 else None


def _token(status: Status) -> str:
    return Path(status["remediator_scenario_token_file"]).read_text().strip()


def remediator(status: Status, method: str, path: str, body: object = None) -> Any:
    """A remediator API call as the `scenario` identity (journaled under that name)."""
    code, got = http_json(
        f"{status['remediator']}{path}", method=method, body=body, token=_token(status)
    )
    return _ok(code, got, f"remediator {method} {path}")


def runs_since(status: Status, since: float) -> list[dict[str, Any]]:
    """The runs of what happened since `since` (epoch seconds, the injection), oldest first, in
    full: created after it, or older but given an alert first seen after it (an open run takes
    a new alert of its target: a predicted-disk run re-planned by the critical alert). A run
    that merely ends or changes after it is an earlier scenario's."""
    listed = remediator(status, "GET", "/runs?limit=200")["runs"]
    full = [
        remediator(status, "GET", f"/runs/{r['id']}")
        for r in listed
        if r["created_at"] >= since or r["outcome"] is None or (r["ended_at"] or 0.0) >= since
    ]
    mine = [
        r for r in full
        if r["created_at"] >= since or any(a["first_seen"] >= since for a in r["alerts"])
    ]  # fmt: skip
    return sorted(mine, key=lambda r: r["created_at"])


def job(status: Status) -> dict[str, Any]:
    """The kube stand-in's view of the TA job (desiredState, jobState, lifecycleState, ...)."""
    server, token = _kube_admin(status)
    url = f"{server}/sandbox/flinkdeployments/{NAMESPACE}/{DEPLOYMENT}/job"
    return dict(_ok(*http_json(url, token=token), "the TA job's state"))


def _kube_admin(status: Status) -> tuple[str, str | None]:
    doc = yaml.safe_load(Path(status["kubeconfig"]).read_text())
    server = doc["clusters"][0]["cluster"]["server"].rstrip("/")
    return server, (doc.get("users") or [{}])[0].get("user", {}).get("token")


# --- faults --------------------------------------------------------------------------------------


def pid_of(status: Status, name: str) -> int:
    for svc in state.load(Path(status["dir"])):
        if svc.name == name and svc.pid > 0:
            return svc.pid
    raise RuntimeError(f"no {name} process in {status['dir']}/{state.STATE_FILE}")


def freeze(status: Status, name: str) -> None:
    """SIGSTOP: the service hangs (connections open, nothing answered), as a stuck process."""
    os.kill(pid_of(status, name), signal.SIGSTOP)


def thaw(status: Status, name: str) -> None:
    os.kill(pid_of(status, name), signal.SIGCONT)


def fail_job(status: Status, message: str, type_: str) -> None:
    """The job throws (the operator records it FAILED), as a bug in the job would."""
    server, token = _kube_admin(status)
    url = f"{server}/sandbox/flinkdeployments/{NAMESPACE}/{DEPLOYMENT}/fail"
    _ok(*http_json(url, method="POST", body={"message": message, "type": type_}, token=token),
        "failing the job")  # fmt: skip


def filler(status: Status) -> Path:
    return Path(status["clickhouse_data_mount"]) / "other-tenant.bin"


def disk(status: Status) -> tuple[int, int]:
    """(free, total) bytes of ClickHouse's volume."""
    vfs = os.statvfs(status["clickhouse_data_mount"])
    return vfs.f_bavail * vfs.f_frsize, vfs.f_blocks * vfs.f_frsize


def fill(status: Status, *, leave: int = 0) -> None:
    """Another tenant of the volume writes until only `leave` bytes are free (0: full)."""
    fd = os.open(filler(status), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (MIB, 1 << 16, 1 << 12):
            try:
                while disk(status)[0] - size >= leave:
                    os.write(fd, bytes(size))
            except OSError as exc:
                if exc.errno != 28:  # ENOSPC is the point
                    raise
    finally:
        os.close(fd)


def free_some(status: Status, nbytes: int) -> None:
    path = filler(status)
    os.truncate(path, max(0, path.stat().st_size - nbytes))


def insert_old_day(status: Status, day: date, rows: int) -> None:
    """A day of incompressible microbars, as the writer would have written it back then."""
    import clickhouse_connect

    host, _, port = status["clickhouse_http"].removeprefix("http://").rpartition(":")
    client = clickhouse_connect.get_client(
        host=host, port=int(port), username=status["clickhouse_user"],
        password=Path(status["clickhouse_password_file"]).read_text(),
    )  # fmt: skip
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rnd = random.Random(day.toordinal())
    data = [
        [start + timedelta(milliseconds=i), f"S{i % 50}", rnd.random(), rnd.random(),
         rnd.random(), rnd.random(), rnd.random(), rnd.getrandbits(32)]
        for i in range(rows)
    ]  # fmt: skip
    columns = ["event_ts", "symbol", "open", "high", "low", "close", "volume", "trade_count"]
    try:
        client.insert("torghut.ta_microbars", data, column_names=columns)
    finally:
        client.close()


def days_ago(*n: int, at: float | None = None) -> list[date]:
    """The UTC dates `n` days before now, or before epoch second `at` (a check made after a
    scenario that may have crossed midnight names the days its injection chose)."""
    today = (datetime.now(UTC) if at is None else datetime.fromtimestamp(at, UTC)).date()
    return [today - timedelta(days=k) for k in n]


# --- a person's repairs ----------------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def restart_job(status: Status, why: str) -> None:
    """What a person does for a failed job: `spec.job.state: running` and a restartNonce bump on
    main, pushed directly (the sandbox's admin bypass of the pull-request rule); Argo CD syncs
    it and the operator redeploys."""
    remote = status["git_remote"]
    with tempfile.TemporaryDirectory(prefix="ta-scenario-") as tmp:
        work = Path(tmp) / "gitops"
        _git(Path(tmp), "clone", "-q", "--branch", "main", remote, str(work))
        path = work / APP / "ta" / "flinkdeployment.yaml"
        lines = path.read_text().splitlines(keepends=True)
        for i, line in enumerate(lines):
            key = line.strip()
            if key.startswith("restartNonce:"):
                nonce = int(key.split(":", 1)[1]) + 1
                lines[i] = line[: len(line) - len(line.lstrip())] + f"restartNonce: {nonce}\n"
            elif key == "state: suspended":
                lines[i] = line.replace("suspended", "running")
        path.write_text("".join(lines))
        _git(work, "-c", "user.name=scenario", "-c", "user.email=scenario@sandbox",
             "commit", "-q", "-am", f"torghut-ta: restart the job ({why})")  # fmt: skip
        bypass = _git(Path(remote), "config", "--get", "sandbox.bypassToken")
        _git(work, "push", "-q", "-o", f"bypass={bypass}", "origin", "HEAD:main")
        revision = _git(work, "rev-parse", "HEAD")
    sync(status, revision)


def sync(status: Status, revision: str) -> None:
    """`argocd app sync torghut --revision REV`, with the Argo CD token (no auto-sync here)."""
    token = Path(status["argocd_token_file"]).read_text().strip()
    url = f"{status['argocd_api']}/api/v1/applications/{ARGOCD_APP}/sync"
    for _ in range(60):  # "another operation is already in progress": wait for it
        code, body = http_json(url, method="POST", body={"revision": revision}, token=token)
        if code != 400 or "in progress" not in str(body):
            _ok(code, body, "Argo CD sync")
            return
        time.sleep(2)
    raise RuntimeError(f"Argo CD sync of {revision}: another operation stayed in progress")


def resume_trading(status: Status, why: str) -> None:
    """A person's decision, through the remediator (journaled with the `scenario` identity)."""
    remediator(status, "POST", "/trading/resume", {"reason": why})


def approve(status: Status, run_id: str, why: str) -> None:
    remediator(status, "POST", f"/runs/{run_id}/approve", {"reason": why})
