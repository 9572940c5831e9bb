"""The chart ships what the repository defines: alert rules from alerts/rules, dashboards from
dashboards/ (both through symlinks under files/), and a config the exporter's model accepts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from ruamel.yaml import YAML

from exporter.config import Config
from remediator.config import RemediatorConfig


def source_groups(rules_dir: Path) -> list[dict[str, Any]]:
    """Rule groups of every *.yml / *.yaml in name order, as Prometheus would load them."""
    files = sorted([*rules_dir.glob("*.yml"), *rules_dir.glob("*.yaml")], key=lambda p: p.name)
    return [
        group for f in files for group in (yaml.safe_load(f.read_text()) or {}).get("groups", [])
    ]


def rendered_groups(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rules = [o for o in objects if o["kind"] == "PrometheusRule"]
    assert len(rules) <= 1
    return rules[0]["spec"]["groups"] if rules else []


def test_rules_come_from_alerts_rules(kit) -> None:
    link = kit.chart_dir / "files" / "rules"
    assert link.is_symlink(), "files/rules must link to alerts/rules: one source of truth"
    assert link.resolve() == (kit.repo / "alerts" / "rules").resolve()


EXPORTER_SELECTOR = 'job="torghut-ta-exporter"'
REMEDIATOR_SELECTOR = 'job="torghut-ta-remediator"'


def pipeline_namespace(kit) -> str:
    """config.namespace by default: the install label the ServiceMonitors set."""
    return str(yaml.safe_load((kit.chart_dir / "values.yaml").read_text())["config"]["namespace"])


def scoped(groups: list[dict[str, Any]], exporter: str, remediator: str) -> list[dict[str, Any]]:
    """The groups with the rule file's two selectors replaced in every string, as the template
    does in the file's text."""

    def swap(node: Any) -> Any:
        if isinstance(node, str):
            return node.replace(EXPORTER_SELECTOR, exporter).replace(
                REMEDIATOR_SELECTOR, remediator
            )
        if isinstance(node, dict):
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        return node

    return list(swap(groups))


def test_rendered_prometheus_rule_equals_the_rule_files(default_objects, kit) -> None:
    """Equal but for the selectors, which name the pipeline's namespace (scopeToNamespace)."""
    expected = source_groups(kit.repo / "alerts" / "rules")
    ns = f'namespace="{pipeline_namespace(kit)}"'
    got = rendered_groups(default_objects)
    assert got == scoped(expected, f"{EXPORTER_SELECTOR}, {ns}", f"{REMEDIATOR_SELECTOR}, {ns}")
    if expected:
        (rule,) = kit.find(default_objects, "PrometheusRule")
        assert rule["metadata"]["namespace"] == kit.namespace


