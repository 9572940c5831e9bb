"""`python -m sandbox.clickhouse --port P --data-dir D ...`: one chdb-backed ClickHouse HTTP server."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from sandbox.clickhouse.config import REPLICATED_STARTUP_SETTINGS, write_config
from sandbox.clickhouse.ddl import seed_statements
from sandbox.clickhouse.engine import Engine, Statement
from sandbox.clickhouse.grants import load_users
from sandbox.clickhouse.pressure import unmount
from sandbox.clickhouse.server import make_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sandbox.clickhouse", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--user", default="default")
    p.add_argument("--password-file", type=Path, help="file holding the user's password")
    p.add_argument(
        "--users-file",
        type=Path,
        help='JSON {"<user>": {"password_file": path, "grants": ["SELECT ON torghut.*", ...]}}',
    )
    p.add_argument("--config-xml", type=Path, help="ClickHouse config file handed to chdb")
    p.add_argument("--seed", action="store_true", help="create database torghut and its tables")
    p.add_argument("--ttl-days", type=int, default=30)
    p.add_argument("--engine", choices=("mergetree", "replicated"), default="mergetree")
    p.add_argument("--zookeeper", help="host:port; writes a config with <zookeeper> and <macros>")
    p.add_argument(
        "--max-partition-size-to-drop",
        type=int,
        help="bytes; a bigger partition's DROP is refused (Code 359); 0 = no limit",
    )
    p.add_argument("--replica", default="r1")
    p.add_argument("--shard", default="01")
    p.add_argument(
        "--unmount-on-exit", action="store_true", help="the data dir is a tmpfs: unmount it on exit"
    )
    args = p.parse_args(argv)
    if args.engine == "replicated" and not (args.zookeeper or args.config_xml):
        p.error("--engine replicated needs --zookeeper host:port (or a --config-xml with one)")
    if args.config_xml and (args.zookeeper or args.max_partition_size_to_drop is not None):
        p.error("give either --config-xml or --zookeeper/--max-partition-size-to-drop, not both")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    password = ""
    if args.password_file:
        password = args.password_file.read_text().rstrip("\n")
    config = args.config_xml
    if args.zookeeper or args.max_partition_size_to_drop is not None:
        config = write_config(
            args.data_dir / "sandbox-config.xml",
            zookeeper=args.zookeeper,
            replica=args.replica,
            shard=args.shard,
            max_partition_size_to_drop=args.max_partition_size_to_drop,
        )
    startup = REPLICATED_STARTUP_SETTINGS if args.engine == "replicated" else None
    engine = Engine(args.data_dir, config_file=config, startup_settings=startup)
    if args.seed:
        for sql in seed_statements(engine=args.engine, ttl_days=args.ttl_days):
            engine.execute(Statement(sql=sql))
    users, grants = {args.user: password}, {}
    if args.users_file:
        users_extra, grants = load_users(args.users_file)
        users.update(users_extra)
    app = make_app(engine, users=users, grants=grants)
    logging.info("chdb %s serving ClickHouse HTTP on %s:%s", engine.version, args.host, args.port)

    def _exit_now(signum: int, _frame: object) -> None:
        # chdb holding replicated tables hangs in its own shutdown; leave without it.
        logging.info("signal %s: exiting", signum)
        if args.unmount_on_exit:
            unmount(args.data_dir)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, _exit_now)
    signal.signal(signal.SIGINT, _exit_now)
    web.run_app(app, host=args.host, port=args.port, print=None, handle_signals=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
