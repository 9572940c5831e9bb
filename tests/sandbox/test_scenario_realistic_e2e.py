"""The `disk-full` game day at a real cluster's pace: the demo stack with the shipped rules
(`--alert-pace real`: TAFlinkJobFailed fires after its full `for: 2m`) and the kube stand-in at
`--timings realistic` (Argo CD syncs for seconds, the operator takes tens of seconds per
transition and a minute to call the job STABLE). Procedure A must heal the disk through the real
Prometheus -> Alertmanager -> webhook path without depending on the sandbox being fast; the
outcome is asserted exactly as at the fast pace (tests/sandbox/test_scenarios_e2e.py).
Several minutes: the one game day at this pace in the suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gameday_kit import (
    assert_dashboards_have_data,
    assert_disk_full_healed,
    demo_up,
    down,
    metrics,
    scenario,
)

from sandbox import scenario_io as io

pytestmark = [pytest.mark.slow, pytest.mark.gameday, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    assert io.os.geteuid() == 0, "the demo's ClickHouse disk is a tmpfs: these tests need root"
    workdir: Path = tmp_path_factory.mktemp("gameday-realistic") / "stack"
    try:
        status, _out = demo_up(workdir, "--alert-pace", "real", "--timings", "realistic")
        yield status
    finally:
        down(workdir)


def test_disk_full_heals_at_a_real_clusters_pace(stack: dict[str, Any]) -> None:
    assert (stack["alert_pace"], stack["timings"]) == ("real", "realistic"), stack
    before = metrics(stack)
    code, timeline, err = scenario(stack, "disk-full")
    assert code == 0, (err, timeline.get("why"))
    assert_disk_full_healed(stack, timeline, before)
    assert_dashboards_have_data(stack, timeout=600)
