"""Pod hardening on every container of every value set, and secrets only by reference."""

from __future__ import annotations

import pytest
import yaml

SETS = ["default", "network-policy", "remediator-enabled", "custom-names", "no-secrets"]


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


def test_secrets_mount_read_only_where_the_config_points(default_objects, kit) -> None:
    exporter = kit.find(default_objects, "Deployment", f"{kit.release}-exporter")[0]
    pod = exporter["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == "torghut-clickhouse-auth"
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    config = kit.find(default_objects, "ConfigMap", f"{kit.release}-config")[0]
    password_file = yaml.safe_load(config["data"]["exporter.yaml"])["clickhouse"]["password"][
        "file"
    ]
    key = volume["secret"]["items"][0]["path"]
    assert password_file == f"{mount['mountPath']}/{key}"


def test_remediator_mounts_every_referenced_secret(remediator_objects, kit) -> None:
    remediator = kit.find(remediator_objects, "Deployment", f"{kit.release}-remediator")[0]
    pod = remediator["spec"]["template"]["spec"]
    names = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert names == {"torghut-clickhouse-auth", "torghut-ta-ops-git", "torghut-ta-ops-webhook"}
