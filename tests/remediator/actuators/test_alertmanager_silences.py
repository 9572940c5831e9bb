"""A replay's silences against a real Alertmanager (API v2): scoped to the replay's own consumer
group, so its lag alerts are silenced and the steady-state group's keep notifying; expired when
the replay ends (twice is fine); errors named."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from remediator_kit import remediator_data

from remediator.actuators import ActuationError
from remediator.actuators import alertmanager as am
from remediator.config import parse_remediator_config
from sandbox.prometheus import WebhookReceiver, webhook_config
from sandbox.util import Service, apoll_until, free_port

REPLAY = "torghut-ta-v1-replay-20261201T080000Z-abc123"


@pytest.fixture
async def alertmanager(
    alertmanager_factory: Callable[..., Service], webhook_receiver: WebhookReceiver
) -> str:
    config = webhook_config(webhook_receiver.url, group_by=["alertname", "group"])
    service = await asyncio.to_thread(alertmanager_factory, config=config)
    return str(service.endpoints["alertmanager"])


async def silenced_groups(url: str) -> dict[str, bool]:
    """group label -> whether Alertmanager holds that lag alert silenced."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/api/v2/alerts") as resp:
        body = await resp.json()
    return {
        a["labels"]["group"]: bool(a["status"]["silencedBy"])
        for a in body
        if a["labels"].get("alertname") == "TAKafkaConsumerLagHigh"
    }


async def test_the_replay_groups_alerts_are_silenced_and_no_other(
    alertmanager: str, tmp_path: Path
) -> None:
    cfg = parse_remediator_config(remediator_data(tmp_path, alertmanager={"urls": [alertmanager]}))
    lag = [
        am.PostableAlert({"alertname": "TAKafkaConsumerLagHigh", "group": g, "topic": "t"})
        for g in (REPLAY, "torghut-ta-v1")
    ]
    await am.post(cfg=cfg, alerts=lag)
    sid = await am.create_silence(
        cfg=cfg, matchers={"group": REPLAY}, ends_at=datetime.now(UTC) + timedelta(hours=1),
        created_by="ta-remediator", comment="run r-1: planned replay",
    )  # fmt: skip
    assert await am.silence_state(cfg=cfg, silence_id=sid) == "active"

    async def replay_silenced() -> dict[str, bool] | None:
        got = await silenced_groups(alertmanager)
        return got if got.get(REPLAY) else None

    found = await apoll_until(replay_silenced, timeout=30, what="the replay group's alert silenced")
    assert found == {REPLAY: True, "torghut-ta-v1": False}
    await am.expire_silence(cfg=cfg, silence_id=sid)
    await am.expire_silence(cfg=cfg, silence_id=sid)  # again: already expired is done
    assert await am.silence_state(cfg=cfg, silence_id=sid) == "expired"


async def test_unreachable_and_unconfigured(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    cfg = parse_remediator_config(remediator_data(tmp_path, alertmanager={"urls": [down]}))
    with pytest.raises(ActuationError) as err:
        await am.create_silence(
            cfg=cfg, matchers={"group": REPLAY}, ends_at=datetime.now(UTC) + timedelta(hours=1),
            created_by="x", comment="y",
        )  # fmt: skip
    assert err.value.retryable and down in str(err.value)
    bare = parse_remediator_config(remediator_data(tmp_path))
    with pytest.raises(ActuationError, match=r"remediator\.alertmanager is not configured"):
        await am.expire_silence(cfg=bare, silence_id="x")
