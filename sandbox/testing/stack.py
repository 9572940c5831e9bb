"""pytest fixtures for the whole embedded stack (`sandbox.stack.up`), as `make sandbox` runs it.

- `sandbox_stack` (session): the stack in a temporary directory; yields the same object
  `ta-sandbox status --json` prints (`clickhouse_http`, `kafka_bootstrap`, `kubeconfig`,
  `git_remote`, `git_workdir`, `prometheus`, `alertmanager`, `exporter`, `s3`, `jangar`,
  `kube_api`, `github_api`, `github_token_file`, `clickhouse_user` / `clickhouse_password_file`
  (the writer) and `clickhouse_ops_*` / `clickhouse_remediator_*` (the other identities), `up`)
  plus `dir`. Everything it started is stopped at teardown.
  Tests must leave the stack as they found it (it is shared).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

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
