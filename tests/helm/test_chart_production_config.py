"""A production render's config passes `ta-exporter check-config` with the files laid out as the
pod sees them: the chart renders with `secretMountRoot` in a temp dir, each mounted Secret key is
written where the volume puts it, and the CLI runs as a real subprocess."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from exporter.config import load_config
from exporter.exitcodes import CONFIG_ERROR


def _pod_files(pki, values: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(Secret name, key) -> content, as an operator would have created them."""
    refs = values["secrets"]
    pem = {
        "clickhouseCa": pki.ca,
        "kafkaCa": pki.ca,
        "kafkaClientCert": pki.client_cert,
        "kafkaClientKey": pki.client_key,
        "s3Ca": pki.ca,
    }
    text = {
        "clickhouse": "ops-ro-password",
        "kafkaPassword": "scram-password",
        "s3AccessKeyId": "minio-access",
        "s3SecretAccessKey": "minio-secret",
    }
    contents = {(refs[k]["name"], refs[k]["key"]): p.read_text() for k, p in pem.items()}
    contents |= {(refs[k]["name"], refs[k]["key"]): v for k, v in text.items()}
    return contents


def _lay_out(deployment: dict[str, Any], contents: dict[tuple[str, str], str]) -> list[Path]:
    """Write every Secret item where the pod's volume mounts would put it."""
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    written = []
    for mount in pod["containers"][0]["volumeMounts"]:
        secret = volumes.get(mount["name"])
        if secret is None:
            continue
        for item in secret["items"]:
            path = Path(mount["mountPath"]) / item["path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(contents[(secret["secretName"], item["key"])])
            written.append(path)
    return written


def _check_config(kit, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(kit.repo)}
    return subprocess.run(
        [sys.executable, "-m", "exporter.cli", "check-config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=kit.repo,
    )


def test_production_config_passes_check_config(kit, pki, tmp_path) -> None:
    values = copy.deepcopy(kit.value_sets["production"])
    values["secretMountRoot"] = str(tmp_path / "secrets")
    objects = kit.render(values)
    deployment = kit.find(objects, "Deployment", f"{kit.release}-exporter")[0]
    written = _lay_out(deployment, _pod_files(pki, values))
    assert len(written) == 9  # every secret the production values reference
    config_map = kit.find(objects, "ConfigMap", f"{kit.release}-config")[0]
    config = tmp_path / "exporter.yaml"
    config.write_text(config_map["data"]["exporter.yaml"])

    done = _check_config(kit, config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"

    # What the exporter will run with: TLS on every hop, SCRAM, the client certificate, MinIO.
    cfg = load_config(config)
    assert [r.url.split(":")[0] for r in cfg.clickhouse.replicas] == ["https", "https"]
    assert cfg.clickhouse.user == "torghut_ops_ro"
    sec = cfg.kafka.security
    assert (sec.protocol, sec.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert sec.cert_file is not None and sec.cert_file.read_text() == pki.client_cert.read_text()
    store = cfg.checkpoint_storage
    assert store.enabled and store.endpoint_url == "https://minio.minio.svc:9000"
    assert store.ca_file is not None and store.ca_file.read_text() == pki.ca.read_text()
    secret = cfg.secret("kafka.security.password")
    assert secret is not None and secret.get() == "scram-password"


def test_a_missing_mounted_file_fails_check_config_naming_the_key(kit, pki, tmp_path) -> None:
    values = copy.deepcopy(kit.value_sets["production"])
    values["secretMountRoot"] = str(tmp_path / "secrets")
    values["secrets"]["kafkaClientKey"]["key"] = "renamed.key"
    objects = kit.render(values)
    deployment = kit.find(objects, "Deployment", f"{kit.release}-exporter")[0]
    contents = _pod_files(pki, values)
    _lay_out(deployment, contents)
    key_file = tmp_path / "secrets" / "kafka-client-key" / "renamed.key"
    assert key_file.exists()  # the renamed key moved the mount and the config path together
    key_file.unlink()  # ... and the Secret lacks it
    config = tmp_path / "exporter.yaml"
    config_map = kit.find(objects, "ConfigMap", f"{kit.release}-config")[0]
    config.write_text(config_map["data"]["exporter.yaml"])
    data = yaml.safe_load(config.read_text())
    assert data["kafka"]["security"]["key_file"] == str(key_file)

    done = _check_config(kit, config)
    assert done.returncode == CONFIG_ERROR, done.stderr  # exporter/exitcodes.py
    assert f"kafka.security.key_file: cannot read {key_file}" in done.stderr
