"""Trading switch parsing: where TRADING_ENABLED may live and which values are understood."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.probes.trading import EnvRef, TradingSwitchError, find_env, parse_switch


def _svc(*env: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "torghut"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "sidecar", "env": [{"name": "OTHER", "value": "1"}]},
                        {"name": "torghut", "env": list(env)},
                    ]
                }
            }
        },
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), (" TRUE ", True), ("1", True), ("false", False), ("0", False), ("off", False)],
)
def test_understood_values(raw: str, expected: bool) -> None:
    assert parse_switch(raw, where="TRADING_ENABLED") is expected


@pytest.mark.parametrize("raw", ["", "maybe", "tru"])
def test_other_values_fail_rather_than_guess(raw: str) -> None:
    with pytest.raises(TradingSwitchError, match="expected true or false"):
        parse_switch(raw, where="TRADING_ENABLED")


def test_literal_and_configmap_references() -> None:
    assert find_env(
        _svc({"name": "TRADING_ENABLED", "value": "true"}), "TRADING_ENABLED"
    ) == EnvRef("torghut", "true")
    ref = {
        "name": "TRADING_ENABLED",
        "valueFrom": {"configMapKeyRef": {"name": "flags", "key": "trading"}},
    }
    assert find_env(_svc(ref), "TRADING_ENABLED") == EnvRef("torghut", None, "flags", "trading")


def test_secret_source_and_absence_are_reported() -> None:
    ref = {"name": "TRADING_ENABLED", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    with pytest.raises(TradingSwitchError, match="comes from secretKeyRef"):
        find_env(_svc(ref), "TRADING_ENABLED")
    with pytest.raises(TradingSwitchError, match="not set on any container of Service torghut"):
        find_env(_svc(), "TRADING_ENABLED")


def test_rendered_series_fit_the_catalogue() -> None:
    from exporter.probes.trading import TradingSwitch, render
    from exporter.scheduler import check_samples

    data = TradingSwitch("torghut", "TRADING_ENABLED", True, "true", "torghut", "value")
    assert [s.value for s in check_samples(render(data))] == [1.0]
