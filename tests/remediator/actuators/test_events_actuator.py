"""Events on the FlinkDeployment, written as the chart's remediator ServiceAccount into the API
stand-in (which validates them like the API server): evidence that never raises and never
carries a secret."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from remediator_kit import WEBHOOK_TOKEN, remediator_data

from remediator.actuators import events
from remediator.config import RemediatorConfig, parse_remediator_config
from sandbox.kube import write_kubeconfig
from sandbox.testing.kube import KubeSandbox
from sandbox.util import free_port

NS, FD = "torghut", "torghut-ta"
FD_PATH = f"/apis/flink.apache.org/v1beta1/namespaces/{NS}/flinkdeployments/{FD}"


def config(kubeconfig: Path, tmp_path: Path) -> RemediatorConfig:
    data = remediator_data(tmp_path)
    data["kubernetes"] = {"kubeconfig": str(kubeconfig), "request_timeout": 10}
    return parse_remediator_config(data)


@pytest.fixture
def cfg(kube_api: KubeSandbox, tmp_path: Path) -> RemediatorConfig:
    return config(kube_api.kubeconfig_for("remediator", tmp_path), tmp_path)


def ours(kube_api: KubeSandbox) -> list[dict[str, Any]]:
    code, body = kube_api.raw("GET", f"/api/v1/namespaces/{NS}/events")
    assert code == 200, body
    return [e for e in body["items"] if e.get("reportingComponent") == events.CONTROLLER]


async def test_record_an_event_on_the_flinkdeployment(
    cfg: RemediatorConfig, kube_api: KubeSandbox
) -> None:
    await events.record(
        cfg=cfg, namespace=NS, name=FD, reason="JobSuspended",
        message="run r-1 step suspend_job: spec.job.state suspended (git change abc123)",
    )  # fmt: skip
    (event,) = ours(kube_api)
    uid = kube_api.raw("GET", FD_PATH)[1]["metadata"]["uid"]
    involved = event["involvedObject"]
    assert (involved["kind"], involved["name"], involved["namespace"], involved["uid"]) == (
        "FlinkDeployment", FD, NS, uid,
    )  # fmt: skip
    assert event["reason"] == "JobSuspended" and event["type"] == "Normal"
    assert event["message"].startswith("run r-1 step suspend_job")
    assert event["source"] == {"component": "torghut-ta-remediator"}
    # the same Event through events.k8s.io/v1, as `kubectl events` shows it
    code, same = kube_api.raw(
        "GET", f"/apis/events.k8s.io/v1/namespaces/{NS}/events/{event['metadata']['name']}"
    )
    assert code == 200 and same["reportingController"] == "torghut-ta-remediator"
    assert same["regarding"]["uid"] == uid


async def test_long_messages_are_cut_secrets_masked_reasons_camel_cased(
    cfg: RemediatorConfig, kube_api: KubeSandbox
) -> None:
    message = f"drop failed (token={WEBHOOK_TOKEN}) " + "é" * 1500
    await events.record(
        cfg=cfg, namespace=NS, name=FD, reason="drop partition failed", message=message,
        type="Error",
    )  # fmt: skip
    (event,) = ours(kube_api)
    assert event["reason"] == "DropPartitionFailed"
    assert event["type"] == "Warning"  # anything but Normal/Warning is recorded as a Warning
    assert WEBHOOK_TOKEN not in event["message"] and "token=***" in event["message"]
    assert len(event["message"].encode()) <= 1024 and event["message"].endswith("...")


def test_a_secret_without_a_credential_shape_is_masked(rcfg: RemediatorConfig) -> None:
    assert events.scrub(rcfg, f"git said {WEBHOOK_TOKEN}!") == "git said ***!"
    assert events.scrub(rcfg, "Authorization: Bearer abc.def") == "Authorization: Bearer ***"


async def test_failures_are_logged_never_raised(
    cfg: RemediatorConfig, kube_api: KubeSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="remediator.actuators.events")
    # outside the Role (another FlinkDeployment): 403
    await events.record(cfg=cfg, namespace=NS, name="torghut-ta-blue", reason="X", message="m")
    # the API unreachable
    gone = config(
        write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{free_port()}", "t"), tmp_path
    )
    await events.record(cfg=gone, namespace=NS, name=FD, reason="X", message="m")
    texts = [r.getMessage() for r in caplog.records]
    assert len(texts) == 2 and all(t.startswith("Event X on torghut/") for t in texts)
    assert "HTTP 403" in texts[0] and "cannot connect" in texts[1]
    assert ours(kube_api) == []
