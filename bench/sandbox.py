"""Sandbox figures: what the HTTP front costs over chdb in-process, and the stack at rest.

Run `python bench/sandbox.py [--n 500] [--rest-minutes 3] [--every-minutes M] [--only-rest] [--only-up RUNS]`. Each figure is a function returning a `Figure`; add one
by writing another `measure_*` function and listing it in `main`.
"""

from __future__ import annotations

import argparse
import os
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


def measure_stack_up(timings: str = "middle") -> float:
    """Seconds for `ta-sandbox up` (the whole stack and the exporter) to report ready."""
    from sandbox import stack

    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        start = time.perf_counter()
        try:
            stack.up(Path(tmp), timings=timings, log=lambda _m: None)
            return time.perf_counter() - start
        finally:
            stack.down(Path(tmp), log=lambda _m: None)


CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Sample:
    """CPU seconds used so far and resident memory, summed over one service's processes."""

    at: float
    cpu_s: float
    rss_mb: float


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on; comm may hold spaces


def session_sample(sid: int) -> Sample:
    """utime+stime (+ reaped children's) and RSS over every process whose session is `sid`."""
    cpu_ticks = 0
    rss_pages = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        f = _stat_fields(int(entry.name))
        if f is None or int(f[3]) != sid:  # f[3] is field 6, the session id
            continue
        cpu_ticks += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])  # utime stime cutime cstime
        rss_pages += int(f[21])
    return Sample(time.monotonic(), cpu_ticks / CLK_TCK, rss_pages * PAGE / 2**20)


def cores(a: Sample, b: Sample) -> float:
    return (b.cpu_s - a.cpu_s) / (b.at - a.at) if b.at > a.at else 0.0


def _window(pids: dict[str, int], seconds: float) -> dict[str, tuple[Sample, Sample]]:
    first = {name: session_sample(pid) for name, pid in pids.items()}
    time.sleep(seconds)  # a measurement window, not synchronisation
    return {name: (first[name], session_sample(pid)) for name, pid in pids.items()}


def _progress(minute: float, pair: dict[str, tuple[Sample, Sample]]) -> str:
    """One line: the stack's cores and RSS over one window, then each service's cores."""
    stack_only = {n: v for n, v in pair.items() if n != "(idle python)"}
    total = sum(cores(a, b) for a, b in stack_only.values())
    rss = sum(b.rss_mb for _a, b in stack_only.values())
    each = " ".join(f"{n}={cores(a, b):.3f}" for n, (a, b) in stack_only.items())
    return f"+{minute:6.1f} min  total {total:.3f} cores  rss {rss:.0f} MiB  | {each}"


def measure_stack_at_rest(
    rest_minutes: float, window_s: float = 30.0, every_minutes: float = 0.0
) -> str:
    """Start the stack, measure a window just after start and one after `rest_minutes`;
    with `every_minutes`, also print (flushed) one progress line per window in between."""
    from sandbox import stack

    idle = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(1e6)"], start_new_session=True
    )
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-rest-") as tmp:
        try:
            services = stack.up(Path(tmp), log=lambda _m: None)
            pids = {s.name: s.pid for s in services if s.pid > 0}
            pids["(idle python)"] = idle.pid
            t0 = time.monotonic()
            start = _window(pids, window_s)
            if every_minutes > 0:
                print(_progress(0.0, start), flush=True)
                while time.monotonic() - t0 + every_minutes * 60 < rest_minutes * 60:
                    time.sleep(max(0.0, every_minutes * 60 - window_s))  # unattended, as at rest
                    print(
                        _progress((time.monotonic() - t0) / 60, _window(pids, window_s)), flush=True
                    )
            rest = max(0.0, rest_minutes * 60 - (time.monotonic() - t0))
            time.sleep(rest)  # the stack runs unattended, as in the demo between scenarios
            later = _window(pids, window_s)
        finally:
            stack.down(Path(tmp), log=lambda _m: None)
            idle.terminate()
            idle.wait()
    head = f"{'service':<16}{'cpu@start':>11}{'cpu@+' + format(rest_minutes, 'g') + 'm':>11}"
    lines.append(f"{head}{'rss@start':>12}{'rss@later':>12}   (cpu in cores, rss in MiB)")
    totals = [0.0, 0.0, 0.0, 0.0]
    for name in pids:
        (a0, a1), (b0, b1) = start[name], later[name]
        row = [cores(a0, a1), cores(b0, b1), a1.rss_mb, b1.rss_mb]
        if name != "(idle python)":
            totals = [t + v for t, v in zip(totals, row, strict=True)]
        lines.append(f"{name:<16}{row[0]:>11.3f}{row[1]:>11.3f}{row[2]:>12.0f}{row[3]:>12.0f}")
    lines.append(
        f"{'total (stack)':<16}{totals[0]:>11.3f}{totals[1]:>11.3f}{totals[2]:>12.0f}"
        f"{totals[3]:>12.0f}   target < 0.3 core, flat"
    )
    return "\n".join(lines)


def stack_up_figures(runs: int) -> str:
    """`ta-sandbox up` until ready, `runs` times with each of the fast and middle timings."""
    lines = [f"ta-sandbox up until ready, {runs} runs each, load average {os.getloadavg()[0]:.1f}"]
    for timings in ("fast", "middle"):
        samples = sorted(measure_stack_up(timings) for _ in range(runs))
        lines.append(
            f"  --timings {timings:<7} median {statistics.median(samples):5.1f} s   "
            f"min {samples[0]:5.1f} s   max {samples[-1]:5.1f} s   (target < 30 s on 2 cores)"
        )
    lines.append(f"  load average after: {os.getloadavg()[0]:.1f}")
    return "\n".join(lines)


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
    parser.add_argument(
        "--rest-minutes",
        type=float,
        default=3.0,
        help="how long the stack runs before the second CPU window",
    )
    parser.add_argument(
        "--every-minutes",
        type=float,
        default=0.0,
        help="also print the stack's CPU/RSS every so many minutes while at rest (flatness)",
    )
    parser.add_argument("--only-rest", action="store_true", help="only the stack-at-rest figure")
    parser.add_argument(
        "--only-up",
        type=int,
        metavar="RUNS",
        help="only the stack start time, RUNS times with --timings fast and middle",
    )
    args = parser.parse_args(argv)
    if args.only_up:
        print(stack_up_figures(args.only_up))
        return 0
    if args.only_rest:
        print(measure_stack_at_rest(args.rest_minutes, every_minutes=args.every_minutes))
        return 0
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
    print(measure_stack_at_rest(args.rest_minutes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
