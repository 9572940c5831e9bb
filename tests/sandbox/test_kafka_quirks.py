"""The tansu gaps sandbox.kafka documents, pinned so a tansu upgrade that fixes them is noticed."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from sandbox import kafka


async def test_batched_produce_miscounts_end_offset(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    await kafka.create_topics(kafka_bootstrap, {unique_topic: kafka.TopicSpec()})
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=100)
    await producer.start()
    try:
        futures = [await producer.send(unique_topic, b"x", partition=0) for _ in range(5)]
        offsets = [m.offset for m in await asyncio.gather(*futures)]
    finally:
        await producer.stop()
    tp = TopicPartition(unique_topic, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
    await consumer.start()
    try:
        end = (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()
    assert offsets == [0, 1, 2, 3, 4]
    assert end < 5  # one batch advanced the end offset by one


async def test_group_offsets_need_explicit_partitions(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=3000)
    await admin.start()
    try:
        with pytest.raises((KafkaConnectionError, KafkaError)):
            await admin.list_consumer_group_offsets(f"g-{unique_topic}")
    finally:
        await admin.close()


async def test_authenticating_broker_rejects_every_login(kafka_factory) -> None:
    bootstrap = kafka_factory(authentication=True).endpoints["kafka_bootstrap"]
    # SCRAM: server-final "e=unknown-user", which aiokafka 0.14 reports as KeyError('v');
    # PLAIN (not offered) and no SASL at all: the broker closes the connection.
    cases = {
        "SCRAM-SHA-512": KeyError,
        "SCRAM-SHA-256": KeyError,
        "PLAIN": KafkaConnectionError,
        None: KafkaConnectionError,
    }
    for mechanism, error in cases.items():
        sasl = (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": mechanism,
                "sasl_plain_username": "exporter",
                "sasl_plain_password": "secret",
            }
            if mechanism
            else {}
        )
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **sasl)
        with pytest.raises(error):
            await asyncio.wait_for(admin.start(), 10)
        await admin.close()
