"""values.schema.json covers every value and names the key of a wrong one."""

from __future__ import annotations

import json
from typing import Any, get_args

import helm_python as helm
import pytest
import yaml

from remediator.config import Allowlist, DropBounds, LeaseConfig, Mode, Policy
from remediator.config_cluster import AlertmanagerConfig, BasicAuth, ClickHouseRemediation
from remediator.config_gitops import ArgoConfig, GitHubConfig, GitOpsConfig
from remediator.config_replay import ReplayConfig

# Keys of the remediator's sections the chart sets itself (never values): the Secrets' files,
# the clone beside the journal, the Lease its Role names.
CHART_OWNED = {
    "gitops": {"work_dir", "direct_push_option"},
    "github": {"token", "ca_file"},
    "argocd": {"token", "ca_file", "namespace"},
    "clickhouseRemediation": {"password"},
    "alertmanager": {"bearer_token"},
    "basic_auth": {"password"},
    "lease": {"name", "namespace"},
}

VALUE_SET_NAMES = (
    "default",
    "network-policy",
    "remediator-enabled",
    "custom-names",
    "no-secrets",
    "production",
    "production-remediator",
    "production-auto",
)
BAD_VALUES = [
    ({"secrets": {"kafkaCa": {"name": "kafka-ca", "key": "ca crt"}}}, "/secrets/kafkaCa/key"),
    ({"secretMountRoot": "relative/dir"}, "/secretMountRoot"),
    ({"exporter": {"extraEnv": [{"value": "x"}]}}, "/exporter/extraEnv/0"),
    ({"exporter": {"rbac": {"extraConfigMaps": ["Bad_Name"]}}}, "/exporter/rbac/extraConfigMaps/0"),
    ({"networkPolicy": {"egress": {"kafka": {"to": {}}}}}, "/networkPolicy/egress/kafka/to"),
    ({"exporter": {"replicas": "two"}}, "/exporter/replicas"),
    ({"exporter": {"port": 70000}}, "/exporter/port"),
    ({"remediator": {"journal": {"size": 5}}}, "/remediator/journal/size"),
    ({"remediator": {"mode": "act"}}, "/remediator/mode"),
    # the chart owns these: the Lease its Role names, the clone on the journal volume, tokens
    ({"remediator": {"lease": {"name": "x"}}}, "/remediator/lease"),
    ({"remediator": {"gitops": {"work_dir": "/tmp/git"}}}, "/remediator/gitops"),
    ({"remediator": {"argocd": {"token": {"file": "/t"}}}}, "/remediator/argocd"),
    (
        {"remediator": {"gitops": {"github": {"repo": "no-slash"}}}},
        "/remediator/gitops/github/repo",
    ),
    ({"remediator": {"alertmanager": {"urls": ["alertmanager:9093"]}}}, "/remediator/alertmanager"),
    ({"remediator": {"policy": {"step_attempts": 0}}}, "/remediator/policy/step_attempts"),
    ({"remediator": {"config": {"mode": "observe"}}}, "'config'"),  # the guessed pass-through
    ({"remediator": {"policy": {"cooldwn": "5m"}}}, "'cooldwn'"),
    ({"remediator": {"policy": {"procedures": ["C"]}}}, "/remediator/policy/procedures/0"),
    ({"remediator": {"policy": {"drop": {"max_partitions": 0}}}}, "/remediator/policy/drop"),
    ({"remediator": {"allow": {"tables": "ta_signals"}}}, "/remediator/allow/tables"),
    (
        {"remediator": {"apiTokens": [{"name": "Alice", "secret": {"name": "a", "key": "t"}}]}},
        "/remediator/apiTokens/0/name",
    ),
    ({"remediator": {"apiTokens": [{"name": "alice"}]}}, "/remediator/apiTokens/0"),
    ({"remediator": {"identityHeader": "X User"}}, "/remediator/identityHeader"),
    ({"networkPolicy": {"enabled": "yes"}}, "/networkPolicy/enabled"),
    (
        {"secrets": {"webhookToken": {"name": "Not_A_Name", "key": "t"}}},
        "/secrets/webhookToken/name",
    ),
    ({"secrets": {"gitToken": {"name": "git", "key": "token"}}}, "'gitToken'"),
    ({"image": {"digest": "latest"}}, "/image/digest"),
    (
        {"exporter": {"resources": {"requests": {"cpu": "lots", "memory": "1Gi"}}}},
        "/exporter/resources/requests/cpu",
    ),
    ({"config": {"namespace": 7}}, "/config/namespace"),
    ({"dashboard": {"enabled": True}}, "dashboard"),
]


