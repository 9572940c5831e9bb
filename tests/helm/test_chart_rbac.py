"""Least privilege: namespaced Roles only, no wildcards, no list/watch, no Secrets (mounted Secrets
need no RBAC). The exporter only gets named objects; the remediator's writes are exactly its
actuators' calls, named wherever Kubernetes allows (create cannot be)."""

from __future__ import annotations

import ast
from typing import Any

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
def test_every_grant_is_named_and_writes_are_the_remediators(
    rendered_sets, value_set: str, kit
) -> None:
    # The exporter only gets; the remediator adds exactly its actuators' writes. No list/watch;
    # every rule pinned by resourceNames except create, which Kubernetes cannot restrict by name.
    rules = rules_of(rendered_sets[value_set])
    assert rules
    for name, rule in rules:
        assert not {"list", "watch"} & set(rule["verbs"]), (name, rule)
        if "remediator" not in name:
            assert rule["verbs"] == ["get"], (name, rule)
        assert set(rule["verbs"]) <= {"get", "patch", "update", "create"}, (name, rule)
        assert "delete" not in rule["verbs"] and "deletecollection" not in rule["verbs"]
        if rule["verbs"] == ["create"]:
            assert not rule.get("resourceNames"), (name, rule)
        else:
            assert rule.get("resourceNames") and "create" not in rule["verbs"], (name, rule)


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


def remediator_grants(objects: list[dict[str, Any]], release: str, target: str, apps: str,
                      lease_ns: str) -> set[tuple[str, str, str, str, tuple[str, ...]]]:  # fmt: skip
    """(namespace, group, resource, verb, names) over the remediator's three Roles."""
    return {
        (ns, *grant)
        for role, ns in (
            (f"{release}-remediator", target),
            (f"{release}-remediator-argocd", apps),
            (f"{release}-remediator-lease", lease_ns),
        )
        for grant in grants(objects, role, ns)
    }


def test_remediator_roles_are_its_calls(remediator_objects, kit) -> None:
    # The probes' reads (the exporter's GETs) plus the actuators: patch_job, events.record,
    # set_self_heal (get + patch the Application) and the leader Lease.
    name = f"{kit.release}-remediator"
    assert remediator_grants(
        remediator_objects, kit.release, "torghut", "argocd", kit.namespace
    ) == {
        ("torghut", "flink.apache.org", "flinkdeployments", "get", ("torghut-ta",)),
        ("torghut", "", "configmaps", "get", ("torghut-ta-config",)),
        ("torghut", "serving.knative.dev", "services", "get", ("torghut",)),
        ("torghut", "flink.apache.org", "flinkdeployments", "patch", ("torghut-ta",)),
        ("torghut", "", "events", "create", ()),
        ("argocd", "argoproj.io", "applications", "get", ("torghut-ta",)),
        ("argocd", "argoproj.io", "applications", "patch", ("torghut-ta",)),
        (kit.namespace, "coordination.k8s.io", "leases", "get", ("torghut-ta-remediator",)),
        (kit.namespace, "coordination.k8s.io", "leases", "update", ("torghut-ta-remediator",)),
        (kit.namespace, "coordination.k8s.io", "leases", "create", ()),
    }
    reads = {g for g in grants(remediator_objects, name, "torghut") if g[2] == "get"}
    assert reads == grants(remediator_objects, f"{kit.release}-exporter", "torghut")
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


# What each Kubernetes call the remediator's own modules make needs, as (namespace kind, group,
# resource, verb): "target" is config.namespace, "apps" the Applications' namespace. The
# actuators' own calls (remediator/actuators/kube.py, events.py, lease.py) are proved against
# the sandbox's RBAC; these are the names remediator/*.py uses on the `kube` modules.
KUBE_CALL_GRANTS: dict[str, set[tuple[str, str, str, str]]] = {
    "open_api": set(),  # the client, no call
    "KubeError": set(),
    "get_flinkdeployment": {("target", "flink.apache.org", "flinkdeployments", "get")},
    "read_job": {("target", "flink.apache.org", "flinkdeployments", "get")},
    "patch_job": {("target", "flink.apache.org", "flinkdeployments", "patch")},
    "set_self_heal": {
        ("apps", "argoproj.io", "applications", "get"),
        ("apps", "argoproj.io", "applications", "patch"),
    },
}


