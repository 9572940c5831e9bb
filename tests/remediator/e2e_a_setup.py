"""Procedure A's shared setup for the remediator's end-to-end tests: the stack's disk limit and
policy, and the fault they start from (a full disk, the job FAILED on its inserts)."""

from __future__ import annotations

from typing import Any

from e2e_clickhouse import fill
from e2e_cluster import wait_job

LIMIT_MIB = 64
FRESHNESS_S = 30  # the remediator's freshness bound (report.freshness) in these stacks
OVERRIDES = {
    "remediator": {
        "policy": {
            "cooldown": "1s",  # the tests run procedure A back to back on one target
            "max_runs_per_hour": 30,
            "verify_timeout": "60s",
            "verify_every": "2s",
            "retry_backoff": "1s",
            # the sandbox's Kafka holds the stack's own lifetime only: older days are
            # unreplayable, which would need a person
            "drop": {"keep_days": 2, "max_partitions": 3, "approve_unreplayable": False},
        }
    },
    "report": {"freshness": f"{FRESHNESS_S}s"},
}


def full_disk_and_failed_job(stack: dict[str, Any]) -> None:
    fill(stack)
    wait_job(stack, lambda j: "FAILED" in j[1:], "the TA job FAILED on its inserts")
