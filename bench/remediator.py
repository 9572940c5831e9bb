"""Remediator figures, each next to a baseline measured in the same run.

Run `python bench/remediator.py [--concurrent 200] [--storm 10000]`. It starts a real
`ta-remediator serve` (observe mode; nothing listens on the configured backends, so every
triage reads unknown facts quickly) and a plain aiohttp server answering 202 as the baseline.

- webhook acknowledgement latency under N concurrent notifications (median, p99), vs baseline;
- a storm of duplicate notifications: how many runs it makes (must be exactly one);
- webhook -> plan journaled (observe mode has no actuation; this is the time to a decision);
- webhook -> first actuation: an in-process remediator in auto mode (stub facts: signals stale
  while trading is on, so the trading gate's plan pauses trading) with a recording fake
  `Actuators`, timed to the fake's first `act` call, vs the same webhook's acknowledgement;
- journal cost per write (attach one alert) vs a bare SQLite insert of the same row;
- RSS of the serve process at rest and after the storm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import yaml
from aiohttp import web

from exporter.verdict import Verdict
from remediator.actuators import Fence, no_fence
from remediator.config import parse_remediator_config
from remediator.engine import Sources
from remediator.execute import VerifyResult
from remediator.facts import Facts
from remediator.intake import Target, Trigger
from remediator.journal import Journal, Run
from remediator.journal_acting import ApprovalRecord, StepRecord
from remediator.policy import KillSwitch
from remediator.server import create_app
from remediator.service import build
from sandbox.util import apoll_until, free_port, poll_until, python_module_args, spawn, stop_pid

TOKEN = "bench-webhook-token"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1e3:.2f} ms, p99 {_pct(values, 0.99) * 1e3:.2f} ms"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _notification(i: int, *, fingerprint: str | None = None) -> bytes:
    labels = {"alertname": "TAClickHouseDiskPressure", "procedure": "A", "replica": "r1"}
    return json.dumps(
        {
            "version": "4",
            "groupKey": "bench",
            "status": "firing",
            "receiver": "torghut-ta-remediator",
            "alerts": [
                {
                    "status": "firing",
                    "labels": labels,
                    "startsAt": "2026-12-01T10:00:00Z",
                    "fingerprint": fingerprint or f"{i:016x}",
                }
            ],
        }
    ).encode()


async def _burst(url: str, bodies: list[bytes], concurrency: int) -> list[float]:
    latencies: list[float] = []
    sem = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as http:

        async def one(body: bytes) -> None:
            async with sem:
                t0 = time.perf_counter()
                async with http.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 202:
                        raise RuntimeError(f"webhook answered {resp.status}")
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(one(b) for b in bodies))
    return latencies


async def _baseline_server() -> tuple[web.AppRunner, str]:
    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"runs": [], "ignored": []}, status=202)

    app = web.Application()
    app.router.add_post("/webhook/alertmanager", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/webhook/alertmanager"


def _config(workdir: Path, port: int) -> Path:
    (workdir / "token").write_text(TOKEN)
    data: dict[str, Any] = {
        "clickhouse": {"replicas": [{"name": "r1", "url": f"http://127.0.0.1:{free_port()}"}]},
        "kafka": {"bootstrap_servers": [f"127.0.0.1:{free_port()}"], "topics": ["t"]},
        "probes": {"default": {"interval": "5s", "timeout": "1s", "staleness": "10s"}},
        "remediator": {
            "journal_path": str(workdir / "journal.sqlite3"),
            "webhook_token": {"file": str(workdir / "token")},
            "api_tokens": [{"name": "bench", "token": {"file": str(workdir / "token")}}],
            "listen": {"host": "127.0.0.1", "port": port},
        },
    }
    path = workdir / "remediator.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def _runs(base: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{base}/runs?limit=1000", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as r:
            return list((await r.json())["runs"])


async def bench_server(workdir: Path, concurrent: int, storm: int) -> None:
    port = free_port()
    proc = spawn(
        python_module_args("remediator.cli", "serve", "--config", str(_config(workdir, port))),
        log_path=workdir / "serve.log",
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            import urllib.request

            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as resp:
                return resp.status == 200

        poll_until(ready, timeout=120, what="remediator ready")
        rest_rss = _rss_mb(proc.pid)
        runner, baseline_url = await _baseline_server()
        try:
            bodies = [_notification(i) for i in range(concurrent)]
            await _burst(baseline_url, bodies[:20], concurrent)  # warm both up
            await _burst(f"{base}/webhook/alertmanager", [_notification(0)], 1)
            base_lat = await _burst(baseline_url, bodies, concurrent)
            ours = await _burst(f"{base}/webhook/alertmanager", bodies, concurrent)
        finally:
            await runner.cleanup()
        print(f"webhook acknowledgement, {concurrent} concurrent notifications:")
        print(f"  plain aiohttp 202 (baseline): {_ms(base_lat)}")
        print(f"  ta-remediator (journal first): {_ms(ours)}")
        print(f"  ratio of medians: {statistics.median(ours) / statistics.median(base_lat):.1f}x")

        runs_before = len(await _runs(base))
        t0 = time.perf_counter()
        await _burst(
            f"{base}/webhook/alertmanager",
            [_notification(0, fingerprint="feedfacecafebeef")] * storm,
            concurrent,
        )
        elapsed = time.perf_counter() - t0
        runs_after = len(await _runs(base))
        print(
            f"storm of {storm} duplicate notifications in {elapsed:.1f}s "
            f"({storm / elapsed:.0f}/s): runs before {runs_before}, after {runs_after} "
            f"(one incident: the storm's alert joins the open run)"
        )

        t0 = time.perf_counter()
        await _burst(f"{base}/webhook/alertmanager", [_notification(10**9)], 1)

        async def decided() -> bool:
            return all(r["state"] not in ("new", "triage", "retriage") for r in await _runs(base))

        await apoll_until(decided, timeout=120, interval=0.01, what="plan journaled")
        print(
            f"webhook -> plan and gates journaled: {(time.perf_counter() - t0) * 1e3:.0f} ms "
            "(includes one full probe cycle; observe mode has no first actuation)"
        )
        print(
            f"RSS of ta-remediator serve: {rest_rss:.1f} MB at rest, {_rss_mb(proc.pid):.1f} MB after"
        )
    finally:
        stop_pid(proc.pid, timeout=30)


def bench_journal(workdir: Path, n: int) -> None:
    journal = Journal(workdir / "bench-journal.sqlite3")
    t0 = time.perf_counter()
    for i in range(n):
        trigger = Trigger(
            "A", Target("torghut", "torghut-ta"), "TAX", f"{i:016x}", "firing", {"a": "b"}
        )
        journal.attach(trigger, mode="observe")
    ours = (time.perf_counter() - t0) / n
    journal.close()
    db = sqlite3.connect(workdir / "bare.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (run TEXT, fp TEXT, labels TEXT, at REAL)")
    t0 = time.perf_counter()
    for i in range(n):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?, ?, ?, ?)", ("r", f"{i:016x}", '{"a": "b"}', 0.0))
        db.execute("COMMIT")
    bare = (time.perf_counter() - t0) / n
    db.close()
    print(f"journal write (attach one alert, durable) over {n}: {ours * 1e3:.3f} ms each")
    print(f"  bare SQLite insert, same durability (baseline): {bare * 1e3:.3f} ms each")
    print(f"  ratio: {ours / bare:.1f}x")


class _RecordingActuators:
    """A fake `Actuators`: notes when each run first acts and when it ends; changes nothing."""

    def __init__(self) -> None:
        self.first_act: dict[str, float] = {}
        self.ended: dict[str, asyncio.Event] = {}

    def _end(self, run: Run) -> None:
        self.ended.setdefault(run.id, asyncio.Event()).set()

    async def act(self, step: StepRecord, *, run: Run, key: str, fence: Fence) -> dict[str, str]:
        self.first_act.setdefault(run.id, time.perf_counter())
        fence()
        return {"bench": step.name}

    async def already_done(self, step: StepRecord, *, run: Run) -> bool | None:
        return None

    async def verify(self, step: StepRecord, *, run: Run) -> VerifyResult:
        return VerifyResult(True, "bench")

    async def escalate(self, run: Run, reason: str) -> None:
        self._end(run)

    async def request_approval(self, run: Run, approval: ApprovalRecord, summary: str) -> None:
        self._end(run)

    async def succeeded(self, run: Run, summary: str) -> None:
        self._end(run)

    async def resume_trading(self, *, who: str, reason: str, fence: Fence) -> dict[str, str]:
        return {}


def _stale_signals() -> Facts:
    """Market open, trading on, signals stale: the trading gate pauses trading."""
    verdicts = {
        name: Verdict(name, "healthy", f"{name} healthy")
        for name in ("flink", "clickhouse-disk", "clickhouse-replicas", "trading")
    }
    verdicts["freshness"] = Verdict("freshness", "down", "newest signal 12 minutes old")
    return Facts(
        now=time.time(),
        deployment="torghut-ta",
        market_open=True,
        trading_enabled=True,
        job_state="RUNNING",
        lifecycle="STABLE",
        desired_running=True,
        verdicts=verdicts,
    )


def _auto_config(workdir: Path) -> Any:
    """Auto mode; gitops and argocd name nothing real (the fake actuators never use them); no
    cooldown or rate limit, so every iteration's webhook starts and finishes its own run."""
    data = yaml.safe_load(_config(workdir, free_port()).read_text())
    token = {"file": str(workdir / "token")}
    data["remediator"].update(
        {
            "mode": "auto",
            "journal_path": str(workdir / "auto-journal.sqlite3"),
            "policy": {"cooldown": 0, "max_runs_per_hour": 1_000_000},
            "gitops": {
                "remote_url": str(workdir / "gitops.git"),
                "github": {"repo": "torghut/gitops", "token": token},
            },
            "argocd": {"api_url": "http://127.0.0.1:9", "token": token},
        }
    )
    return parse_remediator_config(data)


