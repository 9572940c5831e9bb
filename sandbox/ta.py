"""The TA writer: stands in for the Flink job `torghut-ta` with Flink's semantics.

Each time the simulated operator starts the job (a new `jobId` in RUNNING) the writer starts a
new incarnation: it reads the ConfigMap and the container env once (as `envFrom` does; a later
ConfigMap change alone changes nothing until the next restart), restores the source offsets
from the newest checkpoint with `upgradeMode` last-state/savepoint or applies
`TA_KAFKA_STARTING_OFFSETS` otherwise (sandbox.ta_job), and consumes the trades topic with
`TA_GROUP_ID`. It writes `ta_signals` and `ta_microbars` with the trade's event time. Every
`execution.checkpointing.interval` it completes a checkpoint: a `chk-N/_metadata` object with
the offsets in S3, then a commit of the same offsets to Kafka (never in between). When a
ClickHouse insert fails the job fails: the operator shows FAILED with a serialized Flink
exception whose cause chain holds the JDBC and ClickHouse exceptions.

Here: the process (`launch`, the command line). The job loop is sandbox.ta_writer, the rows it
computes sandbox.ta_rows.

    python -m sandbox.ta --kubeconfig K --clickhouse URL --kafka HOST:PORT
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path

from sandbox.ta_writer import Writer, WriterConfig
from sandbox.util import Service, python_module_args, spawn, wait_started

log = logging.getLogger("sandbox.ta")


def launch(
    workdir: Path,
    *,
    kubeconfig: Path,
    clickhouse_url: str,
    kafka_bootstrap: str,
    clickhouse_user: str = "default",
    clickhouse_password_file: Path | None = None,
    s3_endpoint: str | None = None,
) -> Service:
    """Start the TA writer in the background."""
    args = [
        "--kubeconfig", str(kubeconfig),
        "--clickhouse", clickhouse_url,
        "--kafka", kafka_bootstrap,
        "--clickhouse-user", clickhouse_user,
    ]  # fmt: skip
    if clickhouse_password_file:
        args += ["--clickhouse-password-file", str(clickhouse_password_file)]
    if s3_endpoint:
        args += ["--s3", s3_endpoint]
    log_path = workdir / "logs" / "ta-writer.log"
    proc = spawn(python_module_args("sandbox.ta", *args), log_path=log_path)
    wait_started(
        proc.pid, lambda: "writer started" in log_path.read_text(), log=log_path,
        what="TA writer", timeout=60,
    )  # fmt: skip
    return Service("ta_writer", proc.pid, {}, str(log_path))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m sandbox.ta", description=__doc__)
    p.add_argument("--kubeconfig", type=Path, required=True)
    p.add_argument("--clickhouse", required=True, help="http://host:port")
    p.add_argument("--kafka", required=True, help="bootstrap host:port")
    p.add_argument("--clickhouse-user", default="default")
    p.add_argument("--clickhouse-password-file", type=Path)
    p.add_argument("--s3", help="S3 endpoint of state.checkpoints.dir (checkpoints written there)")
    p.add_argument("--poll", type=float, default=0.2)
    a = p.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s"
    )
    password = a.clickhouse_password_file.read_text().strip() if a.clickhouse_password_file else ""
    cfg = WriterConfig(
        kubeconfig=a.kubeconfig,
        clickhouse_url=a.clickhouse,
        kafka_bootstrap=a.kafka,
        clickhouse_user=a.clickhouse_user,
        clickhouse_password=password,
        poll_seconds=a.poll,
        s3_endpoint=a.s3,
    )

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("writer started")
        await Writer(cfg).run(stop)

    asyncio.run(_main())


if __name__ == "__main__":
    main()
