"""Kafka TLS/mTLS/SASL and S3 CA settings: validation names the key, files must be readable."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.config import ConfigError, parse_config


def kafka(security: dict[str, Any]) -> dict[str, Any]:
    return {"bootstrap_servers": ["kafka:9093"], "topics": ["t"], "security": security}


def test_mtls_and_scram_parse_and_resolve(config_data, pki, tmp_path) -> None:
    password = tmp_path / "kafka-password"
    password.write_text("scram-secret\n")
    cfg = parse_config(
        config_data(
            kafka=kafka(
                {
                    "protocol": "SASL_SSL",
                    "sasl_mechanism": "SCRAM-SHA-512",
                    "username": "torghut-ta-ops",
                    "password": {"file": str(password)},
                    "ca_file": str(pki.ca),
                    "cert_file": str(pki.client_cert),
                    "key_file": str(pki.client_key),
                }
            ),
            checkpoint_storage={"endpoint_url": "https://minio:9000", "ca_file": str(pki.ca)},
        )
    )
    sec = cfg.kafka.security
    assert (sec.sasl_mechanism, sec.cert_file, sec.key_file) == (
        "SCRAM-SHA-512",
        pki.client_cert,
        pki.client_key,
    )
    secret = cfg.secret("kafka.security.password")
    assert secret is not None and secret.get() == "scram-secret"
    assert cfg.checkpoint_storage.ca_file == pki.ca


BAD = [
    (
        {"protocol": "SSL", "cert_file": "/c.crt"},
        "kafka.security: give both cert_file and key_file",
    ),
    (
        {"protocol": "PLAINTEXT", "ca_file": "/ca.crt"},
        "kafka.security: ca_file need protocol SSL or SASL_SSL",
    ),
    (
        {"protocol": "SSL", "username": "u"},
        "kafka.security: username only apply to SASL_* protocols",
    ),
    (
        {"protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "username": "u"},
        "kafka.security: SASL_SSL needs password",
    ),
    (
        {"protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-1", "username": "u"},
        "kafka.security.sasl_mechanism",
    ),
    ({"protocol": "SSL", "client_cert": "/c.crt"}, "kafka.security.client_cert: unknown key"),
]


@pytest.mark.parametrize(("security", "message"), BAD, ids=[m for _, m in BAD])
def test_kafka_security_errors_name_the_key(config_data, security, message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_config(config_data(kafka=kafka(security)))
    assert message in str(excinfo.value)


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        (
            {"endpoint_url": "https://minio:9000", "access_key_id": {"env": "K"}},
            "checkpoint_storage: give both access_key_id and secret_access_key or neither",
        ),
        (
            {"endpoint_url": "https://minio:9000", "verify_tls": False, "ca_file": "/ca.crt"},
            "checkpoint_storage: ca_file is unused when verify_tls is false",
        ),
        ({"enabled": "sometimes"}, "checkpoint_storage.enabled"),
        ({"ca_bundle": "/ca.crt"}, "checkpoint_storage.ca_bundle: unknown key"),
    ],
)
def test_s3_errors_name_the_key(config_data, storage, message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_config(config_data(checkpoint_storage=storage))
    assert message in str(excinfo.value)


def test_unreadable_tls_files_are_named_by_key(config_data, pki, tmp_path) -> None:
    missing = tmp_path / "absent" / "ca.crt"
    with pytest.raises(ConfigError) as excinfo:
        parse_config(
            config_data(
                kafka=kafka(
                    {
                        "protocol": "SSL",
                        "ca_file": str(missing),
                        "cert_file": str(pki.client_cert),
                        "key_file": str(tmp_path / "client.key"),
                    }
                ),
                clickhouse={
                    "replicas": [{"name": "r1", "url": "https://ch:8443"}],
                    "ca_file": str(pki.ca),
                },
                checkpoint_storage={"ca_file": str(tmp_path / "s3-ca.crt")},
            )
        )
    lines = str(excinfo.value).splitlines()
    assert sorted(line.split(":")[0] for line in lines) == [
        "checkpoint_storage.ca_file",
        "kafka.security.ca_file",
        "kafka.security.key_file",
    ]
    assert f"cannot read {missing}: No such file or directory" in str(excinfo.value)
