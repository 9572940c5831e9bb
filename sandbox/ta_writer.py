"""The TA writer's job loop: it follows the FlinkDeployment as Flink runs `torghut-ta`.

One incarnation per `jobId` in RUNNING: read the config, restore or choose the offsets
(sandbox.ta_job), consume, insert the rows (sandbox.ta_rows), checkpoint then commit, write
triggered savepoints, and report a failed insert as the failed job's exception chain.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
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

from sandbox.ta_job import (
    Checkpoint,
    CheckpointStore,
    JobConfig,
    JobFailure,
    job_config,
    now_ms,
    restored_or_start,
)
from sandbox.ta_rows import Calculator, decode_trade

log = logging.getLogger("sandbox.ta")  # the writer process's name (python -m sandbox.ta)
JDBC_PREFIX = "Failed to execute batch insert into ClickHouse: "


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
    s3_endpoint: str | None = None  # where state.checkpoints.dir lives; None: in memory


class Writer:
    def __init__(self, cfg: WriterConfig) -> None:
        self.cfg = cfg
        self.calc = Calculator()
        self.consumer: AIOKafkaConsumer | None = None
        self.job: JobConfig | None = None  # the running incarnation (None: not running)
        self.positions: dict[TopicPartition, int] = {}  # next offset: the source's state
        self.store = CheckpointStore(cfg.s3_endpoint)
        self.columns: dict[str, list[str]] = {}
        self.cycles = 0  # completed polls of the FlinkDeployment; tests wait on it
        self.starts: list[str] = []  # how each incarnation chose its offsets; tests read it
        self.checkpoint_id = 0
        self.last_checkpoint = 0.0
        self.savepoint_trigger: str | None = None  # the last trigger acted on

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
            await self._stop_job()
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
        job_status = (fd.get("status") or {}).get("jobStatus") or {}
        desired = ((fd.get("spec") or {}).get("job") or {}).get("state", "running")
        if job_status.get("state") != "RUNNING" or desired != "running":
            await self._stop_job()
            await asyncio.sleep(self.cfg.poll_seconds)
            return
        if self.job is None or self.job.job_id != job_status.get("jobId"):
            await self._stop_job()
            await self._start_job(fd, core)
        if self.consumer is None or self.job is None:
            return
        batch = await self.consumer.getmany(
            timeout_ms=int(self.cfg.poll_seconds * 1000), max_records=2000
        )
        trades = [
            t for recs in batch.values() for r in recs if (t := decode_trade(r.value, r.timestamp))
        ]
        if trades:
            signals, bars = self.calc.rows(trades)
            try:
                await self._insert(ch, "ta_signals", signals)
                await self._insert(ch, "ta_microbars", bars)
            except Exception as exc:
                await self._report_failure(insert_failure(str(exc)))
                await self._stop_job()
                return
        self.positions |= {tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs}
        await self._checkpoint()
        await self._savepoint(job_status.get("savepointInfo") or {})

    async def _start_job(self, fd: dict[str, Any], core: kclient.CoreV1Api) -> None:
        """A new incarnation: read the config (envFrom), restore or choose offsets, consume."""
        try:
            cm = await core.read_namespaced_config_map(self.cfg.configmap, self.cfg.namespace)
        except kclient.ApiException as exc:  # the pod cannot start without its envFrom source
            log.warning("ConfigMap %s unreadable: %s", self.cfg.configmap, exc.reason)
            await asyncio.sleep(self.cfg.poll_seconds)
            return
        try:
            job = job_config(fd, cm.data or {})
            group, topic = job.env.get("TA_GROUP_ID"), job.env.get("TA_TRADES_TOPIC")
            if not group or not topic:
                raise JobFailure(
                    "java.lang.IllegalArgumentException",
                    f"TA_GROUP_ID and TA_TRADES_TOPIC must be set (ConfigMap {self.cfg.configmap})",
                )
            parts = await self._partitions(topic)
            if not parts:  # not created yet: try again next cycle rather than consume nothing
                log.warning("topic %s has no partitions (yet)", topic)
                await asyncio.sleep(self.cfg.poll_seconds)
                return
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.cfg.kafka_bootstrap,
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset="none",
            )
            await consumer.start()
            self.consumer = consumer
            tps = [TopicPartition(topic, p) for p in parts]
            consumer.assign(tps)
            restored = (
                await asyncio.to_thread(self.store.latest, job.checkpoints_dir)
                if job.upgrade_mode in ("last-state", "savepoint")
                else None
            )
            offsets, how = await restored_or_start(consumer, tps, job, restored)
        except JobFailure as failure:
            log.error("job %s fails at start: %s", fd["status"]["jobStatus"]["jobId"], failure)
            await self._stop_job()
            await self._report_failure([{"type": failure.java_type, "message": failure.message}])
            return
        for tp, offset in offsets.items():
            consumer.seek(tp, offset)
        self.job, self.positions = job, dict(offsets)
        self.checkpoint_id = restored.checkpoint_id if restored else 0
        self.last_checkpoint = asyncio.get_running_loop().time()
        self.starts.append(how)
        log.info("job %s consumes %s as group %s from %s", job.job_id, topic, group, how)

    async def _checkpoint(self) -> None:
        """Complete a checkpoint every interval: store it, then commit its offsets to Kafka."""
        job, consumer = self.job, self.consumer
        loop_time = asyncio.get_running_loop().time()
        if job is None or consumer is None or job.checkpoint_interval is None:
            return
        if loop_time - self.last_checkpoint < job.checkpoint_interval:
            return
        self.last_checkpoint = loop_time
        cp = Checkpoint(
            job.job_id,
            self.checkpoint_id + 1,
            now_ms(),
            {(tp.topic, tp.partition): o for tp, o in self.positions.items()},
        )
        try:
            await asyncio.to_thread(self.store.write, job.checkpoints_dir, cp)
        except (BotoCoreError, ClientError) as exc:  # a failed checkpoint commits nothing
            log.warning("checkpoint %d failed: %s", cp.checkpoint_id, exc)
            return
        self.checkpoint_id = cp.checkpoint_id
        if self.positions:
            await consumer.commit(dict(self.positions))

    async def _savepoint(self, info: dict[str, Any]) -> None:
        """Write the savepoint the operator triggered (once per trigger) and report it."""
        trigger, job = info.get("triggerId"), self.job
        if not trigger or trigger == self.savepoint_trigger or job is None:
            return
        self.savepoint_trigger = trigger
        offsets = {(tp.topic, tp.partition): o for tp, o in self.positions.items()}
        cp = Checkpoint(job.job_id, self.checkpoint_id, now_ms(), offsets)
        try:
            location = await asyncio.to_thread(self.store.write_savepoint, job.savepoints_dir, cp)
        except (BotoCoreError, ClientError, JobFailure) as exc:  # the trigger stays pending
            log.warning("savepoint for trigger %s failed: %s", trigger, exc)
            return
        log.info("job %s wrote savepoint %s", job.job_id, location)
        await self._post("savepoint", {"triggerId": trigger, "location": location})

    async def _insert(self, ch: Any, table: str, rows: list[dict[str, Any]]) -> None:
        cols = [c for c in self.columns.get(table, []) if rows and c in rows[0]]
        if rows and cols:
            await ch.insert(table, [[r[c] for c in cols] for r in rows], column_names=cols)

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

    async def _stop_job(self) -> None:
        """The incarnation ends; its uncheckpointed progress is lost, as in Flink."""
        self.job, self.positions = None, {}
        if self.consumer is not None:
            consumer, self.consumer = self.consumer, None
            await consumer.stop()

    async def _report_failure(self, causes: list[dict[str, str]]) -> None:
        log.error("job fails: %s", causes[-1]["message"])
        root = causes[-1]
        await self._post(
            "fail", {"message": root["message"], "type": root["type"], "causes": causes}
        )

    async def _post(self, hook: str, body: dict[str, Any]) -> None:
        """A report to the operator; 409: the state moved on meanwhile (suspended, no trigger)."""
        server, token = _kube_endpoint(self.cfg.kubeconfig)
        url = f"{server}/sandbox/flinkdeployments/{self.cfg.namespace}/{self.cfg.deployment}/{hook}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with aiohttp.ClientSession() as s, s.post(url, json=body, headers=headers) as resp:
            if resp.status == 409:
                return
            resp.raise_for_status()


def insert_failure(text: str) -> list[dict[str, str]]:
    """The exception chain the job's JDBC sink throws for a failed ClickHouse insert."""
    found = re.search(r"Code: \d+\. DB::Exception:[^\n]*", text)
    detail = found.group(0).strip() if found else text.strip().splitlines()[0]
    return [
        {"type": "java.sql.SQLException", "message": f"{JDBC_PREFIX}{detail}"},
        {"type": "com.clickhouse.client.ClickHouseException", "message": detail},
    ]


def _kube_endpoint(kubeconfig: Path) -> tuple[str, str | None]:
    doc = yaml.safe_load(kubeconfig.read_text())
    server = doc["clusters"][0]["cluster"]["server"].rstrip("/")
    token = (doc.get("users") or [{}])[0].get("user", {}).get("token")
    return server, token
