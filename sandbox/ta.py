"""The TA writer: stands in for the Flink job `torghut-ta`.

It behaves like the real job where the runbook cares: it reads TA_GROUP_ID and the trades
topic from the live ConfigMap, consumes with that group and commits offsets after each
successful write (as Flink commits on checkpoint), writes `ta_signals` and `ta_microbars` with
the trade's event time, runs only while the FlinkDeployment's job is RUNNING, and when a
ClickHouse insert fails it stops and reports the job FAILED through the simulated operator,
as the real job does when the ClickHouse disk is full. After a restart it resumes from the
group's committed offsets (the sandbox's analogue of a last-state restore).

    python -m sandbox.ta --kubeconfig K --clickhouse URL --kafka HOST:PORT
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import clickhouse_connect
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from botocore.exceptions import BotoCoreError, ClientError
from kubernetes_asyncio import client as kclient
from kubernetes_asyncio import config as kconfig

from sandbox.indicators import Bar, SymbolState
from sandbox.s3 import put_checkpoints
from sandbox.util import Service, python_module_args, spawn, wait_started

log = logging.getLogger("sandbox.ta")


@dataclass(frozen=True)
class Trade:
    symbol: str
    price: float
    size: float
    event_ts: datetime


def decode_trade(value: bytes | None, record_ts_ms: int) -> Trade | None:
    """A trade from a record value; the record timestamp stands in for a missing event time."""
    try:
        doc = json.loads(value or b"")
        symbol, price = str(doc["symbol"]), float(doc["price"])
        size = float(doc.get("size", doc.get("qty", 1)))
    except (ValueError, KeyError, TypeError):
        return None
    raw = doc.get("event_ts", doc.get("ts"))
    ts = record_ts_ms / 1000.0
    if isinstance(raw, int | float) and math.isfinite(raw):
        ts = raw / 1000.0 if raw > 1e11 else float(raw)
    elif isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            ts = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
        except ValueError:
            pass
    return Trade(symbol, price, size, datetime.fromtimestamp(ts, UTC))


class Calculator:
    """Turns trades into signal rows and 1-second microbar rows."""

    def __init__(self) -> None:
        self.states: dict[str, SymbolState] = {}

    def rows(self, trades: Iterable[Trade]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        now = datetime.now(UTC)
        signals: list[dict[str, Any]] = []
        bars: dict[tuple[str, datetime], Bar] = {}
        for t in trades:
            values = self.states.setdefault(t.symbol, SymbolState()).update(t.price, t.size)
            signals.append(
                {
                    "event_ts": t.event_ts,
                    "symbol": t.symbol,
                    "price": t.price,
                    "ingest_ts": now,
                    **values,
                }
            )
            bucket = (t.symbol, t.event_ts.replace(microsecond=0))
            if bucket in bars:
                bars[bucket].add(t.price, t.size)
            else:
                bars[bucket] = Bar.first(t.price, t.size)
        microbars = [
            {"event_ts": ts, "symbol": sym, "ingest_ts": now, **vars(bar)}
            for (sym, ts), bar in bars.items()
        ]
        return signals, microbars


@dataclass
class WriterConfig:
    kubeconfig: Path
    clickhouse_url: str
    kafka_bootstrap: str
    namespace: str = "torghut"
    deployment: str = "torghut-ta"
    configmap: str = "torghut-ta-config"
    database: str = "torghut"
    clickhouse_user: str = "default"
    clickhouse_password: str = ""
    poll_seconds: float = 0.2
    s3_endpoint: str | None = None  # where state.checkpoints.dir lives; None: no checkpoints
    checkpoint_interval: float = 5.0


class Writer:
    def __init__(self, cfg: WriterConfig) -> None:
        self.cfg = cfg
        self.calc = Calculator()
        self.consumer: AIOKafkaConsumer | None = None
        self.group: str | None = None
        self.topic: str | None = None
        self.columns: dict[str, list[str]] = {}
        self.cycles = 0  # completed polls of the FlinkDeployment; tests wait on it
        self.checkpoint_id = 0
        self.last_checkpoint = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        api_client = await kconfig.new_client_from_config(config_file=str(self.cfg.kubeconfig))
        url = self.cfg.clickhouse_url.rstrip("/")
        host, _, port = url.split("://", 1)[1].partition(":")
        ch = await clickhouse_connect.get_async_client(
            host=host,
            port=int(port or 8123),
            username=self.cfg.clickhouse_user,
            password=self.cfg.clickhouse_password,
            database=self.cfg.database,
        )
        try:
            crd = kclient.CustomObjectsApi(api_client)
            core = kclient.CoreV1Api(api_client)
            for table in ("ta_signals", "ta_microbars"):
                res = await ch.query(
                    "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String}",
                    parameters={"db": self.cfg.database, "t": table},
                )
                self.columns[table] = [r[0] for r in res.result_rows]
            while not stop.is_set():
                try:
                    await self._cycle(crd, core, ch)
                except (aiohttp.ClientError, OSError, kclient.ApiException) as exc:
                    log.warning("cycle failed: %s", exc)
                    await asyncio.sleep(self.cfg.poll_seconds)
                self.cycles += 1
        finally:
            await self._drop_consumer()
            await api_client.close()
            await ch.close()

    async def _cycle(self, crd: kclient.CustomObjectsApi, core: kclient.CoreV1Api, ch: Any) -> None:
        fd = await crd.get_namespaced_custom_object(
            "flink.apache.org",
            "v1beta1",
            self.cfg.namespace,
            "flinkdeployments",
            self.cfg.deployment,
        )
        state = ((fd.get("status") or {}).get("jobStatus") or {}).get("state")
        desired = ((fd.get("spec") or {}).get("job") or {}).get("state", "running")
        if state != "RUNNING" or desired != "running":
            await self._drop_consumer()
            await asyncio.sleep(self.cfg.poll_seconds)
            return
        cm = await core.read_namespaced_config_map(self.cfg.configmap, self.cfg.namespace)
        data = cm.data or {}
        group, topic = data.get("TA_GROUP_ID"), data.get("TA_TRADES_TOPIC")
        if not group or not topic:
            log.warning("ConfigMap lacks TA_GROUP_ID or TA_TRADES_TOPIC")
            await asyncio.sleep(self.cfg.poll_seconds)
            return
        if self.consumer is None or (group, topic) != (self.group, self.topic):
            await self._open_consumer(group, topic)
        if self.consumer is None:
            return
        batch = await self.consumer.getmany(
            timeout_ms=int(self.cfg.poll_seconds * 1000), max_records=2000
        )
        trades = [
            t for recs in batch.values() for r in recs if (t := decode_trade(r.value, r.timestamp))
        ]
        if not batch:
            return
        if trades:
            signals, bars = self.calc.rows(trades)
            try:
                await self._insert(ch, "ta_signals", signals)
                await self._insert(ch, "ta_microbars", bars)
            except Exception as exc:
                await self._report_failure(fd, str(exc))
                await self._drop_consumer()
                return
        await self.consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs})
        await self._checkpoint(fd)

    async def _checkpoint(self, fd: dict[str, Any]) -> None:
        """Write a Flink-like checkpoint object, as the job does after each checkpoint."""
        loop_time = asyncio.get_running_loop().time()
        if (
            not self.cfg.s3_endpoint
            or loop_time - self.last_checkpoint < self.cfg.checkpoint_interval
        ):
            return
        conf = (fd.get("spec") or {}).get("flinkConfiguration") or {}
        directory = conf.get("state.checkpoints.dir")
        job_id = ((fd.get("status") or {}).get("jobStatus") or {}).get("jobId")
        if not directory or not job_id:
            return
        self.checkpoint_id += 1
        self.last_checkpoint = loop_time
        try:
            await asyncio.to_thread(
                put_checkpoints, self.cfg.s3_endpoint, directory, job_id, [self.checkpoint_id]
            )
        except (BotoCoreError, ClientError) as exc:  # Flink tolerates a failed checkpoint too
            log.warning("checkpoint %d failed: %s", self.checkpoint_id, exc)

    async def _insert(self, ch: Any, table: str, rows: list[dict[str, Any]]) -> None:
        cols = [c for c in self.columns.get(table, []) if rows and c in rows[0]]
        if rows and cols:
            await ch.insert(table, [[r[c] for c in cols] for r in rows], column_names=cols)

    async def _open_consumer(self, group: str, topic: str) -> None:
        await self._drop_consumer()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.cfg.kafka_bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        parts = await self._partitions(topic)
        if not parts:  # not created yet: try again next cycle rather than consume nothing
            await consumer.stop()
            log.warning("topic %s has no partitions (yet)", topic)
            await asyncio.sleep(self.cfg.poll_seconds)
            return
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        for tp in tps:
            committed = await consumer.committed(tp)
            if committed is None or committed < 0:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        self.consumer, self.group, self.topic = consumer, group, topic
        log.info("consuming %s as group %s (%d partitions)", topic, group, len(tps))

    async def _partitions(self, topic: str) -> list[int]:
        """The topic's partitions as the Flink Kafka source discovers them (a metadata request)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.cfg.kafka_bootstrap)
        await admin.start()
        try:
            [described] = await admin.describe_topics([topic])
        finally:
            await admin.close()
        if described["error_code"] != 0:
            return []
        return sorted(p["partition"] for p in described["partitions"])

    async def _drop_consumer(self) -> None:
        if self.consumer is not None:
            consumer, self.consumer = self.consumer, None
            await consumer.stop()

    async def _report_failure(self, fd: dict[str, Any], message: str) -> None:
        log.error("ClickHouse insert failed, job fails: %s", message.splitlines()[0])
        server, token = _kube_endpoint(self.cfg.kubeconfig)
        url = f"{server}/sandbox/flinkdeployments/{self.cfg.namespace}/{self.cfg.deployment}/fail"
        body = {"message": f"JDBC insert into ClickHouse failed: {message.splitlines()[0]}"}
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with aiohttp.ClientSession() as s, s.post(url, json=body, headers=headers) as resp:
            resp.raise_for_status()


def _kube_endpoint(kubeconfig: Path) -> tuple[str, str | None]:
    doc = yaml.safe_load(kubeconfig.read_text())
    server = doc["clusters"][0]["cluster"]["server"].rstrip("/")
    token = (doc.get("users") or [{}])[0].get("user", {}).get("token")
    return server, token


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
