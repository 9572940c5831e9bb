"""Least privilege: namespaced Roles only, no wildcards, and only `get` on named objects: neither
component writes, lists or reads Secrets through the API (mounted Secrets need no RBAC)."""

from __future__ import annotations

import ast
from typing import Any

import pytest

SETS = [
    "default",
    "network-policy",
    "remediator-enabled",
    "custom-names",
    "no-secrets",
    "production",
    "production-remediator",
]
WRITE_VERBS = {
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "escalate",
    "bind",
    "impersonate",
}


def rules_of(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(o["metadata"]["name"], r) for o in objects if o["kind"] == "Role" for r in o["rules"]]


def grants(
    objects: list[dict[str, Any]], role: str, namespace: str
) -> set[tuple[str, str, str, tuple[str, ...]]]:
    """(apiGroup, resource, verb, resourceNames) for one Role, flattened."""
    (obj,) = [
        o
        for o in objects
        if o["kind"] == "Role"
        and o["metadata"]["name"] == role
        and o["metadata"]["namespace"] == namespace
    ]
    return {
        (group, resource, verb, tuple(rule.get("resourceNames", ())))
        for rule in obj["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


@pytest.mark.parametrize("value_set", SETS)
def test_no_cluster_scope_and_no_wildcards(rendered_sets, value_set: str) -> None:
    objects = rendered_sets[value_set]
    assert not [o for o in objects if o["kind"] in {"ClusterRole", "ClusterRoleBinding"}]
    for name, rule in rules_of(objects):
        for key in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert "*" not in rule.get(key, []), (name, rule)
        assert not rule.get("nonResourceURLs"), (name, rule)


@pytest.mark.parametrize("value_set", SETS)
def test_no_role_reads_secrets(rendered_sets, value_set: str) -> None:
    # Every credential is a mounted Secret; the kubelet mounts it, the pods never ask the API.
    for name, rule in rules_of(rendered_sets[value_set]):
        assert "secrets" not in rule["resources"], (name, rule)


@pytest.mark.parametrize("value_set", SETS)
def test_every_grant_is_a_get_on_a_named_object(rendered_sets, value_set: str) -> None:
    # No writes (the remediator's actuators are not in this release), no list/watch, and every
    # rule pinned by resourceNames.
    rules = rules_of(rendered_sets[value_set])
    assert rules
    for name, rule in rules:
        assert not WRITE_VERBS & set(rule["verbs"]), (name, rule)
        assert rule["verbs"] == ["get"], (name, rule)
        assert rule.get("resourceNames"), (name, rule)


@pytest.mark.parametrize("value_set", SETS)
def test_bindings_point_at_roles_of_the_chart(rendered_sets, value_set: str, kit) -> None:
    objects = rendered_sets[value_set]
    roles = {
        (o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] == "Role"
    }
    accounts = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in objects
        if o["kind"] == "ServiceAccount"
    }
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    assert len(bindings) == len(roles)
    for binding in bindings:
        assert binding["roleRef"]["kind"] == "Role"
        assert (binding["metadata"]["namespace"], binding["roleRef"]["name"]) in roles
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount"
            assert (subject["namespace"], subject["name"]) in accounts


def test_exporter_role_is_read_only_and_scoped(default_objects, kit) -> None:
    # Exactly the GETs of exporter/clients/kube.py, each on a known name: no list, no watch.
    got = grants(default_objects, f"{kit.release}-exporter", "torghut")
    assert got == {
        ("flink.apache.org", "flinkdeployments", "get", ("torghut-ta",)),
        ("", "configmaps", "get", ("torghut-ta-config",)),
        ("serving.knative.dev", "services", "get", ("torghut",)),
    }


def test_exporter_may_read_the_trading_switch_configmap(rendered_sets, kit) -> None:
    got = grants(rendered_sets["production"], f"{kit.release}-exporter", "torghut")
    assert ("", "configmaps", "get", ("torghut-ta-config", "torghut-trading-switch")) in got
    assert {verb for _, _, verb, _ in got} == {"get"}
    assert all(names for *_, names in got)


def test_remediator_role_is_the_probes_reads(remediator_objects, kit) -> None:
    # Observe mode runs the exporter's probes and reads the FlinkDeployment's pause annotation:
    # the exporter's GETs, nothing more, and one Role only.
    name = f"{kit.release}-remediator"
    assert grants(remediator_objects, name, "torghut") == {
        ("flink.apache.org", "flinkdeployments", "get", ("torghut-ta",)),
        ("", "configmaps", "get", ("torghut-ta-config",)),
        ("serving.knative.dev", "services", "get", ("torghut",)),
    }
    assert grants(remediator_objects, name, "torghut") == grants(
        remediator_objects, f"{kit.release}-exporter", "torghut"
    )
    roles = [o["metadata"]["name"] for o in remediator_objects if o["kind"] == "Role"]
    assert sorted(roles) == [f"{kit.release}-exporter", name]
    (account,) = [
        o
        for o in remediator_objects
        if o["kind"] == "ServiceAccount" and o["metadata"]["name"] == name
    ]
    assert account["automountServiceAccountToken"] is False  # only its pod opts in
    pod = next(p for n, p in kit.pod_specs(remediator_objects) if n == name)
    assert pod["serviceAccountName"] == name and pod["automountServiceAccountToken"] is True


def _kube_calls(path) -> set[str]:
    """Names used on the `kube` client module (exporter/clients/kube.py) in one source file."""
    tree = ast.parse(path.read_text())
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "kube"
    }


def test_remediator_code_makes_only_the_calls_its_role_allows(kit) -> None:
    # Its own Kubernetes calls are the FlinkDeployment get (the pause annotation); the probes
    # it runs are the exporter's. A new call here must come with its grant in the chart.
    calls = set().union(*(_kube_calls(p) for p in (kit.repo / "remediator").glob("*.py")))
    assert calls == {"open_api", "get_flinkdeployment", "KubeError"}


def test_rbac_follows_custom_targets(rendered_sets) -> None:
    objects = rendered_sets["custom-names"]
    exporter = grants(objects, "ta-ops-exporter", "trading-prod")
    assert ("flink.apache.org", "flinkdeployments", "get", ("ta-blue",)) in exporter
    assert ("serving.knative.dev", "services", "get", ("trader",)) in exporter
    assert ("", "configmaps", "get", ("ta-blue-config", "trader-switch")) in exporter
    remediator = grants(objects, "ta-ops-remediator", "trading-prod")
    assert remediator == {
        ("flink.apache.org", "flinkdeployments", "get", ("ta-blue",)),
        ("", "configmaps", "get", ("ta-blue-config", "trader-switch")),
        ("serving.knative.dev", "services", "get", ("trader",)),
    }
