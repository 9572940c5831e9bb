"""Real Prometheus 2.42 and Alertmanager 0.25 (Debian binaries) with generated configs.

Both listen on free loopback ports (a Debian system service may hold 9090/9093), keep their
state under the workdir, and are stopped by PID. Configs are written as JSON, which both YAML
loaders accept. Measured here: Prometheus is ready in ~1 s and scrapes a target for the first
time within ~1-5 s (poll `wait_targets_up`); with 1 s scrape/evaluation and `group_wait: 1s`, a
rule with `for: 2s` reaches a webhook ~3-4 s after the condition starts.

`launch` is `launch_prometheus`; start Alertmanager with `launch_alertmanager` first and pass
its URL as `alertmanager_url`.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from sandbox.util import Service, apoll_until, free_port, spawn, wait_started

PROMETHEUS_BIN = "prometheus"
ALERTMANAGER_BIN = "prometheus-alertmanager"  # Debian's name for the alertmanager binary


@dataclass(frozen=True)
class ScrapeTarget:
    job: str
    address: str  # "host:port"
    bearer_token: str | None = None
    metrics_path: str = "/metrics"
    labels: Mapping[str, str] = field(default_factory=dict)
    # Prometheus metric_relabel_configs entries (keep/drop/rewrite series after the scrape)
    metric_relabel: Sequence[Mapping[str, Any]] = ()


TargetLike = (
    ScrapeTarget | tuple[str, str] | tuple[str, str, str | None] | tuple[str, str, str | None, str]
)


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin")
    if not path:
        raise RuntimeError(f"{name} not found: install the Debian package that provides it")
    return path


def _wait_ready(proc_pid: int, url: str, log: Path, what: str, timeout: float) -> None:
    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as resp:
            return resp.status == 200

    wait_started(proc_pid, ready, log=log, what=what, timeout=timeout)


def webhook_config(
    url: str,
    *,
    bearer_file: Path | None = None,
    group_by: Sequence[str] = ("alertname",),
    group_wait: str = "1s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
    send_resolved: bool = True,
) -> dict[str, Any]:
    """Alertmanager config routing every alert to one webhook (bearer from a file if given)."""
    receiver: dict[str, Any] = {"url": url, "send_resolved": send_resolved}
    if bearer_file is not None:
        receiver["http_config"] = {
            "authorization": {"type": "Bearer", "credentials_file": str(bearer_file)}
        }
    return {
        "route": {
            "receiver": "webhook",
            "group_by": list(group_by),
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        "receivers": [{"name": "webhook", "webhook_configs": [receiver]}],
    }


def launch_alertmanager(
    workdir: Path,
    *,
    config: Mapping[str, Any] | str | None = None,
    port: int | None = None,
    timeout: float = 60.0,
) -> Service:
    """Start Alertmanager; `config` is a dict or YAML text (default: one route to nowhere).

    Endpoints {"alertmanager": "http://127.0.0.1:P"}. Clustering is off.
    """
    if config is None:
        config = {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    home = workdir / f"alertmanager-{port}"
    (home / "data").mkdir(parents=True, exist_ok=True)
    config_file = home / "alertmanager.yml"
    config_file.write_text(config if isinstance(config, str) else json.dumps(config, indent=2))
    args = [
        _binary(ALERTMANAGER_BIN),
        f"--config.file={config_file}",
        f"--storage.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        f"--web.external-url={url}",
    ]
    log = home / "alertmanager.log"
    proc = spawn(args, log_path=log, cwd=home)
    _wait_ready(proc.pid, url, log, "alertmanager", timeout)
    return Service("alertmanager", proc.pid, {"alertmanager": url}, str(log))


def _target(t: TargetLike) -> ScrapeTarget:
    if isinstance(t, ScrapeTarget):
        return t
    if not isinstance(t, tuple) or not 2 <= len(t) <= 4:
        raise ValueError(f"scrape target must be (job, 'host:port'[, bearer[, path]]): {t!r}")
    return ScrapeTarget(*t)  # type: ignore[arg-type]


def prometheus_config(
    home: Path,
    targets: Sequence[ScrapeTarget],
    rule_files: Sequence[Path],
    alertmanager_url: str | None,
    scrape_interval: str,
    evaluation_interval: str,
) -> dict[str, Any]:
    """The prometheus.yml document (bearer tokens are written next to it, never inlined)."""
    jobs: dict[str, list[dict[str, Any]]] = {}
    scrape_configs = []
    for t in targets:
        if ":" not in t.address or "/" in t.address:
            raise ValueError(f"target address must be host:port, got {t.address!r}")
        job: dict[str, Any] = {
            "job_name": t.job,
            "metrics_path": t.metrics_path,
            "static_configs": [{"targets": [t.address], "labels": dict(t.labels)}],
        }
        if t.metric_relabel:
            job["metric_relabel_configs"] = [dict(r) for r in t.metric_relabel]
        if t.job in jobs:
            raise ValueError(f"duplicate scrape job {t.job!r}")
        jobs[t.job] = job["static_configs"]
        if t.bearer_token is not None:
            token_file = home / f"{t.job}.token"
            token_file.write_text(t.bearer_token)
            token_file.chmod(0o600)
            job["authorization"] = {"type": "Bearer", "credentials_file": str(token_file)}
        scrape_configs.append(job)
    for rule_file in rule_files:
        if not Path(rule_file).is_file():
            raise FileNotFoundError(f"rule file {rule_file} does not exist")
    doc: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": evaluation_interval,
        },
        "rule_files": [str(Path(p).resolve()) for p in rule_files],
        "scrape_configs": scrape_configs,
    }
    if alertmanager_url:
        parts = urlsplit(alertmanager_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"alertmanager_url must be http(s)://host:port, got {alertmanager_url!r}"
            )
        doc["alerting"] = {
            "alertmanagers": [
                {
                    "scheme": parts.scheme,
                    "path_prefix": parts.path or "/",
                    "static_configs": [{"targets": [parts.netloc]}],
                }
            ]
        }
    return doc


def launch_prometheus(
    workdir: Path,
    *,
    scrape_targets: Sequence[TargetLike] = (),
    rule_files: Sequence[Path] = (),
    alertmanager_url: str | None = None,
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    port: int | None = None,
    timeout: float = 60.0,
) -> Service:
    """Start Prometheus; endpoints {"prometheus": "http://127.0.0.1:P"}.

    `scrape_targets` items are ScrapeTarget or (job, "host:port"[, bearer[, path]]).
    The lifecycle API is on: POST /-/reload after editing the rule files.
    """
    targets = [_target(t) for t in scrape_targets]
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    home = workdir / f"prometheus-{port}"
    (home / "data").mkdir(parents=True, exist_ok=True)
    config = prometheus_config(
        home, targets, rule_files, alertmanager_url, scrape_interval, evaluation_interval
    )
    config_file = home / "prometheus.yml"
    config_file.write_text(json.dumps(config, indent=2))
    args = [
        _binary(PROMETHEUS_BIN),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url={url}",
        "--web.enable-lifecycle",
    ]
    log = home / "prometheus.log"
    proc = spawn(args, log_path=log, cwd=home)
    _wait_ready(proc.pid, url, log, "prometheus", timeout)
    return Service("prometheus", proc.pid, {"prometheus": url}, str(log))


launch = launch_prometheus


class PrometheusError(RuntimeError):
    """The Prometheus HTTP API answered status "error"."""


async def _get_json(url: str, params: Mapping[str, str] | None = None) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url, params=params) as resp:
        body = await resp.json(content_type=None)
    if isinstance(body, dict) and body.get("status") == "error":
        raise PrometheusError(f"{body.get('errorType')}: {body.get('error')}")
    return body


async def query(prom_url: str, promql: str, *, at: float | None = None) -> list[dict[str, Any]]:
    """Instant query; the `result` list (vector samples carry `metric` and `value`)."""
    params = {"query": promql}
    if at is not None:
        params["time"] = str(at)
    body = await _get_json(f"{prom_url}/api/v1/query", params)
    return list(body["data"]["result"])


async def alerts(prom_url: str) -> list[dict[str, Any]]:
    """Prometheus' pending and firing alerts (/api/v1/alerts)."""
    return list((await _get_json(f"{prom_url}/api/v1/alerts"))["data"]["alerts"])