def _stale_alert(i: int) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "groupKey": "bench-gate",
            "status": "firing",
            "receiver": "torghut-ta-remediator",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "TATradingOnStaleSignals", "signals": "stale"},
                    "startsAt": "2026-12-01T10:00:00Z",
                    "fingerprint": f"{i:016x}",
                }
            ],
        }
    ).encode()


async def bench_first_actuation(workdir: Path, n: int) -> None:
    cfg = _auto_config(workdir)
    journal = Journal(cfg.remediator.journal_path)
    fake = _RecordingActuators()

    async def facts() -> Facts:
        return _stale_signals()

    async def annotation() -> KillSwitch:
        return KillSwitch("annotation", False, "not set")

    app = build(cfg, journal, source=Sources(facts, annotation), actuators=fake, fence=no_fence)
    runner = web.AppRunner(create_app(app))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    app.engine.start()
    url = f"http://127.0.0.1:{port}/webhook/alertmanager"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    acks: list[float] = []
    firsts: list[float] = []
    try:
        async with aiohttp.ClientSession() as http:
            for i in range(n + 1):  # the first one warms up and is not counted
                t0 = time.perf_counter()
                async with http.post(url, data=_stale_alert(i), headers=headers) as resp:
                    answer = await resp.json()
                    if resp.status != 202 or len(answer["runs"]) != 1:
                        raise RuntimeError(f"webhook answered {resp.status}: {answer}")
                ack = time.perf_counter() - t0
                run_id = answer["runs"][0]
                ended = fake.ended.setdefault(run_id, asyncio.Event())
                await asyncio.wait_for(ended.wait(), timeout=60)
                if run_id not in fake.first_act:
                    raise RuntimeError(f"run {run_id} ended without acting: {journal.run(run_id)}")
                if i:
                    acks.append(ack)
                    firsts.append(fake.first_act[run_id] - t0)
    finally:
        await app.engine.stop()
        await runner.cleanup()
        journal.close()
    ratio = statistics.median(firsts) / statistics.median(acks)
    print(f"webhook -> first actuation, auto mode, in process, {n} runs one after another:")
    print(f"  webhook acknowledgement (baseline): {_ms(acks)}")
    print(f"  first actuation (trading gate's pause_trading): {_ms(firsts)}")
    print(f"  ratio of medians: {ratio:.1f}x the acknowledgement")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--storm", type=int, default=10_000)
    parser.add_argument("--journal-writes", type=int, default=2000)
    parser.add_argument(
        "--actuations", type=int, default=200, help="runs timed from webhook to first actuation"
    )
    parser.add_argument(
        "--only",
        choices=("first-actuation",),
        help="run only this figure (first-actuation: in process, no serve subprocess)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-remediator-") as tmp:
        if args.only != "first-actuation":
            bench_journal(Path(tmp), args.journal_writes)
            asyncio.run(bench_server(Path(tmp), args.concurrent, args.storm))
        asyncio.run(bench_first_actuation(Path(tmp), args.actuations))


if __name__ == "__main__":
    main()
