"""A production render's configs pass `ta-exporter check-config` and `ta-remediator check-config`
with the files laid out as the pods see them: the chart renders with `secretMountRoot` in a temp
dir, each mounted Secret key is written where the volume puts it, and the CLIs run as real
subprocesses."""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from exporter.config import load_config
from exporter.exitcodes import CONFIG_ERROR
from remediator.config import load_remediator_config


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
    if "webhookToken" in refs:
        text["webhookToken"] = "alertmanager-bearer"
    # the acting remediator's credentials (production-auto)
    acting_pem = {"githubCa", "argocdCa"} & set(refs)
    pem |= {k: pki.ca for k in acting_pem}
    for key in (
        "githubToken",
        "argocdToken",
        "clickhouseRemediationPassword",
        "alertmanagerToken",
        "alertmanagerPassword",
        "gitopsPushOption",
    ):
        if refs.get(key, {}).get("name"):
            text[key] = f"{key}-value"
    contents = {(refs[k]["name"], refs[k]["key"]): p.read_text() for k, p in pem.items()}
    contents |= {(refs[k]["name"], refs[k]["key"]): v for k, v in text.items()}
    for entry in values.get("remediator", {}).get("apiTokens", []):
        ref = entry["secret"]
        contents[(ref["name"], ref["key"])] = f"token-of-{entry['name']}\n"
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