async def alertmanager_alerts(am_url: str) -> list[dict[str, Any]]:
    """Alerts Alertmanager holds (/api/v2/alerts)."""
    return list(await _get_json(f"{am_url}/api/v2/alerts"))


async def wait_targets_up(
    prom_url: str, jobs: Sequence[str] | None = None, *, timeout: float = 90.0
) -> list[dict[str, Any]]:
    """Poll /api/v1/targets until every active target (of `jobs`) has been scraped healthy."""

    async def check() -> list[dict[str, Any]] | None:
        data = (await _get_json(f"{prom_url}/api/v1/targets"))["data"]["activeTargets"]
        wanted = [t for t in data if jobs is None or t["labels"].get("job") in jobs]
        seen = {t["labels"].get("job") for t in wanted}
        if jobs is not None and not set(jobs) <= seen:
            return None
        return wanted if wanted and all(t["health"] == "up" for t in wanted) else None

    return await apoll_until(check, timeout=timeout, interval=0.2, what="scrape targets up")


async def wait_alertmanagers(prom_url: str, *, timeout: float = 90.0) -> list[str]:
    """Poll until Prometheus has discovered at least one Alertmanager; their URLs."""

    async def check() -> list[str] | None:
        data = (await _get_json(f"{prom_url}/api/v1/alertmanagers"))["data"]
        return [am["url"] for am in data["activeAlertmanagers"]] or None

    return await apoll_until(check, timeout=timeout, interval=0.2, what="alertmanager discovered")


