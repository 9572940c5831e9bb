"""The remediator's mode decides what the chart renders: observe mounts and configures nothing
for acting; propose and auto require what acting needs and fail the render naming it, as
`ta-remediator check-config` would refuse the config."""

from __future__ import annotations

import copy
from typing import Any

import helm_python as helm
import pytest
import yaml

from remediator.config import ConfigError, RemediatorConfig, check_acting_needs

ACTING_SECRETS = {
    "githubToken",
    "githubCa",
    "gitopsPushOption",
    "argocdToken",
    "argocdCa",
    "clickhouseRemediationPassword",
    "alertmanagerToken",
    "alertmanagerPassword",
}
ACTING_SECTIONS = {"gitops", "argocd", "clickhouse_remediation", "alertmanager"}


def _acting(kit, mode: str) -> dict[str, Any]:
    values = copy.deepcopy(kit.value_sets["production-auto"])
    values["remediator"]["mode"] = mode
    values["remediator"]["rbac"] = {"applicationNamespace": "argocd"}
    return values


def _remediator_yaml(kit, objects: list[dict[str, Any]]) -> dict[str, Any]:
    config = kit.find(objects, "ConfigMap", f"{kit.release}-config")[0]
    data: dict[str, Any] = yaml.safe_load(config["data"]["remediator.yaml"])
    return data


def _secret_names(kit, objects: list[dict[str, Any]], component: str) -> set[str]:
    deployment = kit.find(objects, "Deployment", f"{kit.release}-{component}")[0]
    pod = deployment["spec"]["template"]["spec"]
    return {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}


def _render_error(kit, values: dict[str, Any]) -> str:
    with pytest.raises(helm.HelmRenderError) as excinfo:
        kit.render(values)
    return str(excinfo.value)


def test_observe_mounts_and_configures_nothing_for_acting(kit) -> None:
    # The acting values may be filled in ahead of time: observe still calls no actuator, so its
    # pod gets none of their Secrets and its config none of their sections.
    values = _acting(kit, "observe")
    objects = kit.render(values)
    section = _remediator_yaml(kit, objects)["remediator"]
    assert not ACTING_SECTIONS & set(section)
    acting = {values["secrets"][k]["name"] for k in ACTING_SECRETS if k in values["secrets"]}
    assert acting and not acting & _secret_names(kit, objects, "remediator")
    # the Lease is configured in every mode (serve runs the keeper in every mode)
    assert section["lease"] == {
        "name": "torghut-ta-remediator",
        "namespace": kit.namespace,
        "duration": "30s",
        "renew_every": "10s",
    }


@pytest.mark.parametrize("mode", ["propose", "auto"])
def test_acting_modes_mount_their_secrets_in_the_remediator_only(kit, mode: str) -> None:
    values = _acting(kit, mode)
    objects = kit.render(values)
    named = {values["secrets"][k]["name"] for k in ACTING_SECRETS if k in values["secrets"]}
    assert named <= _secret_names(kit, objects, "remediator")
    assert not named & _secret_names(kit, objects, "exporter")
    section = _remediator_yaml(kit, objects)["remediator"]
    assert ACTING_SECTIONS <= set(section)
    # what the remediator's own model makes of it
    cfg = RemediatorConfig.model_validate(_remediator_yaml(kit, objects))
    assert cfg.remediator.mode == mode


MISSING = [
    (
        lambda v: v["remediator"].pop("gitops"),
        'remediator.gitops.remote_url: required in mode "{mode}"',
    ),
    (
        lambda v: v["remediator"]["gitops"]["github"].pop("repo"),
        'remediator.gitops.github.repo: required in mode "{mode}"',
    ),
    (
        lambda v: v["secrets"]["githubToken"].update(name=""),
        'secrets.githubToken.name: required in mode "{mode}"',
    ),
    (
        lambda v: v["remediator"].pop("argocd"),
        'remediator.argocd.api_url: required in mode "{mode}"',
    ),
    (
        lambda v: v["secrets"]["argocdToken"].update(name=""),
        'secrets.argocdToken.name: required in mode "{mode}"',
    ),
    (
        lambda v: v["remediator"].pop("alertmanager"),
        'remediator.alertmanager.urls: required in mode "{mode}"',
    ),
    (
        lambda v: v["remediator"]["argocd"].update(app="torghut-trading"),
        'remediator.argocd.app: "torghut-trading" is not in remediator.rbac.applications',
    ),
    (
        lambda v: v["secrets"].update(gitopsPushOption={"name": "git-bypass", "key": "option"}),
        "secrets.gitopsPushOption: set, but remediator.gitops.direct_push is false",
    ),
    (
        lambda v: v["remediator"]["alertmanager"].update(basic_auth={"username": "remediator"}),
        "secrets.alertmanagerPassword.name: required with",
    ),
    (
        lambda v: v["secrets"].update(alertmanagerPassword={"name": "am-basic", "key": "pw"}),
        "remediator.alertmanager.basic_auth.username: required with",
    ),
]


@pytest.mark.parametrize("mode", ["propose", "auto"])
@pytest.mark.parametrize(("drop", "message"), MISSING, ids=[m for _, m in MISSING])
def test_acting_without_what_it_needs_fails_the_render(kit, mode: str, drop, message: str) -> None:
    values = _acting(kit, mode)
    kit.render(values)  # complete: renders
    drop(values)
    assert message.format(mode=mode) in _render_error(kit, values)


