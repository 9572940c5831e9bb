"""`ta-exporter check-config`: ok, or every problem named by its key path (exit 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporter.cli import main
from exporter.exitcodes import CONFIG_ERROR


def _write(tmp_path: Path, data: dict) -> str:
    path = tmp_path / "exporter.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_valid_config_prints_ok(tmp_path, config_data, capsys) -> None:
    assert main(["check-config", _write(tmp_path, config_data())]) == 0
    assert capsys.readouterr().out.strip() == "ok"


def test_example_config_is_valid(monkeypatch, capsys) -> None:
    example = Path(__file__).parents[2] / "examples" / "exporter.yaml"
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "s3cret")
    assert main(["check-config", str(example)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"server": {"port": "http"}}, "server.port: "),
        ({"colour": "blue"}, "colour: unknown key"),
        ({"jangar": {"url": "ftp://x"}}, "jangar.url: URL must start with http:// or https://"),
        (
            {
                "clickhouse": {
                    "replicas": [{"name": "r1", "url": "http://h:1"}],
                    "password": {"env": "NO_SUCH_VAR_X"},
                }
            },
            "clickhouse.password: environment variable NO_SUCH_VAR_X is not set",
        ),
        (
            {
                "clickhouse": {
                    "replicas": [{"name": "r1", "url": "http://h:1"}],
                    "tables": ["ta; DROP"],
                }
            },
            "clickhouse.tables: not a plain identifier: 'ta; DROP'",
        ),
        (
            {"probes": {"overrides": {"clickhouse_storag": {"interval": "60s"}}}},
            "probes.overrides: no probe named 'clickhouse_storag'; probes are clickhouse_freshness,",
        ),
        (
            {"kubernetes": {"context": "prod"}},
            "kubernetes.context: needs kubernetes.kubeconfig (or KUBECONFIG set)",
        ),
        (
            {"market": {"sessions": [{"days": ["mon"], "open": 630, "close": "16:00"}]}},
            "market.sessions[0].open: got the number 630: an unquoted 10:30 is read by YAML",
        ),
    ],
)
def test_errors_name_the_key(
    tmp_path, config_data, capsys, monkeypatch, overrides, expected
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert main(["check-config", _write(tmp_path, config_data(**overrides))]) == CONFIG_ERROR
    captured = capsys.readouterr()
    assert expected in captured.err
    assert captured.out == ""


def test_a_probe_override_by_its_real_name_is_accepted(tmp_path, config_data, capsys) -> None:
    data = config_data(probes={"overrides": {"clickhouse_storage": {"interval": "60s"}}})
    assert main(["check-config", _write(tmp_path, data)]) == 0, capsys.readouterr().err


def test_a_context_with_kubeconfig_from_the_environment_is_accepted(
    tmp_path, config_data, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    data = config_data(kubernetes={"context": "prod"})
    assert main(["check-config", _write(tmp_path, data)]) == 0, capsys.readouterr().err


def test_unreadable_file(tmp_path, capsys) -> None:
    assert main(["check-config", str(tmp_path / "missing.yaml")]) == CONFIG_ERROR
    assert "No such file" in capsys.readouterr().err
