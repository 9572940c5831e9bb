"""pytest fixtures for the whole embedded stack (`sandbox.stack.up`), as `make sandbox` runs it.

- `sandbox_stack` (session): the stack in a temporary directory; yields the same object
  `ta-sandbox status --json` prints (`clickhouse_http`, `kafka_bootstrap`, `kubeconfig`,
  `git_remote`, `git_workdir`, `prometheus`, `alertmanager`, `exporter`, `s3`, `jangar`,
  `kube_api`, `github_api`, `github_token_file`, `clickhouse_user` / `clickhouse_password_file`
  (the writer) and `clickhouse_ops_*` / `clickhouse_remediator_*` (the other identities), `up`)
  plus `dir`. Everything it started is stopped at teardown.
  Tests must leave the stack as they found it (it is shared).

Helpers for tests that start a stack of their own (with options `sandbox_stack` does not use):
`run_cli(*args)` runs `python -m sandbox.cli ...`; `exported(exporter_url, name)` reads one
metric family's samples from the exporter, keyed by their labels.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sandbox import stack
from sandbox.cli import summary


@pytest.fixture(scope="session")
def sandbox_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("stack")
    try:
        stack.up(workdir, log=lambda _msg: None)
        info = summary(workdir)
        info["dir"] = str(workdir)
        yield info
    finally:
        stack.down(workdir, log=lambda _msg: None)


def run_cli(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """`ta-sandbox ARGS` as a user runs it (`prefix`, e.g. setpriv, goes before the Python)."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "sandbox.cli", *args],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def exported(exporter_url: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """The samples of metric `name` the exporter serves now, keyed by their label sets."""
    with urllib.request.urlopen(f"{exporter_url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        frozenset(s.labels.items()): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }
