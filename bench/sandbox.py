"""Sandbox figures: what the HTTP front costs over chdb in-process.

Run `python bench/sandbox.py [--n 500]`. Each figure is a function returning a `Figure`; add one
by writing another `measure_*` function and listing it in `main`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.clickhouse import launch, stop


@dataclass
class Figure:
    """Latency samples of one operation, in seconds."""

    name: str
    samples: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000

    def line(self) -> str:
        return f"{self.name:<44} median {self.median_ms:8.3f} ms   p99 {self.p99_ms:8.3f} ms"


def time_calls(call: Callable[[], object], n: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def measure_http_select1(url: str, n: int) -> Figure:
    """`SELECT 1` through clickhouse-connect's sync client over loopback HTTP."""
    import clickhouse_connect

    host, _, port = url.removeprefix("http://").rpartition(":")
    client = clickhouse_connect.get_client(host=host, port=int(port))
    try:
        return Figure(
            "SELECT 1 via clickhouse-connect (HTTP)",
            time_calls(lambda: client.query("SELECT 1"), n),
        )
    finally:
        client.close()


def measure_inprocess_select1(n: int) -> Figure:
    """The same query on chdb in this process, Native output, no HTTP."""
    from chdb.session import Session

    with tempfile.TemporaryDirectory(prefix="bench-chdb-") as tmp:
        session = Session(tmp)
        try:
            samples = time_calls(lambda: session.query("SELECT 1 FORMAT Native", "Native"), n)
        finally:
            session.close()
    return Figure("SELECT 1 on chdb in-process", samples)


def measure_stack_up() -> float:
    """Seconds for `ta-sandbox up` (the whole stack and the exporter) to report ready."""
    from sandbox import stack

    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        start = time.perf_counter()
        try:
            stack.up(Path(tmp), log=lambda _m: None)
            return time.perf_counter() - start
        finally:
            stack.down(Path(tmp), log=lambda _m: None)


def suite_wall_time(run: bool) -> str:
    """The test suite's wall time: run it now with --run-tests, else the last recorded run."""
    root = Path(__file__).resolve().parents[1]
    record = root / ".pytest_cache" / "torghut-wall-time"
    if run:
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"], cwd=root, check=False
        )
    if not record.exists():
        return "no recorded run (make test, or pass --run-tests)"
    return record.read_text().strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500, help="samples per figure")
    parser.add_argument("--run-tests", action="store_true", help="run the whole suite to time it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        service = launch(Path(tmp), seed=False)
        try:
            http = measure_http_select1(service.endpoints["http"], args.n)
        finally:
            stop(service, Path(tmp))
    local = measure_inprocess_select1(args.n)
    print(f"sandbox ClickHouse, {args.n} samples each")
    print(http.line())
    print(local.line())
    print(f"{'ratio HTTP / in-process':<44} median {http.median_ms / local.median_ms:8.1f} x   "
          f"p99 {http.p99_ms / local.p99_ms:8.1f} x")  # fmt: skip
    up = measure_stack_up()
    print(f"{'ta-sandbox up until ready':<44} {up:8.1f} s    (target < 30 s on 2 cores)")
    print(f"{'test suite wall time':<44} {suite_wall_time(args.run_tests)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