@pytest.mark.parametrize(("values", "key"), BAD_VALUES, ids=[k for _, k in BAD_VALUES])
def test_wrong_value_is_rejected_naming_the_key(kit, values: dict[str, Any], key: str) -> None:
    with helm.Chart.load(kit.chart_dir) as chart:
        with pytest.raises(helm.HelmValuesError) as excinfo:
            chart.validate_schema(values)
        assert key in str(excinfo.value)
        # The same values never reach the templates.
        with pytest.raises(helm.HelmValuesError, match=key):
            chart.render(values, name=kit.release, namespace=kit.namespace)


def test_more_than_one_remediator_is_refused_with_the_reason(kit) -> None:
    with helm.Chart.load(kit.chart_dir) as chart:
        chart.validate_schema({"remediator": {"replicas": 0}})
        chart.validate_schema({"remediator": {"replicas": 1}})
        with pytest.raises(helm.HelmValuesError) as excinfo:
            chart.validate_schema({"remediator": {"enabled": True, "replicas": 2}})
    message = str(excinfo.value)
    assert "/remediator/replicas" in message
    assert "SQLite on a ReadWriteOnce volume, which has a single writer" in message


def test_remediator_values_follow_its_config_model(kit) -> None:
    # allow and policy pass through in the remediator's own keys: the schema closes them with
    # exactly the model's fields, so a typo fails `helm install` and the two cannot drift.
    schema = json.loads((kit.chart_dir / "values.schema.json").read_text())
    remediator = schema["properties"]["remediator"]["properties"]
    assert set(remediator["allow"]["properties"]) == set(Allowlist.model_fields)
    policy = remediator["policy"]["properties"]
    assert set(policy) == set(Policy.model_fields)
    assert set(policy["drop"]["properties"]) == set(DropBounds.model_fields)
    assert set(remediator["replay"]["properties"]) == set(ReplayConfig.model_fields)
    assert remediator["replay"]["additionalProperties"] is False
    assert remediator["mode"]["enum"] == list(get_args(Mode))
    # the acting sections: the model's keys minus those the chart owns
    sections = {
        "gitops": (remediator["gitops"], GitOpsConfig),
        "github": (remediator["gitops"]["properties"]["github"], GitHubConfig),
        "argocd": (remediator["argocd"], ArgoConfig),
        "clickhouseRemediation": (remediator["clickhouseRemediation"], ClickHouseRemediation),
        "alertmanager": (remediator["alertmanager"], AlertmanagerConfig),
        "basic_auth": (remediator["alertmanager"]["properties"]["basic_auth"], BasicAuth),
        "lease": (remediator["lease"], LeaseConfig),
    }
    for key, (section, model) in sections.items():
        assert section["additionalProperties"] is False, key
        assert set(section["properties"]) == set(model.model_fields) - CHART_OWNED[key], key


def test_values_file_with_a_wrong_type_is_rejected(kit, tmp_path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text("remediator:\n  replicas: one\n")
    values = helm.values_from_yaml(path.read_text())
    report = helm.lint(str(kit.chart_dir), values, strict=True)
    assert any("/remediator/replicas" in e for e in report["errors"]), report


@pytest.mark.parametrize("value_set", list(VALUE_SET_NAMES))
def test_value_sets_pass_the_schema(kit, value_set: str) -> None:
    with helm.Chart.load(kit.chart_dir) as chart:
        chart.validate_schema(kit.value_sets[value_set])


def _uncovered(values: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Keys of `values` a closed schema object does not list."""
    if not isinstance(values, dict):
        return []
    missing = []
    extra = schema.get("additionalProperties", True)
    for key, value in values.items():
        if key in schema.get("properties", {}):
            missing += _uncovered(value, schema["properties"][key], f"{path}.{key}")
        elif extra is False:
            missing.append(f"{path}.{key}")
        elif isinstance(extra, dict):
            missing += _uncovered(value, extra, f"{path}.{key}")
    return missing


def _open_objects(schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of objects with named properties that still accept unknown keys."""
    found = []
    if schema.get("properties") and schema.get("additionalProperties", True) is not False:
        found.append(path)
    for key, child in schema.get("properties", {}).items():
        found += _open_objects(child, f"{path}.{key}")
    return found


def test_schema_describes_every_default_value(kit) -> None:
    schema = json.loads((kit.chart_dir / "values.schema.json").read_text())
    defaults = yaml.safe_load((kit.chart_dir / "values.yaml").read_text())
    assert _uncovered(defaults, schema, "") == []
    # A typo in a chart-owned key is caught; only the pipeline config (owned by the exporter's
    # config model) accepts keys the chart does not know. The remediator's pass-through
    # sections are closed with its model's keys (test_remediator_values_follow_its_config_model).
    for path in _open_objects(schema):
        assert path.startswith(".config"), path


def test_the_coverage_check_detects_an_unknown_key(kit) -> None:
    schema = json.loads((kit.chart_dir / "values.schema.json").read_text())
    assert _uncovered({"exporter": {"replica": 1}}, schema, "") == [".exporter.replica"]
