"""Checkpoint storage: the S3 URI of a checkpoint dir and what the walk of it found (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from exporter.probes.base import Sample


class CheckpointDirError(Exception):
    """The checkpoint dir is missing or is not an S3 URI."""


@dataclass(frozen=True)
class CheckpointStorage:
    deployment: str
    uri: str
    up: bool
    reason: str | None  # why it is down
    newest_write: float | None  # LastModified (s) of the newest checkpoint object
    newest_key: str | None
    requests: int
    truncated: bool  # the request budget ran out before the walk ended
    job_id: str | None = None  # the job whose directory was walked first

    @property
    def walk(self) -> str | None:
        """What the report says about an incomplete walk (read by name as a fact)."""
        if not self.truncated:
            return None
        first = f"job {self.job_id}'s directory first, then " if self.job_id else ""
        return (
            f"truncated after {self.requests} ListObjectsV2 calls ({first}the others in listing "
            "order): the newest write is a lower bound"
        )


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, prefix ending in "/" or empty) from s3://, s3a:// or s3p:// URIs."""
    m = re.fullmatch(r"s3[ap]?://([^/]+)/?(.*)", uri.strip())
    if not m or not m.group(1):
        raise CheckpointDirError(f"checkpoint dir {uri!r} is not an s3://bucket/prefix URI")
    prefix = m.group(2).strip("/")
    return m.group(1), f"{prefix}/" if prefix else ""


def render(data: CheckpointStorage) -> Iterable[Sample]:
    d = {"deployment": data.deployment}
    yield Sample("torghut_ta_checkpoint_storage_up", 1.0 if data.up else 0.0, d)
    if data.up:
        yield Sample("torghut_ta_checkpoint_storage_walk_truncated", float(data.truncated), d)
    if data.newest_write is not None:
        yield Sample(
            "torghut_ta_checkpoint_storage_last_write_timestamp_seconds", data.newest_write, d
        )
