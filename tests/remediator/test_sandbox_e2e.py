"""On the sandbox's real services: a real Alertmanager delivers to the real remediator, which
triages with a fresh cycle of the exporter's real probes. In observe mode nothing changes in git,
the cluster or ClickHouse, whatever arrives."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from remediator_kit import WEBHOOK_TOKEN, remediator_data

from remediator.config import RemediatorConfig, parse_remediator_config
from remediator.journal import Journal
from remediator.server import App, create_app
from remediator.service import build
from sandbox import prometheus
from sandbox.util import apoll_until, free_port

pytestmark = pytest.mark.slow


def _git_head(remote: str) -> str:
    out = subprocess.run(
        ["git", "ls-remote", remote, "HEAD"], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.split()[0]


async def _cluster_state(kubeconfig: str) -> dict[str, Any]:
    """What a remediator would change: the FlinkDeployment's spec (its generation) and the TA
    ConfigMap. (resourceVersion moves with every status update the operator writes.)"""
    from kubernetes_asyncio import client, config

    api = await config.new_client_from_config(config_file=kubeconfig)
    async with api:
        fd = await client.CustomObjectsApi(api).get_namespaced_custom_object(
            "flink.apache.org", "v1beta1", "torghut", "flinkdeployments", "torghut-ta"
        )
        cm = await client.CoreV1Api(api).read_namespaced_config_map("torghut-ta-config", "torghut")
    return {
        "fd_generation": fd["metadata"]["generation"],
        "fd_spec": fd["spec"],
        "fd_annotations": fd["metadata"].get("annotations"),
        "cm": cm.data,
    }


async def _pipeline_steady(stack: dict[str, Any]) -> None:
    """`ta-sandbox up` returns once every service started, not once the job runs: wait until the
    operator says RUNNING and the exporter judges the signals fresh, the state these tests
    triage against (they failed when run right after the stack came up)."""
    from kubernetes_asyncio import client, config

    async def steady() -> bool:
        api = await config.new_client_from_config(config_file=stack["kubeconfig"])
        async with api:
            fd = await client.CustomObjectsApi(api).get_namespaced_custom_object(
                "flink.apache.org", "v1beta1", "torghut", "flinkdeployments", "torghut-ta"
            )
        if ((fd.get("status") or {}).get("jobStatus") or {}).get("state") != "RUNNING":
            return False
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{stack['exporter']}/report") as resp:
                report = await resp.json()
        verdicts = {c["component"]: c["status"] for c in report["components"]}
        return verdicts.get("freshness") == "healthy"

    await apoll_until(steady, timeout=180, interval=1.0, what="TA job RUNNING, signals fresh")


@pytest.fixture
async def remediator(
    sandbox_stack: dict[str, Any], tmp_path: Path
) -> AsyncIterator[tuple[App, str, RemediatorConfig]]:
    await _pipeline_steady(sandbox_stack)
    data = yaml.safe_load((Path(sandbox_stack["dir"]) / "exporter.yaml").read_text())
    data["remediator"] = remediator_data(tmp_path)["remediator"]
    # the stack's exporter polls every 2 s with a 2 s timeout; a triage's one fresh cycle on a
    # loaded CI machine must not turn a slow answer into "unknown" (one run refused the disk as
    # unreadable for that reason)
    data["probes"]["default"] = {"interval": "60s", "timeout": "45s", "staleness": "120s"}
    cfg = parse_remediator_config(data)
    journal = Journal(cfg.remediator.journal_path)
    app = build(cfg, journal)
    runner = web.AppRunner(create_app(app))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    app.engine.start()
    try:
        yield app, f"http://127.0.0.1:{port}", cfg
    finally:
        await app.engine.stop()
        await runner.cleanup()
        journal.close()


async def _post_alerts(am_url: str, alerts: list[dict[str, Any]]) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{am_url}/api/v2/alerts", json=alerts) as resp:
            assert resp.status == 200, await resp.text()


async def test_alertmanager_to_remediator_one_run_triaged_on_real_probes_nothing_changed(
    remediator, sandbox_stack, alertmanager_factory, tmp_path
) -> None:
    app, url, cfg = remediator
    replica = cfg.clickhouse.replicas[0].name
    git_before = _git_head(sandbox_stack["git_remote"])
    cluster_before = await _cluster_state(sandbox_stack["kubeconfig"])
    token_file = tmp_path / "am-token"
    token_file.write_text(WEBHOOK_TOKEN)
    am = alertmanager_factory(
        config=prometheus.webhook_config(
            f"{url}/webhook/alertmanager", bearer_file=token_file, group_by=("procedure",)
        )
    )
    am_url = am.endpoints["alertmanager"]
    labels = {
        "severity": "critical",
        "procedure": "A",
        "remediation": "auto",
        "component": "clickhouse",
    }
    await _post_alerts(
        am_url,
        [
            {
                "labels": {
                    "alertname": "TAClickHouseDiskPressure",
                    "replica": replica,
                    "disk": "default",
                    **labels,
                }
            },
            {"labels": {"alertname": "TAFlinkJobFailed", "deployment": "torghut-ta", **labels}},
            {"labels": {"alertname": "TAReplay", "procedure": "C", "severity": "warning"}},
        ],
    )

    async def triaged() -> Any:
        # both alerts on the run and its triage over: Alertmanager may deliver them in two
        # notifications, and the second sets the run to "retriage"
        runs = await asyncio.to_thread(app.journal.runs)
        done = [r for r in runs if r.state not in ("new", "triage", "retriage")]
        if not runs or len(done) != len(runs) or any(len(r.alerts) < 2 for r in done):
            return None
        return done

    [run] = await apoll_until(triaged, timeout=120, interval=0.5, what="run triaged")
    assert run.key == "A/torghut/torghut-ta"
    assert sorted(a.alertname for a in run.alerts) == [
        "TAClickHouseDiskPressure",
        "TAFlinkJobFailed",
    ]
    # the sandbox's disk is fine and the job runs: a real triage refuses the wrong cause
    assert run.state == "refused" and "not under pressure" in run.reason, run.reason
    facts = run.plan["facts"]  # type: ignore[index]
    assert facts["job_state"] == "RUNNING" and facts["market_open"] is True
    assert facts["components"]["clickhouse-disk"]["status"] == "healthy"
    assert all(r.procedure != "C" for r in app.journal.runs())
    assert _git_head(sandbox_stack["git_remote"]) == git_before
    assert await _cluster_state(sandbox_stack["kubeconfig"]) == cluster_before


async def test_trading_gate_on_fresh_signals_is_refused_and_the_annotation_is_read(
    remediator, sandbox_stack
) -> None:
    app, url, _cfg = remediator
    payload = {
        "version": "4",
        "groupKey": "g",
        "status": "firing",
        "receiver": "torghut-ta-remediator",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "TATradingOnStaleSignals", "procedure": "none"},
                "startsAt": "2026-12-01T10:00:00Z",
                "fingerprint": "0123456789abcdef",
            }
        ],
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/webhook/alertmanager",
            json=payload,
            headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
        ) as resp:
            assert resp.status == 202
            [run_id] = (await resp.json())["runs"]

    async def done() -> Any:
        run = await asyncio.to_thread(app.journal.run, run_id)
        return run if run is not None and run.state not in ("new", "triage", "retriage") else None

    run = await apoll_until(done, timeout=120, interval=0.5, what="trading gate triaged")
    assert run.state == "refused" and run.reason == "signals are fresh now"
