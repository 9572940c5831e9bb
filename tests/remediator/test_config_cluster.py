"""The cluster actuators' config: the ClickHouse remediation identity and Alertmanager."""

from __future__ import annotations

from pathlib import Path

import pytest
from remediator_kit import remediator_data

from exporter.config import ConfigError
from remediator.config import parse_remediator_config


def test_defaults_and_secrets_resolve(tmp_path: Path) -> None:
    (tmp_path / "ch").write_text("ch-pass\n")
    (tmp_path / "am").write_text("am-pass\n")
    cfg = parse_remediator_config(
        remediator_data(
            tmp_path,
            clickhouse_remediation={"password": {"file": str(tmp_path / "ch")}},
            alertmanager={
                "urls": ["http://am-0:9093/", "http://am-1:9093"],
                "basic_auth": {"username": "rem", "password": {"file": str(tmp_path / "am")}},
            },
        )
    )
    ident = cfg.remediator.clickhouse_remediation
    assert ident is not None and ident.user == "torghut_remediator"
    assert ident.query_timeout == 120.0
    secret = cfg.secret("remediator.clickhouse_remediation.password")
    assert secret is not None and secret.get() == "ch-pass"
    am = cfg.remediator.alertmanager
    assert am is not None and am.urls == ["http://am-0:9093", "http://am-1:9093"]
    password = cfg.secret("remediator.alertmanager.basic_auth.password")
    assert password is not None and password.get() == "am-pass"


def test_both_are_optional(tmp_path: Path) -> None:
    cfg = parse_remediator_config(remediator_data(tmp_path))
    assert cfg.remediator.clickhouse_remediation is None and cfg.remediator.alertmanager is None


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"clickhouse_remediation": {}},
            "remediator.clickhouse_remediation.password: Field required",
        ),
        (
            {"clickhouse_remediation": {"user": "x; DROP", "password": {"env": "HOME"}}},
            "remediator.clickhouse_remediation.user: not a plain user name",
        ),
        (
            {"alertmanager": {"urls": []}},
            "remediator.alertmanager.urls: List should have at least 1",
        ),
        (
            {"alertmanager": {"urls": ["http://user:pw@am:9093"]}},
            "remediator.alertmanager.urls[0]: URL must not carry credentials",
        ),
        (
            {"alertmanager": {"urls": ["http://am:9093"], "timeout": 0}},
            "remediator.alertmanager: timeout must be positive",
        ),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_remediator_config(remediator_data(tmp_path, **section))
    assert message in str(err.value)
