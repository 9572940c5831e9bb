"""Every rendered object is valid for its API: core kinds by kubernetes-validate (strict, so an
unknown field fails), prometheus-operator kinds by the cloudcoil pydantic models."""

from __future__ import annotations

import copy
from contextlib import AsyncExitStack
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.prometheus_operator import v1 as monitoring

from exporter.config import Config, parse_config
from exporter.families import checkpoints

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and a recent one.
KUBE_VERSIONS = ["1.27.0", "1.33.0"]
CRD_MODELS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): monitoring.ServiceMonitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): monitoring.PrometheusRule,
}
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


def validate_crd(obj: dict[str, Any]) -> None:
    """The model accepts it and dumps it back unchanged: nothing unknown was silently dropped."""
    model = CRD_MODELS[(obj["apiVersion"], obj["kind"])]
    dumped = model.model_validate(obj).model_dump(by_alias=True, exclude_none=True, mode="json")
    assert dumped == obj, f"{obj['kind']}/{obj['metadata']['name']} has fields the model lacks"


# Every value set on the oldest supported version; the default on the newest as well.
@pytest.mark.parametrize(
    ("value_set", "kube_version"),
    [(name, KUBE_VERSIONS[0]) for name in SETS] + [("default", KUBE_VERSIONS[-1])],
)
def test_every_object_validates(rendered_sets, value_set: str, kube_version: str) -> None:
    objects = rendered_sets[value_set]
    assert objects
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in CRD_MODELS:
            validate_crd(obj)
        else:
            kubernetes_validate.validate(obj, kube_version, strict=True)


