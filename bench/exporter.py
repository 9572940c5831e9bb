"""Exporter figures, each printed with a baseline measured in the same run.

    .venv/bin/python bench/exporter.py [--only metrics,rows,rss,serve,kafka] [--rows-max 20000000]
        [--serve-seconds 600]

- metrics: GET /metrics latency with ~5,000 series while one ClickHouse replica hangs (its probe
  fails every second, so scrapes keep meeting fresh results), against the same series as plain
  prometheus_client gauges served the same way; also the previous whole-snapshot re-render.
- rows:    rows read by one freshness cycle (X-ClickHouse-Summary read_rows, which the sandbox
  server reports as rows read: a full scan of 1M rows says 1,000,000) against the table size, as
  the table grows 2M -> 20M rows (history extends backwards; the scan window stays the same).
- rss:     RSS and CPU per cycle after an hour-equivalent of cycles of every probe family
  against the sandbox stack (`sandbox.stack.up`), against the RSS after the first cycle.
- serve:   RSS of the real `ta-exporter serve` process the sandbox stack runs (probes on their
  own intervals, Prometheus scraping it) sampled for --serve-seconds: steady RSS (median of the
  second half), its growth over the run and the peak (VmHWM). The chart's exporter memory
  request/limit (helm/torghut-ta-ops/values.yaml) are set from these figures.
- kafka:   lag over 256 partitions (section owned by the Kafka probes' author).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import clickhouse_connect
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from exporter.clients import clickhouse as ch
from exporter.config import Config, parse_config
from exporter.families import clickhouse as chprobe
from exporter.probes.base import Sample
from exporter.scheduler import Scheduler
from exporter.server import Exposition, Runtime, create_app
from exporter.snapshot import Snapshot
from sandbox.clickhouse.ddl import seed_statements
from sandbox.faults import SilentServer
from sandbox.util import Service, free_port, poll_until, port_open, python_module_args, spawn

PARTITION = "torghut_ta_clickhouse_partition_bytes"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1e3:.2f} ms, p99 {_pct(values, 0.99) * 1e3:.2f} ms"


def start_clickhouse(workdir: Path) -> tuple[Service, str]:
    port = free_port()
    proc = spawn(
        python_module_args(
            "sandbox.clickhouse", "--port", str(port), "--data-dir", str(workdir / "data")
        ),
        log_path=workdir / "clickhouse.log",
    )
    poll_until(lambda: port_open(port), timeout=120, interval=0.1, what="ClickHouse")
    return Service("clickhouse", proc.pid, {}, ""), f"http://127.0.0.1:{port}"


def config(replicas: list[tuple[str, str]], **extra: object) -> Config:
    return parse_config(
        {
            "clickhouse": {"replicas": [{"name": n, "url": u} for n, u in replicas]},
            "kafka": {"bootstrap_servers": ["127.0.0.1:9"], "topics": ["t"]},
            **extra,
        }
    )


def five_thousand_samples() -> tuple[Sample, ...]:
    return tuple(
        Sample(
            PARTITION,
            float(i * 1000),
            {"replica": f"r{i % 5}", "table": f"t{i % 10}", "partition": f"p{i}"},
        )
        for i in range(5000)
    )


# --- metrics latency ----------------------------------------------------------------------------


def _time(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


async def _scrape_spread(url: str, seconds: float, every: float) -> list[float]:
    """GET `url` every `every` seconds for `seconds`: scrapes land between and on probe results."""
    out: list[float] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    async with aiohttp.ClientSession() as session:
        while loop.time() < end:
            t0 = time.perf_counter()
            async with session.get(url) as resp:
                await resp.read()
            out.append(time.perf_counter() - t0)
            await asyncio.sleep(every)
    return out


async def _serve(app: aiohttp.web.Application, stack: AsyncExitStack) -> str:
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    return f"http://127.0.0.1:{port}/metrics"


def _plain_app(registry: CollectorRegistry) -> aiohttp.web.Application:
    async def handler(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(body=generate_latest(registry))

    app = aiohttp.web.Application()
    app.router.add_get("/metrics", handler)
    return app


async def bench_metrics(seconds: float = 15.0, every: float = 0.02) -> None:
    samples = five_thousand_samples()
    plain = CollectorRegistry()
    gauge = Gauge(PARTITION, "baseline", ["replica", "table", "partition"], registry=plain)
    for s in samples:
        gauge.labels(**s.labels).set(s.value)

    silent = SilentServer()
    cfg = config(
        [("hung", f"http://127.0.0.1:{silent.port}")],
        probes={"default": {"interval": "1s", "timeout": "1s", "staleness": "60s"}},
    )
    snap = Snapshot()
    snap.register("bulk", staleness=3600)
    snap.record_success("bulk", samples, duration=0.0)
    async with AsyncExitStack() as stack:
        sched = Scheduler(await chprobe.build(cfg, stack=stack), snap)
        sched.start()
        stack.push_async_callback(sched.stop)
        runtime = Runtime.create(cfg, snap, sched.ready)
        await sched.ready.wait()  # every probe ran once: the hung replica has timed out
        ours_url = await _serve(create_app(runtime), stack)
        plain_url = await _serve(_plain_app(plain), stack)
        v0 = snap.version
        base = await _scrape_spread(plain_url, seconds, every)
        mine = await _scrape_spread(ours_url, seconds, every)
        changes = snap.version - v0
        # without the per-probe cache: a fresh renderer renders every probe's samples again
        rerender = _time(lambda: Exposition().render(snap.states(), snap.stale_probes()), 50)
        body = runtime.exposition()
        lines = sum(1 for line in body.splitlines() if not line.startswith(b"#"))
        hung = snap.states()["clickhouse_storage/hung"].error
    silent.close()
    print(
        f"metrics: {lines} series; replica 'hung' fails with {hung!r}; {changes} probe results "
        f"arrived during the {2 * seconds:.0f}s of scrapes (GET /metrics every {every * 1e3:.0f} ms)"
    )
    print(f"  plain prometheus_client gauges over aiohttp (baseline): {_ms(base)}  [{len(base)}]")
    print(f"  exporter /metrics (per-probe cached chunks):            {_ms(mine)}  [{len(mine)}]")
    print(
        f"  ratio of medians: {statistics.median(mine) / statistics.median(base):.2f}x "
        f"(target <= 1.5); p99 {_pct(mine, 0.99) * 1e3:.2f} ms (target < 10 ms)"
    )
    print(
        "  without the per-probe cache, every probe re-rendered on every result: "
        f"{_ms(rerender)} per re-render"
    )


# --- rows read ----------------------------------------------------------------------------------


async def bench_rows(url: str, rows_max: int) -> None:
    host, port = url.removeprefix("http://").split(":")
    sync = clickhouse_connect.get_client(host=host, port=int(port), send_receive_timeout=3600)
    sync.command("CREATE TABLE default.full_scan (x UInt64) ENGINE = MergeTree ORDER BY x")
    sync.command("INSERT INTO default.full_scan SELECT number FROM numbers(1000000)")
    check = sync.query("SELECT count() FROM default.full_scan WHERE x % 7 = 3")
    sync.command("DROP TABLE default.full_scan")
    print(
        "rows read by one freshness cycle (table max + watched-symbol window), 4 symbols, "
        "1 row/0.25s; X-ClickHouse-Summary read_rows (sanity: a 1M-row full scan reports "
        f"{int(check.summary.get('read_rows', 0)):,})"
    )
    for sql in seed_statements(ttl_days=3650):
        sync.command(sql.replace("torghut", "bench"))
    cfg = config(
        [("r1", url)],
        watch_symbols=["NVDA"],
        clickhouse={"replicas": [{"name": "r1", "url": url}], "database": "bench"},
    )
    [client] = ch.make_clients(cfg, query_timeout=120)
    steps = [s for s in (2_000_000, 5_000_000, 10_000_000, 20_000_000) if s <= rows_max] or [
        rows_max
    ]
    done = 0
    try:
        for target in steps:
            t0 = time.perf_counter()
            # row i is at now - i/4 s: growing the table extends history backwards
            sync.command(
                "INSERT INTO bench.ta_signals (event_ts, symbol) SELECT "
                "now64(3) - toIntervalMillisecond(number * 250), "
                "['NVDA','AAPL','MSFT','AMZN'][number % 4 + 1] "
                f"FROM numbers({done}, {target - done})"
            )
            done = target
            insert_s = time.perf_counter() - t0
            data = await chprobe.collect_freshness(client, cfg)
            full = sync.query("SELECT max(event_ts) FROM bench.ta_signals WHERE symbol IN ('NVDA')")
            naive = int(full.summary.get("read_rows", 0))
            print(
                f"  table {target:>11,} rows: one cycle read {data.read_rows:>7,} rows = "
                f"{100 * data.read_rows / target:.3f}% of the table (target < 1%); "
                f"symbol max without the window (baseline) reads {naive:>10,} "
                f"(insert {insert_s:.1f}s)"
            )
    finally:
        await client.close()
        sync.command("DROP DATABASE IF EXISTS bench")


# --- RSS and CPU --------------------------------------------------------------------------------


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def bench_rss(cycles: int) -> None:
    """Every probe family against the sandbox stack, cycles back to back, one scrape per cycle."""
    from exporter.config import load_config
    from exporter.registry import build_probes
    from sandbox import stack as sandbox_stack

    workdir = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    t0 = time.perf_counter()
    try:
        # `up` runs its own event loop; it records what it started, so `down` stops it all
        await asyncio.to_thread(sandbox_stack.up, workdir, log=lambda _msg: None)
        print(f"rss/cpu: sandbox stack up in {time.perf_counter() - t0:.0f}s")
        cfg = load_config(workdir / "exporter.yaml")
        snap = Snapshot()
        async with AsyncExitStack() as stack:
            sched = Scheduler(await build_probes(cfg, stack=stack), snap)
            runtime = Runtime.create(cfg, snap, sched.ready)
            await sched.run_cycle()
            runtime.exposition()
            before = _rss_mb()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for _ in range(cycles):
                await sched.run_cycle()
                runtime.exposition()  # one scrape per cycle too
            cpu = (time.process_time() - cpu0) / cycles
            wall = (time.perf_counter() - wall0) / cycles
            after = _rss_mb()
            errors = {n: s.error for n, s in snap.states().items() if s.error}
            names = sorted(snap.states())
    finally:
        sandbox_stack.down(workdir, log=lambda _msg: None)
    print(f"  {cycles} cycles (= 1h at a 15s interval) of {len(names)} probes: {', '.join(names)}")
    print(
        f"  RSS after the first cycle (baseline): {before:.1f} MB; after {cycles} cycles: "
        f"{after:.1f} MB (target < 120 MB)"
    )
    print(
        f"  CPU per cycle {cpu * 1e3:.1f} ms, wall per cycle {wall * 1e3:.1f} ms; "
        f"errors: {errors or 'none'}"
    )


def _proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


async def bench_serve_rss(seconds: float, every: float = 5.0) -> None:
    """RSS of the sandbox's real `ta-exporter serve` process over `seconds`."""
    from sandbox import stack as sandbox_stack
    from sandbox import state

    workdir = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    t0 = time.perf_counter()
    samples: list[float] = []
    try:
        await asyncio.to_thread(sandbox_stack.up, workdir, log=lambda _msg: None)
        print(f"serve: sandbox stack up in {time.perf_counter() - t0:.0f}s")
        (exporter,) = [s for s in state.load(workdir) if s.name == "exporter"]
        url = exporter.endpoints["exporter"]
        deadline = time.monotonic() + seconds
        async with aiohttp.ClientSession() as http:
            while True:
                async with http.get(f"{url}/metrics") as resp:
                    await resp.read()  # a scrape per sample, on top of Prometheus' own
                samples.append(_proc_kb(exporter.pid, "VmRSS") / 1024)
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(every)
        peak = _proc_kb(exporter.pid, "VmHWM") / 1024
    finally:
        sandbox_stack.down(workdir, log=lambda _msg: None)
    steady = statistics.median(samples[len(samples) // 2 :])
    print(f"  ta-exporter serve over {seconds:.0f}s, {len(samples)} samples every {every:.0f}s")
    print(
        f"  steady RSS {steady:.1f} MB (median of the second half); first sample "
        f"{samples[0]:.1f} MB, last {samples[-1]:.1f} MB: growth {samples[-1] - samples[0]:+.1f} MB"
    )
    print(f"  peak RSS (VmHWM) {peak:.1f} MB -> chart limit ~1.5x = {peak * 1.5:.0f} MB")


# --- Kafka lag over 256 partitions: section for the Kafka probes' author ------------------------


async def _requests_sent(cycle: Callable[[], Awaitable[object]]) -> int:
    """Kafka protocol requests one call of `cycle` sends (every request goes through send)."""
    from aiokafka.client import AIOKafkaClient

    original = AIOKafkaClient.send
    count = 0

    async def counting(self: AIOKafkaClient, *args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        return await original(self, *args, **kwargs)

    AIOKafkaClient.send = counting  # type: ignore[method-assign]
    try:
        await cycle()
    finally:
        AIOKafkaClient.send = original  # type: ignore[method-assign]
    return count


async def bench_kafka_lag(partitions: int = 256, records: int = 4, runs: int = 10) -> None:
    """One lag cycle over `partitions` partitions (batched) against a per-partition baseline."""
    from datetime import UTC, datetime, timedelta

    from aiokafka import AIOKafkaProducer, TopicPartition

    from exporter.clients.kafka import KafkaClient
    from exporter.families.kafka import collect_lag, fixed_group
    from sandbox import kafka as sk

    service = sk.launch(Path(tempfile.mkdtemp(prefix="bench-kafka-")))
    bootstrap = service.endpoints["kafka_bootstrap"]
    try:
        await sk.create_topics(bootstrap, {"trades": sk.TopicSpec(partitions=partitions)})
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        await producer.start()
        start = datetime.now(UTC) - timedelta(hours=1)
        try:
            for p in range(partitions):
                trades = sk.generate_trades(records, start=start, seed=p)
                await sk.produce_trades(bootstrap, "trades", trades, partition=p, producer=producer)
        finally:
            await producer.stop()
        tps = [TopicPartition("trades", p) for p in range(partitions)]
        await sk.commit_offsets(
            bootstrap, "bench", {tp: tp.partition % (records + 1) for tp in tps}
        )  # mixed lag

        client = KafkaClient({"bootstrap_servers": [bootstrap], "request_timeout_ms": 10_000})

        async def batched() -> int:
            data = await collect_lag(
                client, topics=["trades"], group_of=fixed_group("bench"), read_budget=10.0
            )
            return data.topics[0].lag_messages

        async def per_partition() -> int:
            lag = 0
            for tp in tps:
                committed = (await client.committed("bench", [tp]))[tp]
                end = (await client.end_offsets([tp]))[tp]
                if 0 <= committed < end:
                    await client.record_timestamps({tp: committed}, budget=10.0)
                lag += max(0, end - committed) if committed >= 0 else 0
            return lag

        try:
            assert await batched() == await per_partition()  # warm up, and both agree
            sent_batched = await _requests_sent(batched)
            sent_base = await _requests_sent(per_partition)
            mine = [await _atime(batched) for _ in range(runs)]
            base = [await _atime(per_partition) for _ in range(max(1, runs // 5))]
        finally:
            await client.close()
        print(f"kafka: lag cycle over {partitions} partitions ({records} records each, mixed lag)")
        print(f"  per-partition requests (baseline): {_ms(base)}; {sent_base} Kafka requests")
        print(f"  batched probe (exporter):          {_ms(mine)}; {sent_batched} Kafka requests")
        print(
            f"  ratio of medians: {statistics.median(base) / statistics.median(mine):.1f}x faster"
        )
    finally:
        service.stop()


async def _atime(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    await fn()  # type: ignore[misc]
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------------


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="metrics,rows,rss,serve,kafka")
    parser.add_argument("--rows-max", type=int, default=20_000_000)
    parser.add_argument("--cycles", type=int, default=240)
    parser.add_argument("--serve-seconds", type=float, default=600.0)
    args = parser.parse_args()
    only = set(args.only.split(","))
    service: Service | None = None
    try:
        if "rss" in only:
            await bench_rss(args.cycles)
        if "serve" in only:
            await bench_serve_rss(args.serve_seconds)
        if "rows" in only:
            service, url = start_clickhouse(Path(tempfile.mkdtemp(prefix="bench-ch-")))
        if "metrics" in only:
            await bench_metrics()
        if "rows" in only:
            await bench_rows(url, args.rows_max)
        if "kafka" in only:
            await bench_kafka_lag()
    finally:
        if service is not None:
            service.stop()


if __name__ == "__main__":
    asyncio.run(main())
