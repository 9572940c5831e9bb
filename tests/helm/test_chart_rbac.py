"""Least privilege: namespaced Roles only, no wildcards, writes and secrets pinned by name."""

from __future__ import annotations

from typing import Any

import pytest

SETS = [
    "default",
    "network-policy",
    "remediator-enabled",
    "custom-names",
    "no-secrets",
    "production",
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
def test_secrets_only_by_name_and_only_read(rendered_sets, value_set: str) -> None:
    for name, rule in rules_of(rendered_sets[value_set]):
        if "secrets" in rule["resources"]:
            assert rule["resources"] == ["secrets"], name
            assert rule["verbs"] == ["get"], name
            assert rule.get("resourceNames"), f"{name} reads secrets without resourceNames"


@pytest.mark.parametrize("value_set", SETS)
def test_writes_are_pinned_by_name_except_lease_and_event_create(
    rendered_sets, value_set: str
) -> None:
    # Kubernetes cannot restrict `create` by resourceNames; only leases and events are created.
    for name, rule in rules_of(rendered_sets[value_set]):
        writes = WRITE_VERBS & set(rule["verbs"])
        if not writes:
            continue
        if writes == {"create"} and not rule.get("resourceNames"):
            assert set(rule["resources"]) <= {"leases", "events"}, (name, rule)
        else:
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


def test_remediator_roles(remediator_objects, kit) -> None:
    name = f"{kit.release}-remediator"
    target = grants(remediator_objects, name, "torghut")
    assert ("flink.apache.org", "flinkdeployments", "patch", ("torghut-ta",)) in target
    assert {("", "events", "create", ()), ("events.k8s.io", "events", "create", ())} <= target
    assert grants(remediator_objects, f"{name}-lease", kit.namespace) == {
        ("coordination.k8s.io", "leases", verb, (name,)) for verb in ("get", "update", "patch")
    } | {("coordination.k8s.io", "leases", "create", ())}
    assert grants(remediator_objects, f"{name}-argocd", "argocd") == {
        ("argoproj.io", "applications", "get", ("torghut",)),
        ("argoproj.io", "applications", "patch", ("torghut",)),
    }
    secrets = grants(remediator_objects, f"{name}-secrets", kit.namespace)
    assert {n for *_, n in secrets} == {
        (
            "torghut-ta-ops-argocd",
            "torghut-ta-ops-clickhouse",
            "torghut-ta-ops-git",
            "torghut-ta-ops-webhook",
        )
    }


def test_rbac_follows_custom_targets(rendered_sets) -> None:
    objects = rendered_sets["custom-names"]
    exporter = grants(objects, "ta-ops-exporter", "trading-prod")
    assert ("flink.apache.org", "flinkdeployments", "get", ("ta-blue",)) in exporter
    assert ("", "configmaps", "get", ("ta-blue-config",)) in exporter
    assert ("serving.knative.dev", "services", "get", ("trader",)) in exporter
    remediator = grants(objects, "ta-ops-remediator", "trading-prod")
    assert ("flink.apache.org", "flinkdeployments", "patch", ("ta-blue",)) in remediator
    assert ("coordination.k8s.io", "leases", "update", ("ta-leader",)) in grants(
        objects, "ta-ops-remediator-lease", "ops-leases"
    )
    argocd = grants(objects, "ta-ops-remediator-argocd", "gitops")
    assert {n for *_, n in argocd} == {("torghut", "torghut-ta")}
    secrets = grants(objects, "ta-ops-remediator-secrets", "torghut-ta-ops")
    assert {n for *_, n in secrets} == {
        ("torghut-ta-ops-argocd", "torghut-ta-ops-clickhouse", "torghut-ta-ops-webhook")
    }


def test_no_secret_names_means_no_secret_access(rendered_sets) -> None:
    assert not [r for _, r in rules_of(rendered_sets["no-secrets"]) if "secrets" in r["resources"]]
