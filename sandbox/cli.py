"""ta-sandbox: bring the embedded stack up, report on it, take it down.

ta-sandbox up [--dir DIR] [--timings fast|middle|realistic] [--disk-limit SIZE] [--replicated]
           [--remediator-mode observe|propose|auto] [--alert-pace real|fast] [--demo]
ta-sandbox status [--dir DIR] [--json]
ta-sandbox down [--dir DIR]
ta-sandbox scenario NAME|--list [--dir DIR] [--timeout SECONDS] [--json] [--approve]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from exporter import exitcodes
from sandbox import alert_pace, demo, remediator_svc, scenario_cli, stack, state
from sandbox.clickhouse.pressure import parse_size_mib


def _size(text: str) -> int:
    try:
        return parse_size_mib(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def summary(workdir: Path) -> dict[str, object]:
    """Endpoints under the names the README and docs/sandbox.md use, and which services are up."""
    return state.status(state.load(workdir))


def _main(argv: Sequence[str] | None) -> int:
    p = exitcodes.Parser(
        prog="ta-sandbox",
        description=__doc__.splitlines()[0],
        epilog="exit codes: docs/cli.md (0 ok, 2 up failed, 64 usage, 70 internal error)",
    )
    p.add_argument("--debug", action="store_true", help="tracebacks on internal errors")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("up", "status", "down"):
        sp = sub.add_parser(name)
        sp.add_argument("--dir", type=Path, default=Path(".sandbox"), help="state directory")
        if name == "status":
            sp.add_argument("--json", action="store_true")
        if name == "up":
            sp.add_argument(
                "--timings",
                choices=("fast", "middle", "realistic"),
                default="middle",
                help="pace of the simulated operator and Argo CD (default: middle, for the demo)",
            )
            sp.add_argument(
                "--remediator-mode",
                choices=remediator_svc.MODES,
                default="observe",
                help="the mode `ta-remediator serve` runs in on the stack (default: observe)",
            )
            sp.add_argument(
                "--disk-limit",
                type=_size,
                metavar="SIZE",
                help="ClickHouse's data on a tmpfs of SIZE (e.g. 64M, 1G) for disk-pressure "
                "scenarios; needs root (CAP_SYS_ADMIN to mount)",
            )
            sp.add_argument(
                "--history-hours",
                type=float,
                default=0.0,
                metavar="H",
                help="H hours of backdated trades in the trades topic before the job starts "
                "(a past for a replay, procedure C, to start from)",
            )
            sp.add_argument(
                "--replicated",
                action="store_true",
                help="a ZooKeeper and replicated TA tables, to stage Keeper outage and metadata "
                "loss (chdb's replicas are read-only: the TA writer's inserts fail)",
            )
            sp.add_argument(
                "--alert-pace",
                choices=alert_pace.PACES,
                default="real",
                help="real: the shipped rules; fast: their `for` and age bounds divided by "
                f"{alert_pace.FAST_FACTOR} (default: real)",
            )
            sp.add_argument(
                "--demo",
                action="store_true",
                help=f"the demo (`make sandbox`): remediator in {demo.DEMO_MODE}, ClickHouse on a "
                f"{demo.DEMO_DISK_LIMIT_MIB}M disk when root, the demo policy; prints what to try",
            )
    scenario_cli.add_parser(sub)
    a = p.parse_args(argv)
    workdir: Path = a.dir.resolve()

    if a.cmd == "scenario":
        return scenario_cli.run(a, workdir)
    overrides = None
    if a.cmd == "up" and a.demo:
        a.remediator_mode = demo.DEMO_MODE
        a.disk_limit = a.disk_limit or demo.disk_limit()
        overrides = demo.DEMO_OVERRIDES
    if a.cmd == "up":
        try:
            remediator_svc.check_mode(a.remediator_mode)
        except remediator_svc.ModeRefused as exc:  # before anything starts
            print(f"ta-sandbox: {exc}", file=sys.stderr)
            return exitcodes.USAGE
        limit = f", ClickHouse disk limit {a.disk_limit} MiB" if a.disk_limit else ""
        limit += ", replicated ClickHouse on ZooKeeper" if a.replicated else ""
        limit += f", remediator mode {a.remediator_mode}, alert pace {a.alert_pace}"
        print(f"ta-sandbox: starting the stack in {workdir} (timings: {a.timings}{limit})")
        t0 = time.monotonic()
        try:
            stack.up(
                workdir,
                timings=a.timings,
                disk_limit_mib=a.disk_limit,
                replicated=a.replicated,
                remediator_mode=a.remediator_mode,
                history_hours=a.history_hours,
                remediator_overrides=overrides,
                alert_pace_name=a.alert_pace,
            )
        except (Exception, KeyboardInterrupt) as exc:
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"start failed: {exc}"
            print(f"ta-sandbox: {why}", file=sys.stderr)
            print("ta-sandbox: stopping what had started", file=sys.stderr)
            stack.down(workdir, log=lambda m: print(m, file=sys.stderr))
            return 130 if isinstance(exc, KeyboardInterrupt) else exitcodes.DOWN
        print(
            f"ta-sandbox: ready in {time.monotonic() - t0:.1f}s; stop it with `ta-sandbox down --dir {a.dir}`"
        )
        if a.demo:
            print("\n".join(demo.banner(summary(workdir), str(a.dir))))
        return 0
    if a.cmd == "down":
        n = stack.down(workdir)
        print(f"ta-sandbox: stopped {n} processes")
        return 0
    info = summary(workdir)
    if a.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            if key != "up":
                print(f"{key:<16} {value}")
        for name, alive in info["up"].items():  # type: ignore[union-attr]
            print(f"{name:<16} {'up' if alive else 'DOWN'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: `exporter.exitcodes` (docs/cli.md)."""
    return exitcodes.run("ta-sandbox", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
