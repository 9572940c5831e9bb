"""Procedure A-full in auto mode once more, on a stack whose kube stand-in moves at a real
cluster's pace (`timings="realistic"`: Argo CD syncs for seconds, the operator takes tens of
seconds per step and a minute to call the job STABLE): the remediator must not depend on the
sandbox being fast. Takes several minutes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from e2e_a_full import a_full_auto
from e2e_a_setup import LIMIT_MIB, OVERRIDES
from e2e_alerting import resolve_all
from e2e_clickhouse import filler
from e2e_cluster import start_stack, steady

from sandbox import stack as sandbox_stack
from sandbox.remediator_svc import merge_into

pytestmark = pytest.mark.slow
PACE = 900.0  # seconds: the generous deadline of every wait at this pace


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("procedure-a-realistic") / "stack"
    overrides: dict[str, Any] = {}
    merge_into(overrides, OVERRIDES)
    # the operator's reconcile of a suspend or restart, and STABLE a minute after RUNNING
    merge_into(overrides, {"remediator": {"policy": {"verify_timeout": "600s"}}})
    try:
        info = start_stack(
            workdir, mode="auto", overrides=overrides, disk_limit_mib=LIMIT_MIB,
            timings="realistic",
        )  # fmt: skip
        steady(info, timeout=PACE)
        yield info
    finally:
        sandbox_stack.down(workdir, log=lambda _m: None)


def test_a_full_in_auto_mode_at_a_real_clusters_pace(stack: dict[str, Any]) -> None:
    try:
        a_full_auto(stack, timeout=PACE)
    finally:
        filler(stack).unlink(missing_ok=True)
        resolve_all(stack)
