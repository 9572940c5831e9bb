"""The remediator's config: the exporter's layout plus `remediator:`, errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from remediator_kit import remediator_data

from exporter.config import ConfigError, load_config
from remediator import config
from remediator.config import load_remediator_config, parse_remediator_config


def test_defaults_are_observe_mode_and_allowlists_from_the_exporter(tmp_path: Path) -> None:
    cfg = parse_remediator_config(remediator_data(tmp_path))
    assert cfg.remediator.mode == "observe"
    assert cfg.allowed("namespace") == {"torghut"}
    assert cfg.allowed("deployment") == {"torghut-ta"}
    assert cfg.allowed("table") == {"ta_signals", "ta_microbars"}
    assert cfg.allowed("replica") == {"r1", "r2"}


def test_tokens_in_lists_are_resolved_by_their_path(tmp_path: Path) -> None:
    cfg = parse_remediator_config(remediator_data(tmp_path))
    assert cfg.secret("remediator.webhook_token").get() == "wh-token-3f9a"  # type: ignore[union-attr]
    assert cfg.secret("remediator.api_tokens[1].token").get() == "viewer-token-0b2e"  # type: ignore[union-attr]
    assert "viewer-token" not in repr(cfg.secret("remediator.api_tokens[1].token"))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"mode": "auto"}, r"remediator.gitops: required in mode 'auto' \(the GitOps"),
        ({"mode": "propose"}, r"remediator.argocd: required in mode 'propose'"),
        ({"mode": "yolo"}, "remediator.mode: Input should be 'observe', 'propose' or 'auto'"),
        ({"policy": {"cooldown": "soon"}}, "remediator.policy.cooldown: expected a duration"),
        ({"policy": {"drop": {"keep_days": 0}}}, "remediator.policy.drop.keep_days: "),
        ({"listen": {"port": 0}}, "remediator.listen.port: "),
        ({"alertmanager_url": "http://am:9093"}, "remediator.alertmanager_url: unknown key"),
        (
            {"api_tokens": [{"name": "bad name", "token": {"env": "X"}}]},
            r"remediator.api_tokens\[0\]\.name: ",
        ),
        ({"surprise": 1}, "remediator.surprise: unknown key"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, section: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_remediator_config(remediator_data(tmp_path, **section))


def test_propose_and_auto_parse_once_what_acting_needs_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the hook the actuators' config sections extend: with nothing required, the modes parse
    monkeypatch.setattr(config, "ACTING_NEEDS", {})
    for mode in ("propose", "auto"):
        cfg = parse_remediator_config(remediator_data(tmp_path, mode=mode))
        assert cfg.remediator.mode == mode
    monkeypatch.setattr(config, "ACTING_NEEDS", {"listen": "the port", "surely_absent": "x"})
    with pytest.raises(ConfigError) as err:
        parse_remediator_config(remediator_data(tmp_path, mode="auto"))
    assert str(err.value) == (
        "remediator.surely_absent: required in mode 'auto' (x); use mode 'observe' without it"
    )
    # observe needs none of it
    assert parse_remediator_config(remediator_data(tmp_path)).remediator.mode == "observe"


def test_acting_policy_defaults(tmp_path: Path) -> None:
    pol = parse_remediator_config(remediator_data(tmp_path)).remediator.policy
    assert (pol.approval_ttl, pol.verify_timeout, pol.emergency_patch) == (1800.0, 600.0, False)


def test_a_missing_token_file_names_the_secret(tmp_path: Path) -> None:
    data = remediator_data(tmp_path, webhook_token={"file": str(tmp_path / "absent")})
    with pytest.raises(ConfigError, match=r"remediator.webhook_token: cannot read secret file"):
        parse_remediator_config(data)


def test_one_file_layout_and_the_exporter_rejects_the_section(tmp_path: Path) -> None:
    path = tmp_path / "remediator.yaml"
    path.write_text(yaml.safe_dump(remediator_data(tmp_path)))
    assert load_remediator_config(path).remediator.mode == "observe"
    with pytest.raises(ConfigError, match="remediator: unknown key"):
        load_config(path)
