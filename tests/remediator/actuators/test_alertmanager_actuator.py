"""The remediator's own alerts against a real Alertmanager: held with our labels, routed to a
person's receiver, not duplicated by a re-post, resolved by endsAt; and the error mapping."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from remediator_kit import remediator_data

from remediator.actuators import ActuationError
from remediator.actuators import alertmanager as am
from remediator.config import RemediatorConfig, parse_remediator_config
from sandbox.prometheus import WebhookReceiver, firing, webhook_config
from sandbox.util import Service, free_port

RUN_URL = "http://remediator.torghut-ta-ops.svc:8080/runs/r-20261201-1"


def config(tmp_path: Path, urls: list[str], **auth: Any) -> RemediatorConfig:
    return parse_remediator_config(
        remediator_data(tmp_path, alertmanager={"urls": urls, "timeout": 10, **auth})
    )


async def held(url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/api/v2/alerts") as resp:
        assert resp.status == 200
        body: list[dict[str, Any]] = await resp.json()
        return [a for a in body if a["labels"]["alertname"].startswith("TARemediation")]


@pytest.fixture
async def alertmanager(
    alertmanager_factory: Callable[..., Service], webhook_receiver: WebhookReceiver
) -> str:
    """A real Alertmanager routing everything to the recording webhook (a person's receiver)."""
    config = webhook_config(webhook_receiver.url, group_by=["alertname", "run_id"])
    service = await asyncio.to_thread(alertmanager_factory, config=config)
    return str(service.endpoints["alertmanager"])


def failed() -> am.PostableAlert:
    return am.remediation_failed(
        "r-20261201-1", "A", "torghut/torghut-ta",
        "verification failed: ta_signals did not advance within 10m", RUN_URL,
    )  # fmt: skip


async def test_posted_alert_is_held_routed_and_not_duplicated(
    alertmanager: str, webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    cfg = config(tmp_path, [alertmanager])
    await am.post(cfg=cfg, alerts=[failed()])
    (alert,) = await held(alertmanager)
    assert alert["labels"] == {
        "alertname": "TARemediationFailed", "severity": "critical", "component": "remediator",
        "remediation": "manual", "namespace": "torghut", "deployment": "torghut-ta",
        "procedure": "A", "run_id": "r-20261201-1",
    }  # fmt: skip
    assert alert["generatorURL"] == RUN_URL
    assert alert["annotations"]["runbook_url"].endswith("/docs/runbooks/TARemediationFailed.md")
    assert "did not advance within 10m" in alert["annotations"]["description"]
    delivery = await webhook_receiver.wait_for(firing("TARemediationFailed"), timeout=60)
    assert delivery.payload["alerts"][0]["labels"]["run_id"] == "r-20261201-1"

    # Alertmanager re-sends nothing new for a re-post: same labels, same alert
    await am.post(cfg=cfg, alerts=[failed()])
    again = await held(alertmanager)
    assert len(again) == 1 and again[0]["fingerprint"] == alert["fingerprint"]

    # ending it resolves the same alert (a resolved notification reaches the receiver)
    await am.post(cfg=cfg, alerts=[failed().resolved()])

    def resolved(d: Any) -> bool:
        return any(
            a["status"] == "resolved" and a["labels"]["alertname"] == "TARemediationFailed"
            for a in d.payload["alerts"]
        )

    await webhook_receiver.wait_for(resolved, timeout=60)


async def test_the_installs_runbook_and_dashboard_urls_replace_the_defaults(
    alertmanager: str, tmp_path: Path
) -> None:
    cfg = config(
        tmp_path, [alertmanager], runbook_base="https://git.example/ops/runbooks",
        dashboard_url="https://grafana.example.org/d/remediation",
    )  # fmt: skip
    await am.post(cfg=cfg, alerts=[failed()])
    (alert,) = await held(alertmanager)
    assert alert["annotations"]["runbook_url"] == (
        "https://git.example/ops/runbooks/TARemediationFailed.md"
    )
    assert alert["annotations"]["dashboard_url"] == "https://grafana.example.org/d/remediation"


async def test_awaiting_approval_and_the_success_notice(
    alertmanager: str, webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    cfg = config(tmp_path, [alertmanager])
    now = datetime.now(UTC).replace(microsecond=0)
    waiting = am.awaiting_approval("r-2", "B", "torghut/torghut-ta", "restore_replica", RUN_URL)
    notice = am.resolved_by_remediation(
        "r-3", "A", "torghut/torghut-ta", "dropped 2 partitions; the job is STABLE", RUN_URL,
        now=now,
    )  # fmt: skip
    await am.post(cfg=cfg, alerts=[waiting, notice])
    alerts = {a["labels"]["alertname"]: a for a in await held(alertmanager)}
    assert alerts["TARemediationAwaitingApproval"]["labels"]["severity"] == "warning"
    assert (
        "ta-remediator approve|deny r-2"
        in (alerts["TARemediationAwaitingApproval"]["annotations"]["description"])
    )
    succeeded = alerts["TARemediationSucceeded"]
    assert succeeded["labels"]["severity"] == "info"
    ends = datetime.fromisoformat(succeeded["endsAt"].replace("Z", "+00:00"))
    assert ends == now + timedelta(minutes=10)  # fires once, resolves itself
    # a notice posted already ended would never be notified: this one is, once, as firing
    await webhook_receiver.wait_for(firing("TARemediationSucceeded"), timeout=60)


async def test_one_alertmanager_down_is_enough_all_down_is_retryable(
    alertmanager: str, tmp_path: Path
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    await am.post(cfg=config(tmp_path, [down, alertmanager]), alerts=[failed()])
    assert len(await held(alertmanager)) == 1
    with pytest.raises(ActuationError) as err:
        await am.post(cfg=config(tmp_path, [down]), alerts=[failed()])
    assert err.value.retryable and not err.value.escalate and err.value.code == "network"
    assert down in str(err.value)


async def test_an_alert_alertmanager_refuses_escalates(alertmanager: str, tmp_path: Path) -> None:
    with pytest.raises(ActuationError) as err:
        await am.post(cfg=config(tmp_path, [alertmanager]), alerts=[am.PostableAlert(labels={})])
    assert err.value.code == "400" and err.value.escalate and not err.value.retryable


async def test_not_configured_escalates(tmp_path: Path) -> None:
    cfg = parse_remediator_config(remediator_data(tmp_path))
    with pytest.raises(ActuationError) as err:
        await am.post(cfg=cfg, alerts=[failed()])
    assert err.value.escalate and "remediator.alertmanager is not configured" in str(err.value)


async def test_credentials_are_sent(tmp_path: Path) -> None:
    """Alertmanager itself takes no credentials here (the sandbox's has no web config): a
    recording server behind the same path checks what a proxy in front of it would see."""
    (tmp_path / "am-token").write_text("am-bearer-9d1\n")
    (tmp_path / "am-password").write_text("am-pass-41f\n")
    async with WebhookReceiver(bearer="am-bearer-9d1", path="/api/v2/alerts") as proxy:
        base = proxy.url.removesuffix("/api/v2/alerts")
        bearer = config(tmp_path, [base], bearer_token={"file": str(tmp_path / "am-token")})
        await am.post(cfg=bearer, alerts=[failed()])
        assert proxy.deliveries[-1].payload == [failed().to_json()]
        basic = config(
            tmp_path, [base],
            basic_auth={"username": "remediator", "password": {"file": str(tmp_path / "am-password")}},
        )  # fmt: skip
        with pytest.raises(ActuationError) as err:  # the proxy wants the bearer: 401
            await am.post(cfg=basic, alerts=[failed()])
        assert err.value.code == "401" and err.value.escalate
        assert "am-pass-41f" not in str(err.value)
        sent = proxy.rejected[-1].authorization
        assert sent == "Basic " + base64.b64encode(b"remediator:am-pass-41f").decode()


def test_config_refuses_two_kinds_of_credentials(tmp_path: Path) -> None:
    from exporter.config import ConfigError

    (tmp_path / "t").write_text("x")
    with pytest.raises(ConfigError) as err:
        config(
            tmp_path, ["http://am:9093"], bearer_token={"file": str(tmp_path / "t")},
            basic_auth={"username": "u", "password": {"file": str(tmp_path / "t")}},
        )  # fmt: skip
    assert "remediator.alertmanager" in str(err.value) and "not both" in str(err.value)


async def test_a_run_path_that_is_no_uri_is_not_sent_as_the_generator_url(
    alertmanager: str, tmp_path: Path
) -> None:
    """Alertmanager refuses (422) an alert whose generatorURL is not an absolute URI: the run's
    path alone (no `run_url_base` configured) stays in the description only."""
    cfg = config(tmp_path, [alertmanager])
    alert = am.remediation_failed("r-4", "A", "torghut/torghut-ta", "drop failed", "runs/r-4")
    await am.post(cfg=cfg, alerts=[alert])
    (held_alert,) = await held(alertmanager)
    assert held_alert.get("generatorURL", "") == ""
    assert "runs/r-4" in held_alert["annotations"]["description"]