def _check_config(
    kit, config: Path, component: str = "exporter"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(kit.repo)}
    return subprocess.run(
        [sys.executable, "-m", f"{component}.cli", "check-config", str(config)],
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


def _remediator_render(kit, tmp_path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    values = copy.deepcopy(kit.value_sets["production-remediator"])
    values["secretMountRoot"] = str(tmp_path / "secrets")
    return values, kit.render(values)


def _write_configs(kit, objects: list[dict[str, Any]], tmp_path: Path) -> tuple[Path, Path]:
    data = kit.find(objects, "ConfigMap", f"{kit.release}-config")[0]["data"]
    paths = []
    for name in ("exporter.yaml", "remediator.yaml"):
        path = tmp_path / name
        path.write_text(data[name])
        paths.append(path)
    return paths[0], paths[1]


def test_production_remediator_config_passes_check_config(kit, pki, tmp_path) -> None:
    values, objects = _remediator_render(kit, tmp_path)
    contents = _pod_files(pki, values)
    remediator = kit.find(objects, "Deployment", f"{kit.release}-remediator")[0]
    written = _lay_out(remediator, contents)
    # the 9 pipeline secrets, Alertmanager's token and the two people's tokens
    assert len(written) == 12
    exporter = kit.find(objects, "Deployment", f"{kit.release}-exporter")[0]
    assert set(_lay_out(exporter, contents)) < set(written)  # the same files, minus the tokens
    exporter_yaml, remediator_yaml = _write_configs(kit, objects, tmp_path)

    done = _check_config(kit, remediator_yaml, "remediator")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    done = _check_config(kit, exporter_yaml)  # the exporter's file is still its own
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"

    # What the remediator will run with: the pipeline as the exporter sees it, plus its tokens.
    cfg = load_remediator_config(remediator_yaml)
    assert [r.url.split(":")[0] for r in cfg.clickhouse.replicas] == ["https", "https"]
    assert cfg.kafka.security.protocol == "SASL_SSL"
    assert cfg.checkpoint_storage.endpoint_url == "https://minio.minio.svc:9000"
    password = cfg.secret("kafka.security.password")
    assert password is not None and password.get() == "scram-password"
    webhook = cfg.secret("remediator.webhook_token")
    assert webhook is not None and webhook.get() == "alertmanager-bearer"
    section = cfg.remediator
    assert section.mode == "observe"
    assert [(t.name, t.may_approve) for t in section.api_tokens] == [
        ("alice", True),
        ("dashboards", False),
    ]
    for token in section.api_tokens:
        assert token.token.resolve() == f"token-of-{token.name}"
    assert section.listen.port == 8080
    assert str(section.journal_path) == "/var/lib/torghut-ta-ops/journal.sqlite3"


def test_a_missing_webhook_token_fails_check_config_naming_the_key(kit, pki, tmp_path) -> None:
    values, objects = _remediator_render(kit, tmp_path)
    remediator = kit.find(objects, "Deployment", f"{kit.release}-remediator")[0]
    _lay_out(remediator, _pod_files(pki, values))
    token = tmp_path / "secrets" / "webhook" / "bearer"
    assert token.exists()  # where the chart mounts secrets.webhookToken ...
    token.unlink()  # ... but the Secret lacks the key
    _, remediator_yaml = _write_configs(kit, objects, tmp_path)
    assert yaml.safe_load(remediator_yaml.read_text())["remediator"]["webhook_token"] == {
        "file": str(token)
    }

    done = _check_config(kit, remediator_yaml, "remediator")
    assert done.returncode == CONFIG_ERROR, done.stderr
    assert f"remediator.webhook_token: cannot read secret file {token}" in done.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http(url: str, *, token: str | None = None, body: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _wait_ready(base: str, process: subprocess.Popen[str], deadline_s: float = 120) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            if _http(f"{base}/readyz")[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    raise AssertionError(f"{base}/readyz not ready within {deadline_s}s")


def test_the_rendered_remediator_serves_with_its_container_args(kit, pki, tmp_path) -> None:
    # Enabling it works the first time: the Deployment's args and the rendered config start
    # `ta-remediator serve`, the journal lands on the volume's path, the webhook takes
    # Alertmanager's token from its mounted file and the API the people's tokens.
    values = copy.deepcopy(kit.value_sets["production-remediator"])
    values["secretMountRoot"] = str(tmp_path / "secrets")
    journal_dir = tmp_path / "journal"  # the PVC mount
    journal_dir.mkdir()
    values["remediator"]["journal"] = {"mountPath": str(journal_dir), "size": "1Gi"}
    values["remediator"]["port"] = port = _free_port()
    objects = kit.render(values)
    remediator = kit.find(objects, "Deployment", f"{kit.release}-remediator")[0]
    contents = _pod_files(pki, values)
    _lay_out(remediator, contents)
    _, config = _write_configs(kit, objects, tmp_path)
    args = remediator["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "remediator"  # the entrypoint execs ta-remediator with the rest
    argv = [str(config) if a.endswith("/remediator.yaml") else a for a in args[1:]]
    env = {
        **os.environ,
        "PYTHONPATH": str(kit.repo),
        "KUBECONFIG": str(tmp_path / "no-kubeconfig"),  # never the machine's cluster
    }
    process = subprocess.Popen(
        # the chart listens on 0.0.0.0 (a pod); the test stays on loopback
        [sys.executable, "-m", "remediator.cli", *argv, "--host", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, process)
        assert (journal_dir / "journal.sqlite3").exists()
        hook = values["secrets"]["webhookToken"]
        webhook_token = contents[(hook["name"], hook["key"])]
        # procedure C is ignored (no run, no probe), which is enough to prove the token works
        notification = {
            "version": "4",
            "groupKey": '{}:{alertname="TAReplayNeeded"}',
            "status": "firing",
            "receiver": "torghut-ta-remediator",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "TAReplayNeeded", "procedure": "C"},
                    "startsAt": "2026-12-01T12:00:00Z",
                    "fingerprint": "c0ffee",
                }
            ],
        }
        body = json.dumps(notification).encode()
        url = f"{base}/webhook/alertmanager"
        assert _http(url, token="not-the-token", body=body)[0] == 401
        code, text = _http(url, token=webhook_token, body=body)
        assert code == 202, text
        reply = json.loads(text)
        assert reply["runs"] == []
        assert [i["fingerprint"] for i in reply["ignored"]] == ["c0ffee"]
        # people's tokens: alice may read; the webhook token may not
        code, text = _http(f"{base}/status", token="token-of-alice")
        assert code == 200, text
        assert json.loads(text)["mode"] == "observe"
        assert _http(f"{base}/status", token=webhook_token)[0] == 403
        assert _http(f"{base}/status")[0] == 401
    finally:
        process.terminate()
        process.communicate(timeout=60)


def _mount_of(pod: dict[str, Any], path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The container mount holding `path` (the longest mountPath above it) and its volume."""
    mounts = [
        m
        for m in pod["containers"][0]["volumeMounts"]
        if path == Path(m["mountPath"]) or Path(m["mountPath"]) in path.parents
    ]
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    return mount, volume


def test_production_auto_remediator_config_passes_check_config(kit, pki, tmp_path) -> None:
    # The acting remediator as production runs it: GitHub, Argo CD behind a private CA, its own
    # ClickHouse user, Alertmanager with a bearer token; every file where the pod sees it.
    values = copy.deepcopy(kit.value_sets["production-auto"])
    values["secretMountRoot"] = str(tmp_path / "secrets")
    journal = tmp_path / "journal"
    values["remediator"]["journal"] = {"mountPath": str(journal), "size": "5Gi"}
    objects = kit.render(values)
    contents = _pod_files(pki, values)
    remediator = kit.find(objects, "Deployment", f"{kit.release}-remediator")[0]
    written = _lay_out(remediator, contents)
    # observe's 12, plus the GitHub and Argo CD tokens, Argo CD's CA, the ClickHouse
    # remediation password and Alertmanager's API token
    assert len(written) == 17
    exporter = kit.find(objects, "Deployment", f"{kit.release}-exporter")[0]
    exporter_files = set(_lay_out(exporter, contents))
    assert exporter_files < set(written)
    assert not {p for p in exporter_files if "remediation" in str(p) or "github" in str(p)}
    exporter_yaml, remediator_yaml = _write_configs(kit, objects, tmp_path)

    done = _check_config(kit, remediator_yaml, "remediator")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    done = _check_config(kit, exporter_yaml)
    assert done.returncode == 0, done.stderr

    cfg = load_remediator_config(remediator_yaml)
    section = cfg.remediator
    assert section.mode == "auto"
    assert section.gitops is not None and section.argocd is not None
    assert section.gitops.remote_url == "https://github.com/torghut/gitops.git"
    assert (section.gitops.github.repo, section.gitops.github.merge_method) == (
        "torghut/gitops",
        "squash",
    )
    assert section.gitops.direct_push is False and section.gitops.direct_push_option is None
    assert section.gitops.merge_timeout == 2 * 3600
    for dotted, key in (
        ("remediator.gitops.github.token", "githubToken"),
        ("remediator.argocd.token", "argocdToken"),
        ("remediator.clickhouse_remediation.password", "clickhouseRemediationPassword"),
        ("remediator.alertmanager.bearer_token", "alertmanagerToken"),
    ):
        secret = cfg.secret(dotted)
        assert secret is not None and secret.get() == f"{key}-value", dotted
    assert section.argocd.ca_file is not None
    assert section.argocd.ca_file.read_text() == pki.ca.read_text()
    assert section.argocd.sync_timeout == 15 * 60
    assert section.clickhouse_remediation is not None
    assert section.clickhouse_remediation.user == "torghut_remediator"
    assert section.clickhouse_remediation.query_timeout == 5 * 60
    assert section.alertmanager is not None and len(section.alertmanager.urls) == 2
    # its alerts link where the PrometheusRule's do (prometheusRule.* defaults here)
    chart = yaml.safe_load((kit.chart_dir / "values.yaml").read_text())["prometheusRule"]
    assert section.alertmanager.runbook_base == chart["runbookBaseUrl"]
    assert section.alertmanager.dashboard_url == f"{chart['grafanaUrl']}/d/torghut-ta-remediation"
    policy = section.policy
    assert (policy.approval_ttl, policy.verify_timeout, policy.verify_every) == (3600, 1200, 30)
    assert (policy.step_attempts, policy.retry_backoff, policy.emergency_patch) == (4, 10, True)
    assert (section.lease.duration, section.lease.renew_every) == (30, 10)

    # What the chart derives so the config and the objects agree: the Lease and the Application
    # its Roles name, and a clone on a writable volume (the root file system is read-only).
    lease_role = kit.find(objects, "Role", f"{kit.release}-remediator-lease")[0]
    assert lease_role["metadata"]["namespace"] == kit.namespace == section.lease.namespace
    assert lease_role["rules"][0]["resourceNames"] == [section.lease.name]
    apps_role = kit.find(objects, "Role", f"{kit.release}-remediator-argocd")[0]
    assert section.argocd.app in apps_role["rules"][0]["resourceNames"]
    pod = remediator["spec"]["template"]["spec"]
    assert section.gitops.work_dir == journal / "gitops"
    mount, volume = _mount_of(pod, section.gitops.work_dir)
    assert not mount.get("readOnly")
    assert "persistentVolumeClaim" in volume or "emptyDir" in volume
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_a_missing_acting_secret_fails_check_config_naming_the_key(kit, pki, tmp_path) -> None:
    values = copy.deepcopy(kit.value_sets["production-auto"])
    values["secretMountRoot"] = str(tmp_path / "secrets")
    objects = kit.render(values)
    remediator = kit.find(objects, "Deployment", f"{kit.release}-remediator")[0]
    _lay_out(remediator, _pod_files(pki, values))
    token = tmp_path / "secrets" / "argocd-token" / "argocd-token"
    assert token.exists()  # secrets.argocdToken's key, under its slot's directory ...
    token.unlink()  # ... but the Secret lacks it
    _, remediator_yaml = _write_configs(kit, objects, tmp_path)

    done = _check_config(kit, remediator_yaml, "remediator")
    assert done.returncode == CONFIG_ERROR, done.stderr
    assert f"remediator.argocd.token: cannot read secret file {token}" in done.stderr