async def reload(prom_url: str) -> None:
    """Make Prometheus re-read its config and rule files."""
    async with aiohttp.ClientSession() as session, session.post(f"{prom_url}/-/reload") as resp:
        if resp.status != 200:
            raise PrometheusError(f"reload failed ({resp.status}): {await resp.text()}")


@dataclass
class Delivery:
    """One POST the webhook received."""

    payload: dict[str, Any]
    authorization: str | None


class WebhookReceiver:
    """A tiny aiohttp server on a free loopback port that records what Alertmanager posts.

    With `bearer` set it answers 401 to requests without `Authorization: Bearer <bearer>`
    (those are recorded in `rejected`, not `deliveries`).
    """

    def __init__(self, *, bearer: str | None = None, path: str = "/alerts") -> None:
        self.bearer = bearer
        self.path = path
        self.deliveries: list[Delivery] = []
        self.rejected: list[Delivery] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json()
        except ValueError:
            return web.Response(status=400, text="body is not JSON")
        delivery = Delivery(payload, request.headers.get("Authorization"))
        if self.bearer is not None and delivery.authorization != f"Bearer {self.bearer}":
            self.rejected.append(delivery)
            return web.Response(status=401, text="bad bearer")
        self.deliveries.append(delivery)
        return web.Response(status=200, text="ok")

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}{self.path}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WebhookReceiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_for(
        self, predicate: Callable[[Delivery], bool], *, timeout: float = 90.0
    ) -> Delivery:
        """The first delivery (past or future) matching `predicate`."""

        async def check() -> Delivery | None:
            return next((d for d in self.deliveries if predicate(d)), None)

        return await apoll_until(check, timeout=timeout, interval=0.1, what="webhook delivery")


def firing(alertname: str) -> Callable[[Delivery], bool]:
    """Predicate: the delivery carries `alertname` in state firing."""

    def match(d: Delivery) -> bool:
        return any(
            a.get("status") == "firing" and a.get("labels", {}).get("alertname") == alertname
            for a in d.payload.get("alerts", [])
        )

    return match
