"""The dashboards are built by the `dashboards` package at the repository root, which is not
installed; make it importable however pytest is started.

Fixtures of the end-to-end query test (module `test_queries_e2e.py`):

- `flink_rest` (module): `FlinkRest(url)`: the session's real Flink cluster
  (`flink_cluster`), or url None and why when the JDK or apache-flink is missing.
- `watch_exporter` (module): a second real exporter process (`python -m exporter.cli serve`)
  whose ClickHouse is the replicated server (`replicated_clickhouse`, replica `chi-1`), whose
  `flink.rest_url` is that Flink cluster, and whose Kafka, Kubernetes and checkpoint storage
  are the stack's.
- `dashboards_prometheus` (module): a Prometheus holding two installs (e2e_env.py): install A
  scrapes both exporters as job torghut-ta-exporter (instances `stack` and `watch`) and the
  stack's real remediator (`ta-remediator serve`, `sandbox.remediator_svc`) as
  torghut-ta-remediator; install B scrapes the stack's exporter again (instance `stack-b`)
  keeping only its renamed probe-health series. A rule fires one alert per install.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_env import (
    B_RELABEL,
    EXPORTER_JOB,
    INSTALL_A,
    INSTALL_B,
    REMEDIATOR_JOB,
    FlinkRest,
    per_install_rules,
    watch_exporter_config,
)

from sandbox import prometheus
from sandbox.prometheus import ScrapeTarget
from sandbox.stack import launch_exporter
from sandbox.testing.clickhouse import ClickHouseServer
from sandbox.util import Service, free_port, stop_pid

REPO = str(Path(__file__).resolve().parents[2])
if REPO not in sys.path:
    sys.path.insert(0, REPO)


@pytest.fixture(scope="module")
def flink_rest(request: pytest.FixtureRequest) -> FlinkRest:
    # the real Flink tier is part of the test environment: no Flink is a failure, not a skip
    cluster: Service = request.getfixturevalue("flink_cluster")
    return FlinkRest(cluster.endpoints["flink_rest"])


@pytest.fixture(scope="module")
def watch_exporter(
    sandbox_stack: dict[str, Any],
    replicated_clickhouse: ClickHouseServer,
    flink_rest: FlinkRest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("watch-exporter")
    password_file = workdir / "clickhouse-password"
    password_file.write_text(replicated_clickhouse.password)
    password_file.chmod(0o600)
    stack_config = yaml.safe_load((Path(sandbox_stack["dir"]) / "exporter.yaml").read_text())
    port = free_port()
    cfg = watch_exporter_config(
        stack_config,
        clickhouse=replicated_clickhouse,
        password_file=password_file,
        kubeconfig=str(sandbox_stack["kubeconfig"]),
        flink_rest_url=flink_rest.url,
        port=port,
    )
    config_path = workdir / "exporter.yaml"
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    service = launch_exporter(workdir, config_path, port)
    try:
        yield service
    finally:
        stop_pid(service.pid)


def _address(url: str) -> str:
    return url.removeprefix("http://")


@pytest.fixture(scope="module")
def dashboards_prometheus(
    sandbox_stack: dict[str, Any],
    watch_exporter: Service,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    # launch_prometheus gives each scrape config its own job name; the static `job` label
    # puts the exporters under the one job the dashboards select, `cluster`/`namespace` the
    # install they belong to
    stack_address = _address(str(sandbox_stack["exporter"]))
    targets = [
        ScrapeTarget(
            f"{EXPORTER_JOB}-stack",
            stack_address,
            labels={"job": EXPORTER_JOB, "instance": "stack", **INSTALL_A},
        ),
        ScrapeTarget(
            f"{EXPORTER_JOB}-watch",
            _address(watch_exporter.endpoints["exporter"]),
            labels={"job": EXPORTER_JOB, "instance": "watch", **INSTALL_A},
        ),
        ScrapeTarget(
            REMEDIATOR_JOB,
            _address(str(sandbox_stack["remediator"])),
            labels={"job": REMEDIATOR_JOB, **INSTALL_A},
        ),
        ScrapeTarget(
            f"{EXPORTER_JOB}-b",
            stack_address,
            labels={"job": EXPORTER_JOB, "instance": "stack-b", **INSTALL_B},
            metric_relabel=B_RELABEL,
        ),
    ]
    workdir = tmp_path_factory.mktemp("dashboards-prom")
    rules = workdir / "per-install.rules.yml"
    rules.write_text(yaml.safe_dump(per_install_rules()))
    service = prometheus.launch_prometheus(workdir, scrape_targets=targets, rule_files=[rules])
    try:
        yield service.endpoints["prometheus"]
    finally:
        service.stop()
