"""The Kafka and S3 client builders get the configured TLS material, proven by real handshakes
against local TLS listeners (a Kafka stand-in that only completes the handshake, and an HTTPS
S3 stand-in answering ListObjectsV2: the sandbox's Kafka and moto do not speak TLS)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from exporter.clients import s3 as s3c
from exporter.clients.kafka import KafkaClient, KafkaProbeError, connection_options
from exporter.config import parse_config


def _server_context(pki: Any, *, require_client_cert: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki.ca)
    return ctx


def _kafka_cfg(config_data: Any, pki: Any, port: int, tmp_path: Path, **security: Any) -> Any:
    password = tmp_path / "kafka-password"
    password.write_text("scram-secret")
    return parse_config(
        config_data(
            kafka={
                "bootstrap_servers": [f"127.0.0.1:{port}"],
                "topics": ["torghut.trades.v1"],
                "request_timeout": "3s",
                "security": {
                    "protocol": "SASL_SSL",
                    "sasl_mechanism": "SCRAM-SHA-512",
                    "username": "torghut-ta-ops",
                    "password": {"file": str(password)},
                    "ca_file": str(pki.ca),
                    **security,
                },
            }
        )
    )


def test_scram_and_tls_options_reach_the_aiokafka_clients(config_data, pki, tmp_path) -> None:
    cfg = _kafka_cfg(
        config_data,
        pki,
        9093,
        tmp_path,
        cert_file=str(pki.client_cert),
        key_file=str(pki.client_key),
    )
    opts = connection_options(cfg.kafka, cfg.secret("kafka.security.password"))
    ctx = opts["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED
    assert [dict(x[0] for x in c["subject"])["commonName"] for c in ctx.get_ca_certs()] == [
        "torghut-test-ca"
    ]

    async def built() -> list[Any]:
        consumer = AIOKafkaConsumer(**opts)
        admin = AIOKafkaAdminClient(**opts)
        clients = [consumer._client, admin._client]
        await admin.close()
        await consumer.stop()
        return clients

    for client in asyncio.run(built()):
        assert client._security_protocol == "SASL_SSL"
        assert client._sasl_mechanism == "SCRAM-SHA-512"
        assert (client._sasl_plain_username, client._sasl_plain_password) == (
            "torghut-ta-ops",
            "scram-secret",
        )
        assert client._ssl_context is ctx


def test_a_key_that_does_not_match_the_certificate_is_refused(config_data, pki, tmp_path) -> None:
    cfg = _kafka_cfg(
        config_data,
        pki,
        9093,
        tmp_path,
        cert_file=str(pki.client_cert),
        key_file=str(pki.server_key),
    )
    with pytest.raises(ssl.SSLError):
        connection_options(cfg.kafka, cfg.secret("kafka.security.password"))


@pytest.fixture
async def mtls_listener(pki) -> AsyncIterator[tuple[int, list[str]]]:
    """A TLS listener that demands a client certificate and records the peer's CN."""
    peers: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cert = writer.get_extra_info("peercert")
        if cert:
            peers.append(dict(x[0] for x in cert["subject"])["commonName"])
        writer.close()  # no Kafka protocol: the client fails after the handshake

    server = await asyncio.start_server(
        handle, "127.0.0.1", 0, ssl=_server_context(pki, require_client_cert=True)
    )
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, peers
    finally:
        server.close()
        await server.wait_closed()


async def test_kafka_client_presents_the_client_certificate(
    config_data, pki, tmp_path, mtls_listener
) -> None:
    port, peers = mtls_listener
    cfg = _kafka_cfg(
        config_data,
        pki,
        port,
        tmp_path,
        protocol="SSL",
        sasl_mechanism=None,
        username=None,
        password=None,
        cert_file=str(pki.client_cert),
        key_file=str(pki.client_key),
    )
    client = KafkaClient(connection_options(cfg.kafka, None))
    try:
        with pytest.raises(KafkaProbeError):
            await client.partitions(["torghut.trades.v1"])
    finally:
        await client.close()
    assert peers and set(peers) == {"torghut-ta-exporter"}


LIST_RESULT = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    "<Name>flink</Name><Prefix>checkpoints/</Prefix><KeyCount>1</KeyCount>"
    "<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
    "<Contents><Key>checkpoints/chk-1/_metadata</Key>"
    "<LastModified>2026-01-01T00:00:00.000Z</LastModified><Size>1</Size></Contents>"
    "</ListBucketResult>"
)


@pytest.fixture
async def https_s3(pki) -> AsyncIterator[int]:
    async def list_objects(request: web.Request) -> web.Response:
        return web.Response(text=LIST_RESULT, content_type="application/xml")

    app = web.Application()
    app.router.add_get("/{bucket}", list_objects)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(
        runner, "127.0.0.1", 0, ssl_context=_server_context(pki, require_client_cert=False)
    )
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield port
    finally:
        await runner.cleanup()


async def _list(cfg: Any) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        s3 = await s3c.open_from_config(cfg, stack=stack, timeout=5.0)
        return await s3c.list_page(s3, bucket="flink", prefix="checkpoints/")


@pytest.mark.parametrize(
    ("storage", "trusted"),
    [
        ({"ca_file": "ca"}, True),
        ({"ca_file": "other_ca"}, False),
        ({}, False),  # the system store does not know the test CA
        ({"verify_tls": False}, True),
    ],
    ids=["own-ca", "wrong-ca", "system-store", "no-verify"],
)
async def test_s3_client_verifies_with_the_configured_ca(
    config_data, pki, https_s3, monkeypatch, storage: dict[str, Any], trusted: bool
) -> None:
    monkeypatch.setenv("S3_KEY", "minio")
    monkeypatch.setenv("S3_SECRET", "minio-secret")
    if "ca_file" in storage:
        storage = {**storage, "ca_file": str(getattr(pki, storage["ca_file"]))}
    cfg = parse_config(
        config_data(
            checkpoint_storage={
                "endpoint_url": f"https://127.0.0.1:{https_s3}",
                "access_key_id": {"env": "S3_KEY"},
                "secret_access_key": {"env": "S3_SECRET"},
                **storage,
            }
        )
    )
    if trusted:
        page = await _list(cfg)
        assert [c["Key"] for c in page["Contents"]] == ["checkpoints/chk-1/_metadata"]
    else:
        with pytest.raises(s3c.S3Error, match=r"SSL|certificate"):
            await _list(cfg)
