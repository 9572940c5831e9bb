"""ta-remediator: serve the remediator, or talk to a running one.

  ta-remediator check-config FILE
  ta-remediator serve --config FILE [--insecure-no-auth]
  ta-remediator status | runs [--open] | show RUN [--markdown] | cancel RUN --reason TEXT
  ta-remediator approve RUN --reason TEXT | deny RUN --reason TEXT
  ta-remediator pause --reason TEXT | resume --reason TEXT
  ta-remediator trading resume --reason TEXT [--signals-known-good]
                                               (a person's decision; never automatic)
  ta-remediator replay plan --from TIME [--to TIME] --reason TEXT [--signals-known-good]
  ta-remediator replay start PLAN_ID | rollback RUN --reason TEXT
  ta-remediator image rollback --to sha256:... --reason TEXT

Client commands find the server from --url or TA_REMEDIATOR_URL and read the token from
--token-file or TA_REMEDIATOR_TOKEN_FILE. Exit codes: 0 done, 1 refused or failed, 4 bad
config, 64 usage, 69 server unreachable, 70 internal error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from exporter import exitcodes
from exporter.exitcodes import CONFIG_ERROR, OK, USAGE
from exporter.logs import register_secrets, setup_logging
from remediator.config import ConfigError, RemediatorConfig, load_remediator_config

UNREACHABLE = exitcodes.UNAVAILABLE  # 69: no answer from the server


def _parser() -> argparse.ArgumentParser:
    parser = exitcodes.Parser(prog="ta-remediator", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=exitcodes.Parser)
    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file")
    srv = sub.add_parser("serve", help="run the webhook, the engine and the API")
    srv.add_argument("--config", required=True)
    srv.add_argument("--host")
    srv.add_argument("--port", type=int)
    srv.add_argument("--log-level", default="info")
    srv.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="accept requests without tokens (local use only)",
    )

    def client(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--url", default=os.environ.get("TA_REMEDIATOR_URL"))
        p.add_argument("--token-file", default=os.environ.get("TA_REMEDIATOR_TOKEN_FILE"))
        return p

    client("status", help="mode, kill switch and open runs")
    runs = client("runs", help="list runs")
    runs.add_argument("--open", action="store_true", help="only runs still open")
    show = client("show", help="one run: plan, decisions, alerts")
    show.add_argument("run")
    show.add_argument("--markdown", action="store_true", help="the incident timeline for a ticket")
    for name, text in (
        ("cancel", "stop an open run before its next step (what it changed stays safe)"),
        ("approve", "approve what an open run waits for (it re-reads the facts first)"),
        ("deny", "deny what an open run waits for (it ends without acting further)"),
    ):
        p = client(name, help=text)
        p.add_argument("run")
        p.add_argument("--reason", required=True)
    trading = client("trading", help="a person's decision about trading")
    trading.add_argument("action", choices=["resume"], help="resume: TRADING_ENABLED=true")
    trading.add_argument("--reason", required=True)
    trading.add_argument(
        "--signals-known-good",
        action="store_true",
        help="resume even though a fresh read says the signals are stale or unknown "
        "(journaled with who said it)",
    )
    for name in ("pause", "resume"):
        p = client(name, help=f"{name} the remediator (kill switch; survives restarts)")
        p.add_argument("--reason", required=True)
    _replay_commands(client)
    return parser


def _replay_commands(client: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Procedure C (a person starts it, never an alert), the rollbacks."""
    replay = client("replay", "procedure C: replay a window of the input topics")
    steps = replay.add_subparsers(dest="replay_action", required=True,
                                  parser_class=exitcodes.Parser)  # fmt: skip
    plan = steps.add_parser("plan", help="journal and show a plan (nothing changes yet)")
    plan.add_argument("--from", dest="start", required=True, help="UTC (Z) or explicit offset")
    plan.add_argument("--to", dest="end", help="end of the window (default: the present)")
    plan.add_argument("--reason", required=True)
    plan.add_argument("--signals-known-good", action="store_true",
                      help="do not pause trading (journaled with who said it)")  # fmt: skip
    plan.add_argument("--group-id", help="the replay's TA_GROUP_ID (default: generated, unique)")
    start = steps.add_parser("start", help="start a journaled plan (re-checked first)")
    start.add_argument("plan_id")
    for nested in (plan, start):  # also after the action; SUPPRESS keeps the outer value
        nested.add_argument("--url", default=argparse.SUPPRESS)
        nested.add_argument("--token-file", default=argparse.SUPPRESS)
    rollback = client("rollback", "return a replay to the steady state")
    rollback.add_argument("run")
    rollback.add_argument("--reason", required=True)
    image = client("image", "the TA image")
    image.add_argument("action", choices=["rollback"])
    image.add_argument("--to", required=True, help="sha256:... from the manifest's git history")
    image.add_argument("--reason", required=True)


def _load(path: str) -> RemediatorConfig | None:
    try:
        return load_remediator_config(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return None


def _serve(args: argparse.Namespace) -> int:
    from remediator.service import serve

    setup_logging(args.log_level)
    cfg = _load(args.config)
    if cfg is None:
        return CONFIG_ERROR
    if cfg.secret("remediator.webhook_token") is None and not args.insecure_no_auth:
        print(
            "remediator.webhook_token: required (the token Alertmanager posts with); "
            "run with --insecure-no-auth only for local use",
            file=sys.stderr,
        )
        return CONFIG_ERROR
    register_secrets(*(s.get() for s in cfg._secrets.values()))
    listen = cfg.remediator.listen
    asyncio.run(
        serve(
            cfg,
            host=args.host or listen.host,
            port=args.port or listen.port,
            insecure=args.insecure_no_auth,
        )
    )
    return OK


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        if _load(args.file) is None:
            return CONFIG_ERROR
        print("ok")
        return OK
    if args.command == "serve":
        return _serve(args)
    from remediator import client

    if not args.url:
        print("no server: give --url or set TA_REMEDIATOR_URL", file=sys.stderr)
        return USAGE
    token = None
    if args.token_file:
        try:
            token = Path(args.token_file).read_text().strip()
        except OSError as exc:
            print(f"cannot read token file {args.token_file}: {exc.strerror}", file=sys.stderr)
            return USAGE
    try:
        return client.run(args, url=args.url, token=token)
    except client.Unreachable as exc:
        print(f"cannot reach the remediator at {args.url}: {exc}", file=sys.stderr)
        return UNREACHABLE


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: `exporter.exitcodes` (docs/cli.md); 1 when the server refused."""
    return exitcodes.run("ta-remediator", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
