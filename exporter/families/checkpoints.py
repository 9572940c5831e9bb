"""Checkpoint storage: does the S3 prefix of the live FlinkDeployment's checkpoint dir answer, and
when was the newest checkpoint written?

The walk is bounded: list the dir with a delimiter; in every job directory found, only the
highest `chk-N/` is listed (Flink writes `_metadata` last, and a higher N is newer); `shared/`
and `taskowned/` are skipped. At most `max_requests` ListObjectsV2 calls per run. Job ids are
random, so listing order says nothing about age: the running job's directory (its id from the
FlinkDeployment's status.jobStatus.jobId) is walked first, and a walk that ran out of budget
says so (`truncated`), since its newest write is then only a lower bound.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exporter.clients import s3 as s3c
from exporter.clients.kube import get_flinkdeployment
from exporter.config import Config
from exporter.families.k8s import kube_access
from exporter.probes.base import ProbeSpec
from exporter.probes.checkpoints import (
    CheckpointDirError,
    CheckpointStorage,
    parse_s3_uri,
    render,
)
from exporter.probes.flink_deployment import parse_flinkdeployment

_CHK = re.compile(r"chk-(\d+)/$")
_SKIP = ("shared/", "taskowned/")
MAX_REQUESTS = 20


Lister = Callable[..., Awaitable[dict[str, Any]]]


@dataclass
class _Walk:
    list_page: Lister
    bucket: str
    budget: int
    requests: int = 0
    truncated: bool = False
    newest: tuple[datetime, str] | None = None

    def _see(self, contents: Iterable[dict[str, Any]]) -> None:
        for obj in contents:
            stamp = obj.get("LastModified")
            if isinstance(stamp, datetime) and (self.newest is None or stamp > self.newest[0]):
                self.newest = (stamp, str(obj.get("Key")))

    async def _pages(self, prefix: str, delimiter: str | None) -> list[str]:
        """List every page of `prefix` within budget; returns the common prefixes."""
        token: str | None = None
        prefixes: list[str] = []
        while True:
            if self.requests >= self.budget:
                self.truncated = True
                return prefixes
            self.requests += 1
            page = await self.list_page(
                bucket=self.bucket, prefix=prefix, delimiter=delimiter, token=token
            )
            self._see(page.get("Contents") or [])
            prefixes += [p["Prefix"] for p in page.get("CommonPrefixes") or [] if "Prefix" in p]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return prefixes

    async def walk(self, prefix: str, depth: int = 2, *, first: str | None = None) -> None:
        """Walk `prefix`; the subdirectory `first` (already walked) is not walked again."""
        subdirs = await self._pages(prefix, "/")
        checkpoints = [(int(m.group(1)), p) for p in subdirs if (m := _CHK.search(p))]
        if checkpoints:
            await self._pages(max(checkpoints)[1], None)
        if depth == 0:
            return
        for sub in subdirs:
            if not _CHK.search(sub) and not sub.endswith(_SKIP) and sub != first:
                await self.walk(sub, depth - 1)


async def inspect_storage(
    list_page: Lister,
    *,
    deployment: str,
    uri: str,
    job_id: str | None = None,
    max_requests: int = MAX_REQUESTS,
) -> CheckpointStorage:
    """Walk the checkpoint dir, `job_id`'s directory first when given; S3 errors give
    `up=False` with the reason instead of raising."""
    bucket, prefix = parse_s3_uri(uri)
    walk = _Walk(list_page, bucket, max_requests)
    job_dir = f"{prefix}{job_id}/" if job_id else None
    try:
        if job_dir:
            await walk.walk(job_dir, depth=1)
        await walk.walk(prefix, first=job_dir)
    except s3c.S3Error as exc:
        if walk.requests <= 1:  # the dir itself did not answer
            return CheckpointStorage(
                deployment, uri, False, str(exc), None, None, walk.requests, False, job_id
            )
        raise
    newest = walk.newest
    return CheckpointStorage(
        deployment,
        uri,
        True,
        None,
        newest[0].timestamp() if newest else None,
        newest[1] if newest else None,
        walk.requests,
        walk.truncated,
        job_id,
    )


async def build(cfg: Config, *, stack: AsyncExitStack) -> list[ProbeSpec]:
    if not cfg.checkpoint_storage.enabled:
        return []  # the checkpoints verdict then rests on Flink's last-checkpoint time alone
    t = cfg.probes.timing("checkpoint_storage")
    kube = kube_access(cfg, stack=stack)
    s3 = await s3c.open_from_config(cfg, stack=stack, timeout=t.timeout)
    name = cfg.flink.deployment

    async def list_page(**kwargs: Any) -> dict[str, Any]:
        return await s3c.list_page(s3, **kwargs)

    async def collect() -> CheckpointStorage:
        obj = await get_flinkdeployment(
            await kube.api(),
            namespace=cfg.namespace,
            name=name,
            timeout=cfg.kubernetes.request_timeout,
        )
        status = parse_flinkdeployment(obj)
        uri = status.checkpoints_dir
        if not uri:
            raise CheckpointDirError(
                f"FlinkDeployment {cfg.namespace}/{name} sets no state.checkpoints.dir"
            )
        return await inspect_storage(list_page, deployment=name, uri=uri, job_id=status.job_id)

    return [ProbeSpec("checkpoint_storage", collect, render, t.interval, t.timeout, t.staleness)]
