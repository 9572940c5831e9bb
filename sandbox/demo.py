"""`ta-sandbox up --demo` (what `make sandbox` runs): the whole product on the stack, ready for
`ta-sandbox scenario NAME`, and what to print once it is up.

The demo is the stack with the remediator in `auto`, ClickHouse on a size-limited disk (root
only: without root the disk scenarios are unavailable and the demo says so) and a policy for a
sandbox whose Kafka holds only its own lifetime (see DEMO_OVERRIDES).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

DEMO_MODE = "auto"
DEMO_DISK_LIMIT_MIB = 64
DEMO_OVERRIDES: dict[str, Any] = {
    "remediator": {
        "policy": {
            # scenarios run one after another on the same install: a short cooldown
            "cooldown": "30s",
            "max_runs_per_hour": 30,
            "verify_every": "3s",
            # a B run on chdb ends in its escalation (the replica stays read-only): within minutes
            "verify_timeout": "3m",
            "retry_backoff": "2s",
            # the sandbox's Kafka holds only the stack's own lifetime: every older day would be
            # "unreplayable" and need a person, which the production default rightly demands
            "drop": {"approve_unreplayable": False},
        }
    }
}


def disk_limit() -> int | None:
    """The demo's ClickHouse disk limit: mounting a tmpfs needs root."""
    return DEMO_DISK_LIMIT_MIB if os.geteuid() == 0 else None


def banner(status: Mapping[str, Any], state_dir: str) -> list[str]:
    """The lines `up --demo` prints: the product's URLs and the commands to try next."""
    d = f" --dir {state_dir}" if state_dir != ".sandbox" else ""
    lines = [
        "",
        f"remediator mode: {status.get('remediator_mode', '?')}  "
        f"(alert pace: {status.get('alert_pace', 'real')})",
        f"  Prometheus      {status.get('prometheus')}/alerts",
        f"  Alertmanager    {status.get('alertmanager')}",
        f"  exporter report {status.get('exporter')}/report",
        f"  remediator API  {status.get('remediator')}/runs  "
        f"(token file: {status.get('remediator_token_file')})",
    ]
    if status.get("approvals_page"):
        lines.append(f"  approvals page  {status['approvals_page']}")
    if status.get("clickhouse_disk_limit"):
        lines.append(f"  ClickHouse disk {status['clickhouse_disk_limit']} tmpfs")
    else:
        lines.append("  ClickHouse disk not size-limited (not root): disk-full and disk-pressure")
        lines.append("                  are unavailable")
    lines += [
        "",
        "Try next:",
        f"  .venv/bin/ta-sandbox scenario --list{d}            # the fault scenarios",
        f"  .venv/bin/ta-sandbox scenario disk-full{d}         # watch procedure A heal a full disk",
        f"  .venv/bin/ta-sandbox scenario stale-signals-trading-on{d}",
        f"  .venv/bin/ta-sandbox status{d}",
        f"  TA_REMEDIATOR_URL={status.get('remediator')} "
        f"TA_REMEDIATOR_TOKEN_FILE={status.get('remediator_token_file')} "
        ".venv/bin/ta-remediator runs",
        "  make sandbox-down",
    ]
    return lines
