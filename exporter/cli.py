"""`ta-exporter`: check-config, serve, report, calendar."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack

from aiohttp import web

from exporter import exitcodes
from exporter.config import Config, ConfigError, load_config
from exporter.exchange_calendar import CalendarUnavailable, UnknownExchange, calendar_yaml
from exporter.logs import register_secrets, setup_logging
from exporter.registry import FAMILIES, build_probes
from exporter.report import Report, build_report
from exporter.scheduler import Scheduler
from exporter.server import Runtime, create_app
from exporter.snapshot import Snapshot

log = logging.getLogger("exporter")


def _secrets(cfg: Config) -> list[str]:
    return [s.get() for s in cfg._secrets.values()]


async def run_report(cfg: Config, *, families: Sequence[str] = FAMILIES) -> Report:
    """One concurrent cycle of every probe, judged."""
    async with AsyncExitStack() as stack:
        specs = await build_probes(cfg, stack=stack, families=families)
        snapshot = Snapshot()
        await Scheduler(specs, snapshot).run_cycle()
        return build_report(snapshot.view(), cfg)


async def serve(
    cfg: Config,
    *,
    host: str,
    port: int,
    families: Sequence[str] = FAMILIES,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the probes and the HTTP server until `stop` is set (or SIGTERM/SIGINT)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    async with AsyncExitStack() as stack:
        specs = await build_probes(cfg, stack=stack, families=families)
        snapshot = Snapshot()
        scheduler = Scheduler(specs, snapshot)
        runner = web.AppRunner(create_app(Runtime.create(cfg, snapshot, scheduler.ready)))
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, host, port).start()
        scheduler.start()
        stack.push_async_callback(scheduler.stop)
        log.info("serving", extra={"host": host, "port": port, "probes": len(specs)})
        await stop.wait()
        log.info("stopping")


def format_table(report: Report) -> str:
    rows = [("COMPONENT", "STATUS", "PROC", "SUMMARY")]
    rows += [(v.component, v.status, v.procedure, v.summary) for v in report.components]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    for v in report.components:
        if v.status != "healthy":
            lines += [f"  {v.component} {k}: {text}" for k, text in v.details.items()]
    lines.append(f"overall: {report.overall}")
    failing = [p for p in report.probes if not p.success]
    for p in failing:
        lines.append(f"probe {p.name} failing: {p.error}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = exitcodes.Parser(
        prog="ta-exporter",
        description=__doc__,
        epilog="exit codes: docs/cli.md (0 ok/healthy, 1 degraded, 2 down, 3 unknown, "
        "4 config error, 64 usage, 69 unavailable, 70 internal error)",
    )
    parser.add_argument("--debug", action="store_true", help="tracebacks on internal errors")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file")
    srv = sub.add_parser("serve", help="run the probes and serve /metrics, /report")
    srv.add_argument("--config", required=True)
    srv.add_argument("--host")
    srv.add_argument("--port", type=int)
    srv.add_argument("--log-level", default="info")
    rep = sub.add_parser("report", help="run every probe once and print the verdict")
    rep.add_argument("--config", required=True)
    rep.add_argument("--json", action="store_true")
    rep.add_argument("--log-level", default="warning")
    cal = sub.add_parser(
        "calendar",
        help="print an exchange's holidays and early closes as the `market` config block "
        "(needs the optional extra `calendar`)",
    )
    cal.add_argument("--exchange", default="XNYS", help="exchange code, e.g. XNYS (NYSE)")
    cal.add_argument("--year", type=int, required=True)
    return parser


def _load(path: str) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return None


def _calendar(exchange: str, year: int) -> int:
    try:
        text = calendar_yaml(exchange, year)
    except CalendarUnavailable as exc:
        print(f"ta-exporter calendar: {exc}", file=sys.stderr)
        return exitcodes.UNAVAILABLE
    except UnknownExchange as exc:
        print(f"ta-exporter calendar: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    print(text, end="")
    return exitcodes.OK


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        if _load(args.file) is None:
            return exitcodes.CONFIG_ERROR
        print("ok")
        return exitcodes.OK
    if args.command == "calendar":
        return _calendar(args.exchange, args.year)
    setup_logging("debug" if args.debug else args.log_level)
    cfg = _load(args.config)
    if cfg is None:
        return exitcodes.CONFIG_ERROR
    register_secrets(*_secrets(cfg))
    if args.command == "serve":
        asyncio.run(
            serve(cfg, host=args.host or cfg.server.host, port=args.port or cfg.server.port)
        )
        return exitcodes.OK
    result = asyncio.run(run_report(cfg))
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(format_table(result))
    return result.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: `exporter.exitcodes` (docs/cli.md)."""
    return exitcodes.run("ta-exporter", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
