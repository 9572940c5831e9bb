"""The remediator's end-to-end tests on a whole sandbox stack: its ClickHouse (the stack's own
identities, old days of microbars, partitions) and the volume another tenant fills and frees.
The tenant and the old days are the scenarios' own (`sandbox.scenario_io`): one implementation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from sandbox import scenario_io

MIB = scenario_io.MIB
disk = scenario_io.disk
filler = scenario_io.filler
fill = scenario_io.fill  # another tenant writes until only `leave` bytes are free (0: ENOSPC)
free_a_little = scenario_io.free_some  # the tenant gives back `nbytes` of its file
insert_old_day = scenario_io.insert_old_day  # a day of incompressible microbars
days = scenario_io.days_ago  # the dates of that many days ago (UTC)


def client(stack: dict[str, Any], role: str = "") -> Client:
    """role "" (the TA writer), "_ops" (read only) or "_remediator"."""
    host, _, port = stack["clickhouse_http"].removeprefix("http://").rpartition(":")
    return clickhouse_connect.get_client(
        host=host, port=int(port), username=stack[f"clickhouse{role}_user"],
        password=Path(stack[f"clickhouse{role}_password_file"]).read_text(),
    )  # fmt: skip


def partitions(stack: dict[str, Any], table: str = "ta_microbars") -> dict[str, int]:
    """Active partitions of a TA table: partition -> bytes on disk."""
    ops = client(stack, "_ops")
    try:
        rows = ops.query(
            "SELECT partition, sum(bytes_on_disk) FROM system.parts WHERE active "
            f"AND database = 'torghut' AND table = '{table}' GROUP BY partition"
        ).result_rows
    finally:
        ops.close()
    return {str(p): int(b) for p, b in rows}
