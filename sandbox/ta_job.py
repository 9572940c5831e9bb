"""Flink semantics of the TA job across (re)starts, for the TA writer (sandbox.ta).

- `JobConfig`: what a job incarnation was started with. The ConfigMap reaches the container
  through `envFrom`, so its values are read once when the job starts and kept until the next
  start; container `env` values override them, as in Kubernetes.
- Start position (apache/flink-connector-kafka `KafkaSourceEnumerator`): a job restored from a
  checkpoint (`upgradeMode` last-state or savepoint, and a checkpoint exists) resumes every
  partition from the checkpoint's offsets, ignoring committed offsets and
  `TA_KAFKA_STARTING_OFFSETS`; partitions the checkpoint does not know start from the earliest
  offset (the connector's default for newly discovered partitions). Otherwise
  `TA_KAFKA_STARTING_OFFSETS` decides: earliest (default) | latest | committed (the job fails
  when a partition has no committed offset, as `committedOffsets()` does) | timestamp:<ms>.
- Checkpoints: `<state.checkpoints.dir>/<jobId>/chk-N/_metadata` objects in S3 carrying the
  source offsets; the newest (by its completion time) across all jobs is what last-state
  restores. One checkpoint is retained per job (Flink's `state.checkpoints.num-retained`: 1).
- Savepoints (triggered through the operator's `savepointTriggerNonce`):
  `<state.savepoints.dir>/savepoint-<jobId[:6]>-<12 hex>/_metadata` with the same offsets; the
  directory is the savepoint's location. Savepoints are never deleted by the job and commit
  nothing to Kafka.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from sandbox import s3

CONTAINER = "flink-main-container"
START_KEY = "TA_KAFKA_STARTING_OFFSETS"
_DURATION = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$")
_UNITS = {
    "": 0.001, "ms": 0.001, "milli": 0.001, "millis": 0.001, "millisecond": 0.001,
    "milliseconds": 0.001, "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0, "h": 3600.0,
    "hour": 3600.0, "hours": 3600.0,
}  # fmt: skip


class JobFailure(Exception):
    """The job fails at start; `java_type` is the exception class Flink would report."""

    def __init__(self, java_type: str, message: str) -> None:
        super().__init__(message)
        self.java_type = java_type
        self.message = message


def parse_duration(text: str, key: str) -> float:
    """Seconds from a Flink duration ("30s", "500 ms", "1min"; a bare number is ms)."""
    m = _DURATION.match(str(text).lower())
    if not m or m.group(2) not in _UNITS:
        raise JobFailure(
            "org.apache.flink.configuration.IllegalConfigurationException",
            f"Could not parse value '{text}' for key '{key}'.",
        )
    return int(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True)
class JobConfig:
    job_id: str
    env: dict[str, str]
    upgrade_mode: str
    checkpoints_dir: str | None
    checkpoint_interval: float | None  # seconds; None: checkpointing disabled
    savepoints_dir: str | None = None


def job_config(fd: Mapping[str, Any], configmap_data: Mapping[str, str]) -> JobConfig:
    """The configuration a job started now from `fd` and the ConfigMap gets."""
    spec = fd.get("spec") or {}
    env = dict(configmap_data)
    pod = ((spec.get("podTemplate") or {}).get("spec") or {}).get("containers") or []
    for container in pod:
        if container.get("name") == CONTAINER:
            for var in container.get("env") or []:
                if "value" in var:
                    env[var["name"]] = str(var["value"])
    conf = spec.get("flinkConfiguration") or {}
    raw = conf.get("execution.checkpointing.interval")
    interval = parse_duration(raw, "execution.checkpointing.interval") if raw else None
    return JobConfig(
        job_id=str(((fd.get("status") or {}).get("jobStatus") or {}).get("jobId") or ""),
        env=env,
        upgrade_mode=str((spec.get("job") or {}).get("upgradeMode") or "stateless"),
        checkpoints_dir=conf.get("state.checkpoints.dir"),
        checkpoint_interval=interval,
        savepoints_dir=conf.get("state.savepoints.dir"),
    )


@dataclass
class Checkpoint:
    job_id: str
    checkpoint_id: int
    completed_ms: int
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def body(self) -> bytes:
        return json.dumps(
            {
                "job": self.job_id,
                "checkpoint": self.checkpoint_id,
                "completedAt": self.completed_ms,
                "offsets": [
                    {"topic": t, "partition": p, "offset": o}
                    for (t, p), o in sorted(self.offsets.items())
                ],
            }
        ).encode()


class CheckpointStore:
    """Checkpoints in S3 under `state.checkpoints.dir`; in memory when no endpoint is given
    (the JobManager's in-memory checkpoint storage)."""

    def __init__(self, endpoint: str | None) -> None:
        self.endpoint = endpoint
        self.memory: Checkpoint | None = None
        self.savepoints: dict[str, Checkpoint] = {}  # location -> savepoint, without S3

    def write(self, directory: str | None, cp: Checkpoint) -> None:
        if not self.endpoint or not directory:
            self.memory = cp
            return
        bucket, prefix = s3.parse_s3_uri(directory)
        s3.ensure_bucket(self.endpoint, bucket)
        client = s3.client(self.endpoint)
        key = f"{prefix}{cp.job_id}/chk-{cp.checkpoint_id}/_metadata"
        client.put_object(Bucket=bucket, Key=key, Body=cp.body())
        listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}{cp.job_id}/chk-")
        for obj in listed.get("Contents", []):
            if obj["Key"] != key:  # subsumed: only the newest is retained
                client.delete_object(Bucket=bucket, Key=obj["Key"])

    def write_savepoint(self, directory: str | None, cp: Checkpoint) -> str:
        """Write a savepoint of `cp`'s offsets; its location (a directory)."""
        if not directory:
            raise JobFailure(
                "java.lang.IllegalStateException",
                "No savepoint directory configured (state.savepoints.dir)",
            )
        location = f"{directory.rstrip('/')}/savepoint-{cp.job_id[:6]}-{secrets.token_hex(6)}"
        if not self.endpoint:
            self.savepoints[location] = cp
            return location
        bucket, prefix = s3.parse_s3_uri(location + "/")
        s3.ensure_bucket(self.endpoint, bucket)
        s3.client(self.endpoint).put_object(Bucket=bucket, Key=f"{prefix}_metadata", Body=cp.body())
        return location

    def latest(self, directory: str | None) -> Checkpoint | None:
        """The newest completed checkpoint of any job under `directory`."""
        if not self.endpoint or not directory:
            return self.memory
        bucket, prefix = s3.parse_s3_uri(directory)
        client = s3.client(self.endpoint)
        if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
            return None
        best: Checkpoint | None = None
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith("/_metadata"):
                    continue
                doc = json.loads(client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
                cp = Checkpoint(
                    job_id=str(doc.get("job", "")),
                    checkpoint_id=int(doc.get("checkpoint", 0)),
                    completed_ms=int(
                        doc.get("completedAt", obj["LastModified"].timestamp() * 1000)
                    ),
                    offsets={
                        (str(o["topic"]), int(o["partition"])): int(o["offset"])
                        for o in doc.get("offsets", [])
                    },
                )
                if best is None or cp.completed_ms > best.completed_ms:
                    best = cp
        return best


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_start(value: str | None) -> str | int:
    """ "earliest" | "latest" | "committed", or the timestamp in ms of "timestamp:<ms>"."""
    text = (value or "earliest").strip()
    if text in ("earliest", "latest", "committed"):
        return text
    if text.startswith("timestamp:") and text[len("timestamp:") :].isdigit():
        return int(text[len("timestamp:") :])
    raise JobFailure(
        "java.lang.IllegalArgumentException",
        f"{START_KEY}={text!r}: expected earliest, latest, committed or timestamp:<epoch ms>",
    )


async def start_offsets(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], start: str | int
) -> dict[TopicPartition, int]:
    """Where a job without restored state starts reading each partition."""
    if start == "earliest":
        return dict(await consumer.beginning_offsets(tps))
    if start == "latest":
        return dict(await consumer.end_offsets(tps))
    if start == "committed":
        found = {tp: await consumer.committed(tp) for tp in tps}
        missing = [f"{tp.topic}-{tp.partition}" for tp, o in found.items() if o is None or o < 0]
        if missing:
            raise JobFailure(
                "org.apache.kafka.clients.consumer.NoOffsetForPartitionException",
                f"Undefined offset with no reset policy for partitions: [{', '.join(missing)}]",
            )
        return {tp: int(o) for tp, o in found.items() if o is not None}
    assert isinstance(start, int)
    by_time = await consumer.offsets_for_times(dict.fromkeys(tps, start))
    ends = await consumer.end_offsets(tps)
    # no record at or after the timestamp: the connector starts at the end of the partition
    return {tp: (hit.offset if hit is not None else ends[tp]) for tp, hit in by_time.items()}


async def restored_or_start(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    job: JobConfig,
    restored: Checkpoint | None,
) -> tuple[dict[TopicPartition, int], str]:
    """Each partition's first offset and how it was chosen ("checkpoint N" or the start)."""
    start = parse_start(job.env.get(START_KEY))  # the job's main() fails on a bad value
    if job.upgrade_mode in ("last-state", "savepoint") and restored is not None:
        known = {
            tp: restored.offsets[(tp.topic, tp.partition)]
            for tp in tps
            if (tp.topic, tp.partition) in restored.offsets
        }
        new = [tp for tp in tps if tp not in known]
        if new:
            known |= await consumer.beginning_offsets(new)
        return known, f"checkpoint {restored.checkpoint_id} of job {restored.job_id}"
    return await start_offsets(consumer, tps, start), f"{START_KEY}={start}"
