"""`stack.up(remediator_overrides=...)`: a test's settings merged into the remediator's config
last, key by key, and the result still a config the remediator accepts."""

from __future__ import annotations

from pathlib import Path

from remediator.config import parse_remediator_config
from sandbox.remediator_svc import Credentials, merge_into, remediator_config
from sandbox.stack import exporter_config


def test_overrides_merge_key_by_key_and_replace_leaves() -> None:
    base = {"a": {"b": 1, "c": {"d": 2}}, "e": [1]}
    merge_into(base, {"a": {"c": {"d": 3, "f": 4}}, "e": [2], "g": {"h": 5}})
    assert base == {"a": {"b": 1, "c": {"d": 3, "f": 4}}, "e": [2], "g": {"h": 5}}


def test_policy_overrides_reach_the_parsed_config(tmp_path: Path) -> None:
    for name in ("k", "w", "o", "ch", "p", "s3-access-key-id", "s3-secret-access-key"):
        (tmp_path / name).write_text("secret")
    exporter = exporter_config(
        clickhouse_url="http://127.0.0.1:1", kafka_sasl_bootstrap="127.0.0.1:2",
        kafka_password_file=tmp_path / "p", kubeconfig=str(tmp_path / "k"),
        s3_url="http://127.0.0.1:3", jangar_url="http://127.0.0.1:4",
        password_file=tmp_path / "ch", topics=["t"], port=5,
    )  # fmt: skip
    creds = Credentials(
        tmp_path / "k", tmp_path / "k", tmp_path / "w", tmp_path / "o", tmp_path / "o"
    )
    cfg = remediator_config(
        exporter, mode="observe", port=6, journal=tmp_path / "j.sqlite3", creds=creds,
        clickhouse_user="torghut_remediator", clickhouse_password_file=tmp_path / "ch",
        alertmanager_url="http://127.0.0.1:7",
    )  # fmt: skip
    merge_into(cfg, {"remediator": {"policy": {"drop": {"keep_days": 2}}},
                     "report": {"freshness": "30s"}})  # fmt: skip
    parsed = parse_remediator_config(cfg)
    assert parsed.remediator.policy.drop.keep_days == 2
    assert parsed.remediator.policy.drop.max_partitions == 3  # the rest of `drop` kept
    assert parsed.report.freshness == 30.0
    assert parsed.remediator.alertmanager is not None
    assert str(parsed.remediator.alertmanager.run_url_base).rstrip("/") == "http://127.0.0.1:6"
