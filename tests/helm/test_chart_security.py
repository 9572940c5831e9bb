"""Pod hardening on every container of every value set, and secrets only by reference."""

from __future__ import annotations

import copy
from typing import Any

import helm_python as helm
import pytest
import yaml

SETS = [
    "default",
    "network-policy",
    "remediator-enabled",
    "custom-names",
    "no-secrets",
    "production",
    "production-remediator",
    "production-auto",
]


@pytest.mark.parametrize("value_set", SETS)
def test_every_pod_is_hardened(rendered_sets, value_set: str, kit) -> None:
    pods = list(kit.pod_specs(rendered_sets[value_set]))
    assert pods
    for name, pod in pods:
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 10001, name
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert not pod.get("hostNetwork") and not pod.get("hostPID"), name
        assert pod.get("initContainers", []) == [], name
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 10001, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc.get("privileged", False) is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
            for kind in ("requests", "limits"):
                assert set(container["resources"][kind]) >= {"cpu", "memory"}, (name, kind)
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            volumes = {v["name"]: v for v in pod["volumes"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], name  # writable scratch on a RO root


@pytest.mark.parametrize("value_set", SETS)
def test_secrets_are_referenced_never_embedded(rendered_sets, value_set: str) -> None:
    objects = rendered_sets[value_set]
    assert not [o for o in objects if o["kind"] == "Secret"]
    for o in objects:
        if o["kind"] != "Deployment":
            continue
        for container in o["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                # Plain values are fine for settings; nothing secret-looking is inlined.
                assert not any(
                    word in env["name"].lower() for word in ("password", "token", "secret")
                )


def _get(data: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        data = data[part]
    return data


# values key under `secrets` -> the exporter config key that must name its file
EXPORTER_SECRETS = {
    "clickhouse": "clickhouse.password.file",
    "clickhouseCa": "clickhouse.ca_file",
    "kafkaPassword": "kafka.security.password.file",
    "kafkaCa": "kafka.security.ca_file",
    "kafkaClientCert": "kafka.security.cert_file",
    "kafkaClientKey": "kafka.security.key_file",
    "s3AccessKeyId": "checkpoint_storage.access_key_id.file",
    "s3SecretAccessKey": "checkpoint_storage.secret_access_key.file",
    "s3Ca": "checkpoint_storage.ca_file",
}


def _mounted_files(deployment: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(Secret name, key) -> the file it appears as in the container."""
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    files = {}
    for mount in pod["containers"][0]["volumeMounts"]:
        if mount["name"] in volumes:
            assert mount["readOnly"] is True, mount
            secret = volumes[mount["name"]]
            for item in secret["items"]:
                files[(secret["secretName"], item["key"])] = f"{mount['mountPath']}/{item['path']}"
    return files


@pytest.mark.parametrize("mount_root", [None, "/mnt/creds"])
def test_every_secret_is_mounted_where_the_config_points(kit, mount_root: str | None) -> None:
    values = copy.deepcopy(kit.value_sets["production"])
    if mount_root:
        values["secretMountRoot"] = mount_root
    objects = kit.render(values)
    exporter = kit.find(objects, "Deployment", f"{kit.release}-exporter")[0]
    files = _mounted_files(exporter)
    config = kit.find(objects, "ConfigMap", f"{kit.release}-config")[0]
    data = yaml.safe_load(config["data"]["exporter.yaml"])
    refs = values["secrets"]
    for key, dotted in EXPORTER_SECRETS.items():
        path = _get(data, dotted)
        assert path == files[(refs[key]["name"], refs[key]["key"])], key
        assert path.startswith(f"{mount_root or '/var/run/secrets/torghut-ta-ops'}/"), key
    assert len(files) == len(EXPORTER_SECRETS)  # one Secret may back several; each key once


def test_an_unset_secret_mounts_nothing_and_sets_no_path(rendered_sets, kit) -> None:
    objects = rendered_sets["no-secrets"]
    exporter = kit.find(objects, "Deployment", f"{kit.release}-exporter")[0]
    assert _mounted_files(exporter) == {}
    config = kit.find(objects, "ConfigMap", f"{kit.release}-config")[0]
    data = yaml.safe_load(config["data"]["exporter.yaml"])
    assert "password" not in data["clickhouse"] and "security" not in data["kafka"]


def test_remediator_mounts_its_tokens_and_the_pipeline_secrets(remediator_objects, kit) -> None:
    remediator = kit.find(remediator_objects, "Deployment", f"{kit.release}-remediator")[0]
    names = {name for name, _ in _mounted_files(remediator)}
    assert names == {"torghut-ta-ops-clickhouse", "torghut-ta-ops-webhook"}
    # The exporter never gets the remediator's tokens.
    exporter = kit.find(remediator_objects, "Deployment", f"{kit.release}-exporter")[0]
    assert {name for name, _ in _mounted_files(exporter)} == {"torghut-ta-ops-clickhouse"}


@pytest.mark.parametrize("mount_root", [None, "/mnt/creds"])
def test_remediator_secrets_are_mounted_where_its_config_points(
    kit, mount_root: str | None
) -> None:
    values = copy.deepcopy(kit.value_sets["production-remediator"])
    if mount_root:
        values["secretMountRoot"] = mount_root
    root = mount_root or "/var/run/secrets/torghut-ta-ops"
    objects = kit.render(values)
    remediator = kit.find(objects, "Deployment", f"{kit.release}-remediator")[0]
    files = _mounted_files(remediator)
    config = kit.find(objects, "ConfigMap", f"{kit.release}-config")[0]
    data = yaml.safe_load(config["data"]["remediator.yaml"])
    refs = values["secrets"]
    # the pipeline's secrets: the probes it runs are the exporter's
    for key, dotted in EXPORTER_SECRETS.items():
        assert _get(data, dotted) == files[(refs[key]["name"], refs[key]["key"])], key
    hook = refs["webhookToken"]
    webhook_file = f"{root}/webhook/{hook['key']}"
    assert data["remediator"]["webhook_token"] == {"file": webhook_file}
    assert files[(hook["name"], hook["key"])] == webhook_file
    # each person's token: its own directory, named after the token's name
    expected = []
    for entry in values["remediator"]["apiTokens"]:
        path = f"{root}/api-tokens/{entry['name']}/{entry['secret']['key']}"
        assert files[(entry["secret"]["name"], entry["secret"]["key"])] == path
        expected.append(
            {
                "name": entry["name"],
                "token": {"file": path},
                "may_approve": entry.get("mayApprove", True),
            }
        )
    assert data["remediator"]["api_tokens"] == expected
    assert [t["may_approve"] for t in expected] == [True, False]
    assert len(files) == len(EXPORTER_SECRETS) + 1 + len(expected)
    # the exporter mounts none of the remediator's tokens
    exporter = kit.find(objects, "Deployment", f"{kit.release}-exporter")[0]
    assert len(_mounted_files(exporter)) == len(EXPORTER_SECRETS)
    assert "remediator" not in yaml.safe_load(config["data"]["exporter.yaml"])


def test_duplicate_api_token_names_fail_the_render(kit) -> None:
    token = {"name": "alice", "secret": {"name": "torghut-ta-ops-alice", "key": "token"}}
    with pytest.raises(helm.HelmRenderError, match='name "alice" appears twice'):
        kit.render({"remediator": {"enabled": True, "apiTokens": [token, token]}})


def test_remediator_without_a_webhook_token_fails_the_render(kit) -> None:
    # `ta-remediator serve` refuses to start without it; say so at install, not in a crash loop.
    values = {"remediator": {"enabled": True}, "secrets": {"webhookToken": {"name": ""}}}
    with pytest.raises(helm.HelmRenderError, match=r"secrets\.webhookToken\.name: required"):
        kit.render(values)


def test_extra_env_volumes_and_mounts_reach_the_exporter(kit) -> None:
    objects = kit.render(
        {
            "exporter": {
                "extraEnv": [{"name": "AWS_ROLE_ARN", "value": "arn:aws:iam::1:role/ta"}],
                "extraVolumes": [{"name": "bundle", "configMap": {"name": "ca-bundle"}}],
                "extraVolumeMounts": [{"name": "bundle", "mountPath": "/etc/ssl/extra"}],
            }
        }
    )
    pod = kit.find(objects, "Deployment", f"{kit.release}-exporter")[0]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert {"name": "AWS_ROLE_ARN", "value": "arn:aws:iam::1:role/ta"} in container["env"]
    assert {"name": "bundle", "configMap": {"name": "ca-bundle"}} in pod["volumes"]
    assert {"name": "bundle", "mountPath": "/etc/ssl/extra"} in container["volumeMounts"]


def test_image_digest_wins_over_the_tag(kit) -> None:
    digest = "sha256:" + "ef" * 32
    objects = kit.render({"image": {"tag": "9.9.9", "digest": digest}})
    (deployment,) = kit.find(objects, "Deployment")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"ghcr.io/torghut/torghut-ta-ops@{digest}"
    tagged = kit.find(kit.render({"image": {"tag": "9.9.9"}}), "Deployment")[0]
    assert tagged["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":9.9.9")