def test_rules_scoped_to_the_release_its_job_names_and_install_selector(kit, tmp_path) -> None:
    source = source_groups(kit.repo / "alerts" / "rules")
    values = {
        "exporter": {"serviceMonitor": {"jobName": "ta-exp"}},
        "remediator": {"serviceMonitor": {"jobName": "ta-rem"}},
        "prometheusRule": {"installSelector": {"cluster": "prod-eu"}},
    }
    got = rendered_groups(kit.render(values))
    ns = f'namespace="{pipeline_namespace(kit)}"'
    assert got == scoped(
        source, f'job="ta-exp", cluster="prod-eu", {ns}', f'job="ta-rem", cluster="prod-eu", {ns}'
    )
    exprs = [r["expr"] for g in got for r in g["rules"]]
    assert any('absent(up{job="ta-exp", cluster="prod-eu", ' in e for e in exprs)
    assert not any(EXPORTER_SELECTOR in e or REMEDIATOR_SELECTOR in e for e in exprs)
    # what the chart renders is still valid for Prometheus
    rule_file = tmp_path / "rendered.rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": got}))
    check = subprocess.run(
        ["promtool", "check", "rules", "--lint=all", "--lint-fatal", str(rule_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr

    unscoped = {"prometheusRule": {"scopeToNamespace": False}}
    assert rendered_groups(kit.render(unscoped)) == source


def test_install_selector_cannot_override_the_job(kit) -> None:
    with pytest.raises(helm.HelmRenderError, match=r"installSelector\.job"):
        kit.render({"prometheusRule": {"installSelector": {"job": "x"}}})


def chart_with_rules(kit, tmp_path: Path, rules: dict[str, str]) -> Path:
    """A copy of the chart whose files/rules is a real directory holding `rules`."""
    chart = tmp_path / "torghut-ta-ops"
    shutil.copytree(kit.chart_dir, chart, symlinks=False)
    rules_dir = chart / "files" / "rules"
    shutil.rmtree(rules_dir, ignore_errors=True)
    rules_dir.mkdir(parents=True)
    for name, text in rules.items():
        (rules_dir / name).write_text(text)
    return chart


RULE_A = (
    "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 2m\n"
    "    labels: {severity: page, ratio: '0.5'}\n    annotations: {summary: s}\n"
)
RULE_B = "groups:\n- name: b\n  interval: 30s\n  rules:\n  - record: r\n    expr: sum(up)\n"


def test_the_comparison_fails_when_rules_differ(kit, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "a.yml").write_text(RULE_A)
    (reference / "b.yaml").write_text(RULE_B)
    rules = {"a.yml": RULE_A, "b.yaml": RULE_B, "notes.txt": "not a rule file"}
    same = chart_with_rules(kit, tmp_path / "same", rules)
    assert rendered_groups(kit.render(chart_dir=same)) == source_groups(reference)
    rules["a.yml"] = RULE_A.replace("up == 0", "up == 1")
    edited = chart_with_rules(kit, tmp_path / "edited", rules)
    assert rendered_groups(kit.render(chart_dir=edited)) != source_groups(reference)


RUNBOOK_BASE = "https://github.com/torghut/torghut-ta-ops/blob/main/docs/runbooks"
GRAFANA_BASE = "https://grafana.example.com"


def test_url_bases_are_replaced_and_nothing_else(kit) -> None:
    rules_dir = kit.repo / "alerts" / "rules"
    text = "".join(p.read_text() for p in sorted(rules_dir.glob("*.yml")))
    assert text, f"no rule files under {rules_dir}"
    assert RUNBOOK_BASE in text and GRAFANA_BASE in text  # the bases the template swaps
    values = {
        "prometheusRule": {
            "runbookBaseUrl": "https://wiki.internal/ta/",
            "grafanaUrl": "https://grafana.internal",
        }
    }
    got = rendered_groups(kit.render(values))
    ns = f'namespace="{pipeline_namespace(kit)}"'
    expected = [
        yaml.safe_load(
            yaml.safe_dump(group, width=10**9)
            .replace(RUNBOOK_BASE, "https://wiki.internal/ta")
            .replace(GRAFANA_BASE, "https://grafana.internal")
        )
        for group in scoped(
            source_groups(rules_dir), f"{EXPORTER_SELECTOR}, {ns}", f"{REMEDIATOR_SELECTOR}, {ns}"
        )
    ]
    assert got == expected
    urls = [r["annotations"]["runbook_url"] for g in got for r in g["rules"] if "alert" in r]
    assert urls and all(u.startswith("https://wiki.internal/ta/") for u in urls)


def test_rule_files_read_the_same_in_yaml_1_1_and_1_2(kit) -> None:
    # Helm (fromYaml) and the API server read YAML 1.1, Prometheus and promtool read YAML 1.2:
    # a plain `n`, `y`, `on`, `off`, `yes` or `no` would mean a boolean to the chart and a
    # string to promtool, so the PrometheusRule would silently differ from what was tested.
    yaml12 = YAML(typ="safe", pure=True)
    for path in sorted((kit.repo / "alerts" / "rules").glob("*.y*ml")):
        assert yaml.safe_load(path.read_text()) == yaml12.load(path.read_text()), path.name


def test_invalid_rule_file_fails_the_render(kit, tmp_path: Path) -> None:
    chart = chart_with_rules(kit, tmp_path, {"broken.yml": "groups: [unclosed\n"})
    with pytest.raises(helm.HelmRenderError, match=r"broken\.yml"):
        kit.render(chart_dir=chart)


def slug(file_name: str) -> str:
    """The ConfigMap key a dashboard file gets (keys allow only [-._a-zA-Z0-9])."""
    return re.sub(r"[^a-z0-9-]+", "-", file_name.removesuffix(".json").lower()).strip("-") + ".json"


def dashboard_maps(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """ConfigMap key -> ConfigMap, for the ConfigMaps the Grafana sidecar picks up."""
    found = {}
    for o in objects:
        if o["kind"] == "ConfigMap" and o["metadata"]["labels"].get("grafana_dashboard") == "1":
            ((file_name, _),) = o["data"].items()
            found[file_name] = o
    return found


REMEDIATION_BOARD = "torghut-ta-remediation.json"


def test_remediation_dashboard_ships_only_with_the_remediator(
    default_objects, remediator_objects
) -> None:
    """Without the remediator the Remediation dashboard would be all empty panels."""
    assert REMEDIATION_BOARD not in dashboard_maps(default_objects)
    assert "torghut-ta-overview.json" in dashboard_maps(default_objects)
    assert REMEDIATION_BOARD in dashboard_maps(remediator_objects)


def test_rendered_dashboards_equal_the_dashboard_files(remediator_objects, kit) -> None:
    files = sorted((kit.repo / "dashboards").glob("*.json"))
    maps = dashboard_maps(remediator_objects)
    link = kit.chart_dir / "files" / "dashboards"
    if files and not link.exists():
        pytest.fail(
            "dashboards/ exists: run `ln -s ../../../dashboards helm/torghut-ta-ops/files/dashboards`"
        )
    assert sorted(maps) == sorted(slug(f.name) for f in files)
    for f in files:
        key = slug(f.name)
        assert json.loads(maps[key]["data"][key]) == json.loads(f.read_text())
    if files:
        assert link.is_symlink() and link.resolve() == (kit.repo / "dashboards").resolve()


def test_dashboard_configmaps_from_files(kit, tmp_path: Path) -> None:
    chart = tmp_path / "torghut-ta-ops"
    shutil.copytree(kit.chart_dir, chart, symlinks=False)
    boards = chart / "files" / "dashboards"
    shutil.rmtree(boards, ignore_errors=True)
    boards.mkdir(parents=True)
    sources = {
        "ta_pipeline.json": {"title": "TA pipeline", "panels": [{"id": 1, "type": "stat"}]},
        "Remediation Activity.json": {"title": "Remediation", "panels": []},
    }
    for name, board in sources.items():
        (boards / name).write_text(json.dumps(board, indent=2))
    objects = kit.render(chart_dir=chart)
    maps = dashboard_maps(objects)
    assert sorted(maps) == ["remediation-activity.json", "ta-pipeline.json"]
    for name, board in sources.items():
        cm = maps[slug(name)]
        assert json.loads(cm["data"][slug(name)]) == board
        assert cm["metadata"]["annotations"] == {"grafana_folder": "Torghut"}
    names = {cm["metadata"]["name"] for cm in maps.values()}
    assert names == {
        "torghut-ta-ops-dashboard-ta-pipeline",
        "torghut-ta-ops-dashboard-remediation-activity",
    }
    assert dashboard_maps(kit.render({"dashboards": {"enabled": False}}, chart_dir=chart)) == {}


def config_files(objects: list[dict[str, Any]], kit) -> dict[str, dict[str, Any]]:
    (cm,) = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-config")
    ]
    return {key: yaml.safe_load(text) for key, text in cm["data"].items()}


def test_exporter_config_is_accepted_by_the_exporter_model(rendered_sets, kit) -> None:
    for value_set, objects in rendered_sets.items():
        exporter = config_files(objects, kit)["exporter.yaml"]
        cfg = Config.model_validate(exporter)  # raises naming the key if the chart drifts
        port = kit.value_sets[value_set].get("exporter", {}).get("port", 9108)
        assert cfg.server.port == port, value_set


def test_exporter_port_follows_the_value(kit) -> None:
    objects = kit.render({"exporter": {"port": 9200}})
    assert Config.model_validate(config_files(objects, kit)["exporter.yaml"]).server.port == 9200
    service = kit.find(objects, "Service", f"{kit.release}-exporter")[0]
    assert service["spec"]["ports"][0]["port"] == 9200


def test_remediator_config_is_the_pipeline_plus_its_own_section(rendered_sets, kit) -> None:
    checked = []
    for value_set, objects in rendered_sets.items():
        values = kit.value_sets[value_set].get("remediator", {})
        if not values.get("enabled"):
            continue
        files = config_files(objects, kit)
        remediator = files["remediator.yaml"]
        # the remediator's own model accepts it (extra keys forbidden: no guessed key survives)
        cfg = RemediatorConfig.model_validate(remediator)
        own = remediator.pop("remediator")
        exporter = files["exporter.yaml"]
        exporter.pop("server")
        assert remediator == exporter, value_set  # the same pipeline, the same secret files
        assert cfg.remediator.mode == values.get("mode", "observe")
        assert cfg.remediator.listen.port == values.get("port", 8080), value_set
        assert set(own) <= set(type(cfg.remediator).model_fields)
        assert [t.name for t in cfg.remediator.api_tokens] == [
            t["name"] for t in values.get("apiTokens", [])
        ]
        checked.append(value_set)
    assert {
        "remediator-enabled",
        "custom-names",
        "production-remediator",
        "production-auto",
    } <= set(checked)


def test_remediator_settings_pass_through_to_its_model(rendered_sets, kit) -> None:
    files = config_files(rendered_sets["production-remediator"], kit)
    section = RemediatorConfig.model_validate(files["remediator.yaml"]).remediator
    assert section.policy.cooldown == 45 * 60  # set in the values
    assert section.policy.drop.keep_days == 10
    assert section.policy.drop.max_partitions == 3  # unset: the model's default stays
    assert section.policy.max_runs_per_hour == 6
    assert (section.paused, section.identity_header) == (False, None)
    assert section.pause_annotation == "torghut.io/remediation-paused"
    assert section.webhook_token is not None and section.webhook_token.file is not None
    assert section.webhook_token.file.name == "bearer"
    paused = kit.render({"remediator": {"enabled": True, "paused": True}})
    assert RemediatorConfig.model_validate(
        config_files(paused, kit)["remediator.yaml"]
    ).remediator.paused


def test_exporter_cli_accepts_the_chart_config_and_args(
    default_objects, kit, tmp_path: Path
) -> None:
    exporter = config_files(default_objects, kit)["exporter.yaml"]
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    exporter["clickhouse"]["password"]["file"] = str(secret)  # where the Secret would be mounted
    config = tmp_path / "exporter.yaml"
    config.write_text(yaml.safe_dump(exporter))
    cli = str(Path(sys.executable).with_name("ta-exporter"))
    checked = subprocess.run(
        [cli, "check-config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    # The container args parse; with an unreadable config the CLI stops at loading it (exit 4),
    # not at argument parsing (exit 2).
    deployment = kit.find(default_objects, "Deployment", f"{kit.release}-exporter")[0]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "exporter"
    args = [str(tmp_path / "missing.yaml") if a.endswith("exporter.yaml") else a for a in args[1:]]
    served = subprocess.run([cli, *args], capture_output=True, text=True, timeout=60)
    assert served.returncode == 4, served.stderr


def test_remediator_cli_accepts_the_chart_args(remediator_objects, kit, tmp_path: Path) -> None:
    # What the entrypoint execs (`ta-remediator serve --config ... --log-level ...`) parses:
    # with an unreadable config it stops at loading it (4), not at argument parsing (64).
    deployment = kit.find(remediator_objects, "Deployment", f"{kit.release}-remediator")[0]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:3] == ["remediator", "serve", "--config"]
    assert args[3] == "/etc/torghut-ta-ops/remediator.yaml"
    config_map = kit.find(remediator_objects, "ConfigMap", f"{kit.release}-config")[0]
    assert "remediator.yaml" in config_map["data"]
    cli = str(Path(sys.executable).with_name("ta-remediator"))
    args = [str(tmp_path / "missing.yaml") if a.endswith("remediator.yaml") else a for a in args]
    served = subprocess.run([cli, *args[1:]], capture_output=True, text=True, timeout=60)
    assert served.returncode == 4, served.stderr
    assert "missing.yaml" in served.stderr


def test_notes_carry_the_alertmanager_snippet(kit) -> None:
    notes = kit.render_text(
        {
            "remediator": {"enabled": True, "port": 8099},
            "secrets": {"webhookToken": {"name": "am-hook", "key": "bearer"}},
        }
    )
    text = next(v for k, v in notes.items() if k.endswith("NOTES.txt"))
    url = f"http://{kit.release}-remediator.{kit.namespace}.svc:8099/webhook/alertmanager"
    assert url in text
    assert "/etc/alertmanager/secrets/am-hook/bearer" in text
    snippet = (kit.repo / "alerts" / "alertmanager" / "remediator-route.yml").read_text()
    # Same routes as the tested snippet; only the receiver's address and secret differ.
    body = text.split("filled in):\n", 1)[1].split("\nSecrets are referenced", 1)[0]
    rendered = yaml.safe_load("\n".join(line.removeprefix("  ") for line in body.splitlines()))
    source = yaml.safe_load(snippet)
    assert rendered["route"] == source["route"]
    assert rendered["receivers"][0]["name"] == source["receivers"][0]["name"]
    # Alertmanager reads the token from the Secret the chart mounts as remediator.webhook_token.
    (hook,) = rendered["receivers"][0]["webhook_configs"]
    assert hook["url"] == url
    assert hook["http_config"]["authorization"]["credentials_file"] == (
        "/etc/alertmanager/secrets/am-hook/bearer"
    )
    assert "Secret/am-hook" in text


def test_the_readme_receiver_is_the_route_files(kit) -> None:
    # The chart README shows the receiver for people merging it by hand: what NOTES prints for
    # the README's install (namespace torghut-ta-ops, default values), i.e. the route file's
    # receiver with this release's URL.
    readme = (kit.chart_dir / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    (block,) = [b for b in blocks if "receivers:" in b]
    shown = yaml.safe_load(textwrap.dedent(block))["receivers"]
    rendered = kit.render_text({"remediator": {"enabled": True}})
    notes = next(v for k, v in rendered.items() if k.endswith("NOTES.txt"))
    body = notes.split("filled in):\n", 1)[1].split("\nSecrets are referenced", 1)[0]
    printed = yaml.safe_load("\n".join(line.removeprefix("  ") for line in body.splitlines()))
    assert shown == printed["receivers"]
    source = yaml.safe_load(
        (kit.repo / "alerts" / "alertmanager" / "remediator-route.yml").read_text()
    )
    (hook,) = shown[0]["webhook_configs"]
    (source_hook,) = source["receivers"][0]["webhook_configs"]
    assert {k: v for k, v in hook.items() if k != "url"} == {
        k: v for k, v in source_hook.items() if k != "url"
    }


def test_the_route_sends_every_alert_the_remediator_acts_on(kit) -> None:
    # The remediator acts on procedures A and B and on TATradingOnStaleSignals
    # (docs/remediator.md); the route the chart prints must deliver each of them.
    source = yaml.safe_load(
        (kit.repo / "alerts" / "alertmanager" / "remediator-route.yml").read_text()
    )
    matchers = [route["matchers"] for route in source["route"]["routes"]]
    procedures = [m for ms in matchers for m in ms if m.startswith("procedure=~")]
    (pattern,) = procedures
    regex = re.compile(pattern.split("=~", 1)[1].strip('"'))
    assert regex.fullmatch("A") and regex.fullmatch("B")
    assert any('alertname="TATradingOnStaleSignals"' in ms for ms in matchers)


def test_notes_without_the_remediator_say_why_and_print_no_receiver(kit) -> None:
    text = next(v for k, v in kit.render_text().items() if k.endswith("NOTES.txt"))
    assert "/webhook/alertmanager" not in text and "receivers:" not in text
    assert "remediator.enabled=false, the default" in text and "observe mode" in text
    assert "secrets.webhookToken" in text  # what enabling it needs
    assert "remediator-route.yml applies once it is enabled" in text
    # Only the Secret the exporter mounts is asked for; the tokens are the remediator's.
    assert "Secret/torghut-ta-ops-clickhouse" in text
    assert "torghut-ta-ops-git" not in text and "torghut-ta-ops-webhook" not in text
    enabled = kit.render_text({"remediator": {"enabled": True}})
    enabled_text = next(v for k, v in enabled.items() if k.endswith("NOTES.txt"))
    # no crash-loop warning any more: it runs, in observe mode, and says so
    assert "exits at" not in enabled_text and "crash" not in enabled_text
    assert 'mode "observe"' in enabled_text and "changes nothing" in enabled_text
    assert "Secret/torghut-ta-ops-webhook" in enabled_text


def test_packaged_chart_carries_the_linked_files(default_objects, kit, tmp_path: Path) -> None:
    # `helm package` resolves the symlinks: the released archive renders like the directory.
    archive = Path(helm.package(str(kit.chart_dir), destination=str(tmp_path)))
    with helm.Chart.load_archive(archive.read_bytes()) as chart:
        names = {f["name"] for f in chart.files}
        packaged = chart.render({}, name=kit.release, namespace=kit.namespace, is_install=True)
    assert {f"files/rules/{p.name}" for p in (kit.repo / "alerts" / "rules").glob("*.yml")} <= names
    # The linked directories also hold code (dashboards/*.py); .helmignore keeps it out.
    assert not [n for n in names if n.endswith((".py", ".pyc"))]
    objects = [
        o
        for path, text in packaged.items()
        if not path.endswith("NOTES.txt")
        for o in yaml.safe_load_all(text)
        if o
    ]
    assert rendered_groups(objects) == rendered_groups(default_objects)
