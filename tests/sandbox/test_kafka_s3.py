"""tansu on the sandbox's S3 server: topics and records survive a broker restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sandbox import kafka, s3


@pytest.mark.slow
async def test_s3_storage_survives_restart(kafka_factory, s3_endpoint: str, unique_bucket) -> None:
    s3.ensure_bucket(s3_endpoint, unique_bucket)
    options = {"storage": f"s3://{unique_bucket}/", "s3_endpoint": s3_endpoint}
    first = kafka_factory(**options)
    bootstrap = first.endpoints["kafka_bootstrap"]
    await kafka.create_topics(bootstrap, {"trades": kafka.TopicSpec(retention_ms=86_400_000)})
    trades = kafka.generate_trades(3, start=datetime(2026, 2, 2, tzinfo=UTC))
    await kafka.produce_trades(bootstrap, "trades", trades)
    first.stop()

    port = int(bootstrap.rsplit(":", 1)[1])
    second = kafka_factory(port=port, **options)
    assert second.pid != first.pid
    record = await kafka.record_at(bootstrap, "trades", 0, 2)
    assert record is not None
    assert kafka.Trade.from_json(record[1]) == trades[2]
    assert record[0] == trades[2].timestamp_ms
    assert trades[2].event_ts - trades[0].event_ts == timedelta(seconds=2)
    keys = s3.client(s3_endpoint).list_objects_v2(Bucket=unique_bucket)["KeyCount"]
    assert keys > 0
