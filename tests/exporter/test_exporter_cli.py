"""`ta-exporter check-config`: ok, or every problem named by its key path (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporter.cli import main


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
    ],
)
def test_errors_name_the_key(tmp_path, config_data, capsys, overrides, expected) -> None:
    assert main(["check-config", _write(tmp_path, config_data(**overrides))]) == 2
    captured = capsys.readouterr()
    assert expected in captured.err
    assert captured.out == ""


def test_unreadable_file(tmp_path, capsys) -> None:
    assert main(["check-config", str(tmp_path / "missing.yaml")]) == 2
    assert "No such file" in capsys.readouterr().err