@pytest.mark.parametrize("mode", ["propose", "auto"])
def test_the_config_refuses_what_the_chart_refuses(kit, mode: str) -> None:
    # The chart's check mirrors the remediator's: its config without gitops is refused by the
    # model with the same key named.
    data = _remediator_yaml(kit, kit.render(_acting(kit, mode)))
    check_acting_needs(RemediatorConfig.model_validate(data))  # complete: accepted
    del data["remediator"]["gitops"]
    with pytest.raises(ConfigError, match=f"remediator.gitops: required in mode '{mode}'"):
        check_acting_needs(RemediatorConfig.model_validate(data))
    assert "remediator.gitops.remote_url" in _render_error(
        kit, {"remediator": {"enabled": True, "mode": mode}}
    )


def test_clickhouse_remediation_is_optional_and_said_so(kit) -> None:
    values = _acting(kit, "auto")
    values["secrets"]["clickhouseRemediationPassword"]["name"] = ""
    rendered = kit.render_text(values)
    section = _remediator_yaml(kit, kit.render(values))["remediator"]
    assert "clickhouse_remediation" not in section
    notes = next(v for k, v in rendered.items() if k.endswith("NOTES.txt"))
    assert "secrets.clickhouseRemediationPassword is empty" in notes


def test_the_application_defaults_to_the_first_the_role_names(kit) -> None:
    values = _acting(kit, "propose")
    values["remediator"]["argocd"].pop("app", None)
    values["remediator"]["rbac"]["applications"] = ["ta-blue", "trader"]
    objects = kit.render(values)
    assert _remediator_yaml(kit, objects)["remediator"]["argocd"]["app"] == "ta-blue"
    values["remediator"]["argocd"]["app"] = "trader"
    assert _remediator_yaml(kit, kit.render(values))["remediator"]["argocd"]["app"] == "trader"


def test_basic_auth_renders_the_user_and_the_password_file(kit) -> None:
    values = _acting(kit, "auto")
    values["secrets"]["alertmanagerToken"]["name"] = ""
    values["secrets"]["alertmanagerPassword"] = {"name": "am-basic", "key": "pw"}
    values["remediator"]["alertmanager"]["basic_auth"] = {"username": "remediator"}
    section = _remediator_yaml(kit, kit.render(values))["remediator"]["alertmanager"]
    assert "bearer_token" not in section
    assert section["basic_auth"] == {
        "username": "remediator",
        "password": {"file": "/var/run/secrets/torghut-ta-ops/alertmanager-password/pw"},
    }
    values["secrets"]["alertmanagerToken"]["name"] = "am-token"
    assert "not both" in _render_error(kit, values)


def test_direct_push_carries_the_push_option_file(kit) -> None:
    values = _acting(kit, "auto")
    values["remediator"]["gitops"]["direct_push"] = True
    values["secrets"]["gitopsPushOption"] = {"name": "git-bypass", "key": "option"}
    objects = kit.render(values)
    gitops = _remediator_yaml(kit, objects)["remediator"]["gitops"]
    assert gitops["direct_push"] is True
    assert gitops["direct_push_option"] == {
        "file": "/var/run/secrets/torghut-ta-ops/gitops-push-option/option"
    }
    assert "git-bypass" in _secret_names(kit, objects, "remediator")


def test_egress_opens_the_acting_peers_to_the_remediator_only(rendered_sets, kit) -> None:
    objects = rendered_sets["production-auto"]
    values = kit.value_sets["production-auto"]["networkPolicy"]["egress"]
    policies = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "NetworkPolicy"}
    remediator = policies[f"{kit.release}-remediator"]["egress"]
    exporter = policies[f"{kit.release}-exporter"]["egress"]
    for target in ("github", "argocd", "alertmanager"):
        peers = values[target]["to"]
        assert any(rule["to"] == peers for rule in remediator), target
        assert not any(rule["to"] == peers for rule in exporter), target
    github = next(r for r in remediator if r["to"] == values["github"]["to"])
    assert github["ports"] == [{"port": 443, "protocol": "TCP"}]
    argocd = next(r for r in remediator if r["to"] == values["argocd"]["to"])
    assert {p["port"] for p in argocd["ports"]} == {8080, 443}  # the chart's default ports
    # the shared targets (ClickHouse, the API server) are in both
    for target in ("clickhouse", "apiServer"):
        assert any(rule["to"] == values[target]["to"] for rule in remediator), target


def test_the_application_namespace_the_role_names_is_where_self_heal_is_turned_off(kit) -> None:
    values = _acting(kit, "auto")
    values["remediator"]["rbac"] = {"applicationNamespace": "gitops"}
    objects = kit.render(values)
    argocd = _remediator_yaml(kit, objects)["remediator"]["argocd"]
    assert argocd["namespace"] == "gitops"
    roles = [r for r in kit.find(objects, "Role") if r["metadata"]["namespace"] == "gitops"]
    assert any(
        "applications" in rule.get("resources", ()) and "patch" in rule.get("verbs", ())
        for role in roles
        for rule in role["rules"]
    ), roles