def test_validators_reject_unknown_fields(default_objects, kit) -> None:
    # The validation above means something only if a typo fails it.
    deployment = copy.deepcopy(kit.find(default_objects, "Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.30.0", strict=True)
    monitor = copy.deepcopy(kit.find(default_objects, "ServiceMonitor")[0])
    monitor["spec"]["endpoints"][0]["scrapeInterval"] = "30s"
    with pytest.raises(AssertionError):
        validate_crd(monitor)


COMPONENT_KINDS = ("Deployment", "Service", "ServiceAccount", "ServiceMonitor")
REMEDIATOR_KINDS = {
    "Deployment",
    "Service",
    "ServiceAccount",
    "ServiceMonitor",
    "PersistentVolumeClaim",
    "Role",
    "RoleBinding",
    "NetworkPolicy",
}


def remediator_parts(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(kind, name) of everything that belongs to the remediator, by name or by label."""
    return [
        (o["kind"], o["metadata"]["name"])
        for o in objects
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "remediator"
        or (o["kind"] in REMEDIATOR_KINDS and "remediator" in o["metadata"]["name"])
    ]


def test_default_render_has_the_expected_objects(default_objects, kit) -> None:
    kinds = sorted({o["kind"] for o in default_objects})
    assert kinds == sorted(
        {
            "ConfigMap",
            "Deployment",
            "PrometheusRule",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
        }
    )
    names = {(o["kind"], o["metadata"]["name"]) for o in default_objects}
    for kind in COMPONENT_KINDS:
        assert (kind, f"{kit.release}-exporter") in names
    assert not kit.find(default_objects, "NetworkPolicy")


def test_default_render_has_no_remediator_and_a_complete_exporter(default_objects, kit) -> None:
    # The remediator is off by default: no pod, nor the RBAC, journal claim or scrape target
    # that go with it.
    assert remediator_parts(default_objects) == []
    assert not kit.find(default_objects, "PersistentVolumeClaim")
    (deployment,) = kit.find(default_objects, "Deployment")
    exporter = f"{kit.release}-exporter"
    assert deployment["metadata"]["name"] == exporter
    for kind in COMPONENT_KINDS:
        assert len(kit.find(default_objects, kind, exporter)) == 1, kind
    (role,) = kit.find(default_objects, "Role")
    (binding,) = kit.find(default_objects, "RoleBinding")
    assert (role["metadata"]["name"], role["metadata"]["namespace"]) == (exporter, "torghut")
    assert binding["roleRef"]["name"] == exporter
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": exporter, "namespace": kit.namespace}
    ]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == exporter
    config = kit.find(default_objects, "ConfigMap", f"{kit.release}-config")[0]
    assert "exporter.yaml" in config["data"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert config["metadata"]["name"] in {
        v.get("configMap", {}).get("name") for v in volumes.values()
    }
    assert kit.find(default_objects, "PrometheusRule")
    assert [
        o
        for o in kit.find(default_objects, "ConfigMap")
        if "grafana_dashboard" in o["metadata"]["labels"]
    ]
    # Network policies follow the same switch: only the exporter gets one.
    policies = kit.find(kit.render({"networkPolicy": {"enabled": True}}), "NetworkPolicy")
    assert [p["metadata"]["name"] for p in policies] == [exporter]


def test_remediator_enabled_renders_every_component(remediator_objects, kit) -> None:
    names = {(o["kind"], o["metadata"]["name"]) for o in remediator_objects}
    for component in ("exporter", "remediator"):
        for kind in COMPONENT_KINDS:
            assert (kind, f"{kit.release}-{component}") in names
    assert ("PersistentVolumeClaim", f"{kit.release}-remediator-journal") in names
    # The check the default render passes is not vacuous: it spots each of these.
    assert {k for k, _ in remediator_parts(remediator_objects)} == REMEDIATOR_KINDS - {
        "NetworkPolicy"
    }
    # The exporter's Role, and the remediator's three: the pipeline's namespace (probes' reads,
    # job patch, Events), the Argo CD Applications and its leader Lease; each bound once.
    remediator_roles = {(k, n) for k, n in names if k in {"Role", "RoleBinding"}}
    assert remediator_roles == {
        (kind, f"{kit.release}-{component}")
        for kind in ("Role", "RoleBinding")
        for component in ("exporter", "remediator", "remediator-argocd", "remediator-lease")
    }


def test_exporter_service_monitor_sets_the_job_label(default_objects, kit) -> None:
    monitor = kit.find(default_objects, "ServiceMonitor", f"{kit.release}-exporter")[0]
    service = kit.find(default_objects, "Service", f"{kit.release}-exporter")[0]
    # jobLabel names a Service label whose value becomes `job`; the relabeling pins it too.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "torghut-ta-exporter"
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
    assert {"action": "replace", "targetLabel": "job", "replacement": "torghut-ta-exporter"} in (
        endpoint["relabelings"]
    )
    # the install label is the pipeline's namespace (config.namespace), not the release's: the
    # remediator reads an alert's namespace label as the FlinkDeployment's
    assert {"action": "replace", "targetLabel": "namespace", "replacement": "torghut"} in (
        endpoint["relabelings"]
    )
    assert kit.namespace != "torghut"
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["port"] == 9108


@pytest.mark.parametrize("value_set", ["default", "remediator-enabled"])
def test_services_select_their_own_pods(rendered_sets, value_set: str, kit) -> None:
    objects = rendered_sets[value_set]
    services = kit.find(objects, "Service")
    assert services
    for service in services:
        deployment = kit.find(objects, "Deployment", service["metadata"]["name"])[0]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert {p["name"] for p in container["ports"]} == {"http"}


def test_monitoring_objects_can_be_switched_off(rendered_sets) -> None:
    kinds = {o["kind"] for o in rendered_sets["exporter-only-no-monitoring"]}
    assert not kinds & {"ServiceMonitor", "PrometheusRule"}
    configmaps = [
        o for o in rendered_sets["exporter-only-no-monitoring"] if o["kind"] == "ConfigMap"
    ]
    assert all("grafana_dashboard" not in c["metadata"]["labels"] for c in configmaps)


def test_remediator_is_recreated_with_its_journal_claim(remediator_objects, kit) -> None:
    deployment = kit.find(remediator_objects, "Deployment", f"{kit.release}-remediator")[0]
    # SQLite on a ReadWriteOnce volume has one writer: one pod, and the old one goes first.
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claim = kit.find(remediator_objects, "PersistentVolumeClaim")[0]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["journal"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    mounts = deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    # the mount comes from the values, and the config puts the journal on it
    values = yaml.safe_load((kit.chart_dir / "values.yaml").read_text())
    mount_path = values["remediator"]["journal"]["mountPath"]
    assert {"name": "journal", "mountPath": mount_path} in mounts
    config = kit.find(remediator_objects, "ConfigMap", f"{kit.release}-config")[0]
    own = yaml.safe_load(config["data"]["remediator.yaml"])["remediator"]
    assert own["journal_path"] == f"{mount_path}/journal.sqlite3"


def test_custom_names_flow_everywhere(rendered_sets, kit) -> None:
    objects = rendered_sets["custom-names"]
    custom = kit.value_sets["custom-names"]
    for o in objects:
        assert o["metadata"]["name"].startswith("ta-ops"), o["metadata"]["name"]
        assert o["metadata"]["labels"]["team"] == "trading"
    remediator = kit.find(objects, "Deployment", "ta-ops-remediator")[0]
    assert remediator["spec"]["replicas"] == 0
    pod = remediator["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.example/ta-ops@" + custom["image"]["digest"]
    assert container["ports"][0]["containerPort"] == 8099
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["journal"]["persistentVolumeClaim"]["claimName"] == "ta-journal"
    # clickhouse name "" mounts nothing; the webhook and the one API token are mounted
    secret_volumes = {n: v["secret"]["secretName"] for n, v in volumes.items() if "secret" in v}
    assert secret_volumes == {"secret-webhook": "ta-hook", "api-token-oncall": "ta-oncall"}
    assert not kit.find(objects, "PersistentVolumeClaim")  # existingClaim is used as is
    # the Roles sit in the pipeline's namespace, the Argo CD Applications' namespace from values
    # and (the remediator's leader Lease) the release namespace
    namespaces = {
        o["metadata"]["name"]: o["metadata"]["namespace"] for o in kit.find(objects, "Role")
    }
    assert namespaces == {
        "ta-ops-exporter": "trading-prod",
        "ta-ops-remediator": "trading-prod",
        "ta-ops-remediator-argocd": "gitops",
        "ta-ops-remediator-lease": kit.namespace,
    }
    config = kit.find(objects, "ConfigMap", "ta-ops-config")[0]
    own = yaml.safe_load(config["data"]["remediator.yaml"])["remediator"]
    assert own["listen"] == {"host": "0.0.0.0", "port": 8099}
    assert own["journal_path"] == "/data/journal/journal.sqlite3"
    assert {"name": "journal", "mountPath": "/data/journal"} in container["volumeMounts"]
    assert own["pause_annotation"] == "ops.example/hold"
    assert own["identity_header"] == "X-Forwarded-User"
    assert own["allow"] == {"tables": ["ta_signals"]}
    assert own["replay"] == {"output_consumers": ["torghut"], "silence_for": "2h"}
    service = kit.find(objects, "Service", "ta-ops-remediator")[0]
    assert service["spec"]["ports"][0]["port"] == 8099


def test_network_policy_admits_only_configured_peers(rendered_sets, kit) -> None:
    policies = kit.find(rendered_sets["network-policy"], "NetworkPolicy")
    assert {p["metadata"]["name"] for p in policies} == {
        f"{kit.release}-exporter",
        f"{kit.release}-remediator",
    }
    for policy in policies:
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        (rule,) = policy["spec"]["ingress"]
        assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
        assert rule["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ]
    # No peers configured must mean nobody, never "from: []" (which Kubernetes reads as everyone).
    for policy in kit.find(rendered_sets["custom-names"], "NetworkPolicy"):
        assert policy["spec"]["ingress"] == []


def test_egress_is_open_unless_enabled_and_then_only_to_listed_targets(rendered_sets, kit) -> None:
    (ingress_only,) = kit.find(kit.render({"networkPolicy": {"enabled": True}}), "NetworkPolicy")
    assert ingress_only["spec"]["policyTypes"] == ["Ingress"]
    assert "egress" not in ingress_only["spec"]
    policy = kit.find(rendered_sets["production"], "NetworkPolicy", f"{kit.release}-exporter")[0]
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    rules = policy["spec"]["egress"]
    egress = kit.value_sets["production"]["networkPolicy"]["egress"]
    expected_peers = [egress[t]["to"] for t in ("apiServer", "clickhouse", "kafka", "s3", "flink")]
    got_peers = [r["to"] for r in rules]
    for peers in expected_peers:
        assert peers in got_peers
    dns = [r for r in rules if {"port": 53, "protocol": "UDP"} in r["ports"]]
    assert dns and dns[0]["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    # every rule names its peers: a rule without "to" would allow any destination
    assert all(r["to"] for r in rules)
    # a target left without peers is closed, not opened to everyone
    closed = kit.render({"networkPolicy": {"enabled": True, "egress": {"enabled": True}}})
    (policy,) = kit.find(closed, "NetworkPolicy")
    assert [r["ports"] for r in policy["spec"]["egress"]] == [
        [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    ]


def _notes(kit, values) -> str:
    return next(v for k, v in kit.render_text(values).items() if k.endswith("NOTES.txt"))


def test_default_install_does_not_probe_checkpoint_storage(default_objects, kit) -> None:
    # Without an endpoint the probe would ask AWS with no credentials and report checkpoints
    # down; the default turns it off and NOTES says so.
    config = kit.find(default_objects, "ConfigMap", f"{kit.release}-config")[0]
    exporter = yaml.safe_load(config["data"]["exporter.yaml"])
    assert Config.model_validate(exporter).checkpoint_storage.enabled is False
    assert "Checkpoint storage: NOT probed" in _notes(kit, {})
    production = _notes(kit, kit.value_sets["production"])
    assert "Checkpoint storage" not in production
    irsa = _notes(kit, {"config": {"checkpoint_storage": {"enabled": True}}})
    assert "default AWS credential chain" in irsa


async def test_a_disabled_checkpoint_probe_builds_nothing(default_objects, kit) -> None:
    config = kit.find(default_objects, "ConfigMap", f"{kit.release}-config")[0]
    exporter = yaml.safe_load(config["data"]["exporter.yaml"])
    exporter["clickhouse"].pop("password")  # not mounted here
    cfg = parse_config(exporter)
    async with AsyncExitStack() as stack:
        assert await checkpoints.build(cfg, stack=stack) == []
