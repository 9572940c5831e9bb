"""Webhook payloads: schema errors say why; alerts become triggers only within the allowlist."""

from __future__ import annotations

import json

import pytest
from remediator_kit import alert, body, notification

from remediator.intake import Ignored, PayloadError, Trigger, parse_notification, triage


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "body is not JSON"),
        (b"\xff\xfe", "body is not JSON"),
        (b"[]", "must be a JSON object"),
        (
            json.dumps({**notification(alert("X")), "version": "3"}).encode(),
            "version: Input should be '4'",
        ),
        (
            json.dumps(
                {k: v for k, v in notification(alert("X")).items() if k != "alerts"}
            ).encode(),
            "alerts: Field required",
        ),
        (
            json.dumps({**notification(alert("X")), "alerts": []}).encode(),
            "alerts: List should have at least 1 item",
        ),
        (
            json.dumps(notification({**alert("X"), "fingerprint": ""})).encode(),
            "alerts.0.fingerprint",
        ),
        (json.dumps(notification({**alert("X"), "status": "maybe"})).encode(), "alerts.0.status"),
        (
            json.dumps(notification({**alert("X"), "labels": {"a": 1}})).encode(),
            "alerts.0.labels.a",
        ),
    ],
)
def test_malformed_payloads_are_refused_with_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        parse_notification(raw)


def test_unknown_fields_are_accepted() -> None:
    n = parse_notification(body(alert("TAClickHouseDiskPressure", procedure="A")))
    assert n.version == "4" and len(n.alerts) == 1


def test_procedures_a_b_and_the_trading_gate_trigger_everything_else_is_ignored(rcfg) -> None:
    n = parse_notification(
        body(
            alert("TAClickHouseDiskPressure", procedure="A", replica="r1", disk="default"),
            alert("TAClickHouseReplicaReadOnly", procedure="B", replica="r2", table="ta_signals"),
            alert("TATradingOnStaleSignals", procedure="none"),
            alert("TAReplayWanted", procedure="C"),
            alert("TAKafkaConsumerLagHigh", procedure="none"),
        )
    )
    items = triage(n, rcfg)
    assert [i.procedure for i in items if isinstance(i, Trigger)] == ["A", "B", "trading_gate"]
    ignored = {i.alertname: i.reason for i in items if isinstance(i, Ignored)}
    assert ignored == {
        "TAReplayWanted": "procedure C is started by a person, never by an alert",
        "TAKafkaConsumerLagHigh": "no procedure the remediator carries out",
    }


def test_one_incident_one_key_whatever_replica_disk_or_table(rcfg) -> None:
    n = parse_notification(
        body(
            alert("TAClickHouseDiskPressure", procedure="A", replica="r1", disk="default"),
            alert("TAClickHouseDiskPressure", procedure="A", replica="r2", disk="default"),
            alert("TAFlinkJobFailed", procedure="A", deployment="torghut-ta"),
        )
    )
    keys = {i.key for i in triage(n, rcfg) if isinstance(i, Trigger)}
    assert keys == {"A/torghut/torghut-ta"}


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        (
            {"table": "ta_signals; DROP TABLE x"},
            "label table='ta_signals; DROP TABLE x' is not on the allowlist",
        ),
        ({"namespace": "kube-system"}, "label namespace='kube-system' is not on the allowlist"),
        ({"deployment": "other-job"}, "label deployment='other-job' is not on the allowlist"),
        ({"replica": "r9\nx"}, "label replica='r9?x' is not on the allowlist"),
    ],
)
def test_labels_off_the_allowlist_never_become_triggers(rcfg, labels, reason) -> None:
    n = parse_notification(body(alert("TAClickHouseReplicaReadOnly", procedure="B", **labels)))
    [item] = triage(n, rcfg)
    assert isinstance(item, Ignored)
    assert item.reason == reason


def test_a_procedure_off_in_policy_is_ignored(make_config) -> None:
    cfg = make_config(policy={"procedures": ["trading_gate"]})
    n = parse_notification(body(alert("TAClickHouseDiskPressure", procedure="A")))
    [item] = triage(n, cfg)
    assert isinstance(item, Ignored) and item.reason == "procedure A is not enabled by policy"
