"""Checkpoint storage probe against a real S3 API (moto_server): ground truth is what the server stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exporter.clients import s3 as s3c
from exporter.families.checkpoints import inspect_storage
from exporter.probes.checkpoints import (
    CheckpointDirError,
    CheckpointStorage,
    parse_s3_uri,
    render,
)
from sandbox import s3 as sandbox_s3
from sandbox.util import Service, free_port

Lister = Callable[..., Any]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://b/checkpoints/torghut-ta", ("b", "checkpoints/torghut-ta/")),
        ("s3a://b/checkpoints/", ("b", "checkpoints/")),
        ("s3p://b", ("b", "")),
    ],
)
def test_s3_uri_schemes(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["file:///opt/flink/ckpt", "s3://", "hdfs://nn/ckpt"])
def test_non_s3_dirs_are_refused_with_the_uri(uri: str) -> None:
    with pytest.raises(CheckpointDirError, match="not an s3://bucket/prefix URI"):
        parse_s3_uri(uri)


def test_render_down_storage_has_no_last_write() -> None:
    data = CheckpointStorage("torghut-ta", "s3://b/p", False, "NoSuchBucket", None, None, 1, False)
    samples = list(render(data))
    assert [(s.name, s.value) for s in samples] == [("torghut_ta_checkpoint_storage_up", 0.0)]


async def _lister(
    stack: AsyncExitStack, endpoint: str, key: str = "test", secret: str = "test"
) -> Lister:
    client = await s3c.open_client(
        stack=stack,
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id=key,
        secret_access_key=secret,
        timeout=3.0,
    )

    async def list_page(**kwargs: Any) -> dict[str, Any]:
        return await s3c.list_page(client, **kwargs)

    return list_page


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


async def test_newest_write_is_the_highest_checkpoint_of_any_job(
    s3_endpoint: str, unique_bucket: str, stack: AsyncExitStack
) -> None:
    uri = f"s3://{unique_bucket}/checkpoints/torghut-ta"
    now = datetime.now(UTC).replace(microsecond=0)
    old = sandbox_s3.put_checkpoints(
        s3_endpoint,
        uri,
        "0" * 32,
        [7, 8],
        written_at=[now - timedelta(hours=3), now - timedelta(hours=2)],
    )
    new = sandbox_s3.put_checkpoints(
        s3_endpoint,
        uri,
        "f" * 32,
        [1, 2, 3],
        written_at=[
            now - timedelta(minutes=30),
            now - timedelta(minutes=20),
            now - timedelta(minutes=10),
        ],
    )
    data = await inspect_storage(
        await _lister(stack, s3_endpoint), deployment="torghut-ta", uri=uri
    )
    assert data.up and data.reason is None and not data.truncated
    assert data.newest_write == new[-1].last_modified.timestamp()
    assert data.newest_key == new[-1].key
    assert old[-1].last_modified < new[-1].last_modified
    assert data.requests <= 5  # dir + two job dirs + their newest chk-N


def _many_old_jobs(endpoint: str, uri: str, now: datetime, count: int) -> None:
    """`count` finished jobs whose ids sort before any live one, checkpointed hours ago."""
    for i in range(count):
        sandbox_s3.put_checkpoints(
            endpoint, uri, f"{i:032x}", [5], written_at=[now - timedelta(hours=5, minutes=i)]
        )


async def test_current_job_is_walked_first_among_many_job_dirs(
    s3_endpoint: str, unique_bucket: str, stack: AsyncExitStack
) -> None:
    uri = f"s3://{unique_bucket}/checkpoints/torghut-ta"
    now = datetime.now(UTC).replace(microsecond=0)
    _many_old_jobs(s3_endpoint, uri, now, 30)
    current = "e" * 32
    new = sandbox_s3.put_checkpoints(
        s3_endpoint, uri, current, [41, 42], written_at=[now - timedelta(minutes=2), now]
    )
    data = await inspect_storage(
        await _lister(stack, s3_endpoint), deployment="torghut-ta", uri=uri, job_id=current
    )
    assert data.up and data.newest_key == new[-1].key
    assert data.newest_write == new[-1].last_modified.timestamp()
    # 31 job dirs need far more than 20 calls: the walk says it stopped early.
    assert data.truncated and data.requests == 20
    samples = {s.name: s.value for s in render(data)}
    assert samples["torghut_ta_checkpoint_storage_walk_truncated"] == 1.0
    assert samples["torghut_ta_checkpoint_storage_last_write_timestamp_seconds"] == (
        new[-1].last_modified.timestamp()
    )
    assert data.walk is not None and current in data.walk and "lower bound" in data.walk


async def test_without_a_job_id_a_truncated_walk_is_reported(
    s3_endpoint: str, unique_bucket: str, stack: AsyncExitStack
) -> None:
    uri = f"s3://{unique_bucket}/ckpt"
    now = datetime.now(UTC).replace(microsecond=0)
    _many_old_jobs(s3_endpoint, uri, now, 30)
    new = sandbox_s3.put_checkpoints(s3_endpoint, uri, "f" * 32, [9], written_at=[now])
    data = await inspect_storage(await _lister(stack, s3_endpoint), deployment="d", uri=uri)
    assert data.up and data.truncated and data.requests == 20
    assert data.newest_write is not None and data.newest_write < new[0].last_modified.timestamp()
    samples = {s.name: s.value for s in render(data)}
    assert samples["torghut_ta_checkpoint_storage_walk_truncated"] == 1.0


async def test_current_job_dir_is_not_walked_twice(
    s3_endpoint: str, unique_bucket: str, stack: AsyncExitStack
) -> None:
    uri = f"s3://{unique_bucket}/ckpt"
    hour_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    sandbox_s3.put_checkpoints(s3_endpoint, uri, "0" * 32, [3], written_at=[hour_ago])
    new = sandbox_s3.put_checkpoints(s3_endpoint, uri, "a" * 32, [1, 2])
    data = await inspect_storage(
        await _lister(stack, s3_endpoint), deployment="d", uri=uri, job_id="a" * 32
    )
    assert not data.truncated and data.walk is None
    assert data.newest_key == new[-1].key
    # job dir + its chk-2, then the dir + the other job dir + its chk-3
    assert data.requests == 5
    samples = {s.name: s.value for s in render(data)}
    assert samples["torghut_ta_checkpoint_storage_walk_truncated"] == 0.0


async def test_empty_prefix_is_up_without_a_last_write(
    s3_endpoint: str, unique_bucket: str, stack: AsyncExitStack
) -> None:
    sandbox_s3.ensure_bucket(s3_endpoint, unique_bucket)
    data = await inspect_storage(
        await _lister(stack, s3_endpoint), deployment="d", uri=f"s3://{unique_bucket}/nothing-here"
    )
    assert data.up and data.newest_write is None
    assert [s.name for s in render(data)] == [
        "torghut_ta_checkpoint_storage_up",
        "torghut_ta_checkpoint_storage_walk_truncated",
    ]


async def test_missing_bucket_is_down_and_says_so(s3_endpoint: str, stack: AsyncExitStack) -> None:
    data = await inspect_storage(
        await _lister(stack, s3_endpoint), deployment="d", uri="s3://no-such-bucket-here/ckpt"
    )
    assert not data.up
    assert "NoSuchBucket" in (data.reason or "")


@pytest.mark.slow
async def test_access_denied_is_down_and_says_so(
    s3_factory: Callable[[], Service], stack: AsyncExitStack
) -> None:
    endpoint = s3_factory().endpoints["s3"]
    sandbox_s3.put_checkpoints(endpoint, "s3://locked/ckpt", "a" * 32, [1])
    reader = sandbox_s3.create_user(endpoint, "no-list", actions=("s3:GetObject",))
    sandbox_s3.enable_auth(endpoint)
    data = await inspect_storage(
        await _lister(stack, endpoint, reader.access_key_id, reader.secret_access_key),
        deployment="d",
        uri="s3://locked/ckpt",
    )
    assert not data.up
    assert "AccessDenied" in (data.reason or "")


@pytest.mark.slow
async def test_storage_down_then_back_recovers_with_the_same_client(
    tmp_path: Path, stack: AsyncExitStack
) -> None:
    port = free_port()
    service = sandbox_s3.launch(tmp_path / "a", port=port)
    try:
        endpoint = service.endpoints["s3"]
        list_page = await _lister(stack, endpoint)
        sandbox_s3.put_checkpoints(endpoint, "s3://ckpt-bucket/ckpt", "a" * 32, [1])
        assert (await inspect_storage(list_page, deployment="d", uri="s3://ckpt-bucket/ckpt")).up
        service.stop()
        down = await inspect_storage(list_page, deployment="d", uri="s3://ckpt-bucket/ckpt")
        assert not down.up and "connect" in (down.reason or "").lower()
        service = sandbox_s3.launch(tmp_path / "b", port=port)
        stored = sandbox_s3.put_checkpoints(endpoint, "s3://ckpt-bucket/ckpt", "a" * 32, [2])
        back = await inspect_storage(list_page, deployment="d", uri="s3://ckpt-bucket/ckpt")
        assert back.up and back.newest_write == stored[0].last_modified.timestamp()
    finally:
        service.stop()


def test_rendered_series_fit_the_catalogue() -> None:
    from exporter.scheduler import check_samples

    data = CheckpointStorage(
        "torghut-ta", "s3://b/p", True, None, 1.0, "p/j/chk-1/_metadata", 3, False
    )
    assert len(check_samples(render(data))) == 3