def test_remediator_code_makes_only_the_calls_its_role_allows(remediator_objects, kit) -> None:
    # The pause annotation's get and the executor's wiring (remediator/actuate.py) of the kube
    # actuator; the probes it runs are the exporter's. A new call here must come with its grant
    # in the chart (and an entry above).
    calls = set().union(*(_kube_calls(p) for p in (kit.repo / "remediator").glob("*.py")))
    assert calls <= set(KUBE_CALL_GRANTS), calls - set(KUBE_CALL_GRANTS)
    assert {"get_flinkdeployment", "patch_job", "set_self_heal"} <= calls
    granted = remediator_grants(remediator_objects, kit.release, "torghut", "argocd", kit.namespace)
    where = {"target": "torghut", "apps": "argocd"}
    for call in calls:
        for ns, group, resource, verb in KUBE_CALL_GRANTS[call]:
            assert any(g[:4] == (where[ns], group, resource, verb) for g in granted), (
                f"{call} needs {verb} {resource} in {where[ns]}"
            )


def test_rbac_follows_custom_targets(rendered_sets) -> None:
    objects = rendered_sets["custom-names"]
    exporter = grants(objects, "ta-ops-exporter", "trading-prod")
    assert ("flink.apache.org", "flinkdeployments", "get", ("ta-blue",)) in exporter
    assert ("serving.knative.dev", "services", "get", ("trader",)) in exporter
    assert ("", "configmaps", "get", ("ta-blue-config", "trader-switch")) in exporter
    remediator = remediator_grants(objects, "ta-ops", "trading-prod", "gitops", "torghut-ta-ops")
    assert remediator == {
        ("trading-prod", "flink.apache.org", "flinkdeployments", "get", ("ta-blue",)),
        ("trading-prod", "", "configmaps", "get", ("ta-blue-config", "trader-switch")),
        ("trading-prod", "serving.knative.dev", "services", "get", ("trader",)),
        ("trading-prod", "flink.apache.org", "flinkdeployments", "patch", ("ta-blue",)),
        ("trading-prod", "", "events", "create", ()),
        ("gitops", "argoproj.io", "applications", "get", ("ta-blue", "trader")),
        ("gitops", "argoproj.io", "applications", "patch", ("ta-blue", "trader")),
        ("torghut-ta-ops", "coordination.k8s.io", "leases", "get", ("ta-ops-leader",)),
        ("torghut-ta-ops", "coordination.k8s.io", "leases", "update", ("ta-ops-leader",)),
        ("torghut-ta-ops", "coordination.k8s.io", "leases", "create", ()),
    }


REMEDIATOR_SETS = [
    "network-policy",
    "remediator-enabled",
    "custom-names",
    "production-remediator",
    "production-auto",
]


@pytest.mark.parametrize("value_set", REMEDIATOR_SETS)
def test_the_config_names_the_lease_and_application_its_roles_grant(
    rendered_sets, value_set: str, kit
) -> None:
    # The Lease the remediator holds and the Application it turns self-heal off on are the
    # objects its Roles name: the chart derives the config's names from the same values.
    objects = rendered_sets[value_set]
    values = kit.value_sets[value_set]["remediator"]
    assert values["enabled"] is True
    prefix = kit.value_sets[value_set].get("fullnameOverride") or kit.release
    config = kit.find(objects, "ConfigMap", f"{prefix}-config")[0]
    section = yaml.safe_load(config["data"]["remediator.yaml"])["remediator"]
    (lease_role,) = kit.find(objects, "Role", f"{prefix}-remediator-lease")
    named = [r for r in lease_role["rules"] if r.get("resourceNames")]
    assert [r["resourceNames"] for r in named] == [[section["lease"]["name"]]]
    assert lease_role["metadata"]["namespace"] == section["lease"]["namespace"] == kit.namespace
    expected = values.get("rbac", {}).get("leaseName", "torghut-ta-remediator")
    assert section["lease"]["name"] == expected
    (apps_role,) = kit.find(objects, "Role", f"{prefix}-remediator-argocd")
    if "argocd" in section:
        assert section["argocd"]["app"] in apps_role["rules"][0]["resourceNames"]
    else:
        assert values.get("mode", "observe") == "observe", value_set
