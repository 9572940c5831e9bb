"""Flink REST API reads (raw JSON; `exporter.probes.flink_rest` interprets it)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from exporter.clients.http import get_json


async def jobs_overview(session: aiohttp.ClientSession, *, base_url: str) -> Any:
    """GET /jobs/overview: every job the cluster knows, with name, state and start time."""
    return (await get_json(session, f"{base_url}/jobs/overview"))[1]


async def job_checkpoints(session: aiohttp.ClientSession, *, base_url: str, job_id: str) -> Any:
    """GET /jobs/{id}/checkpoints: counts and the latest completed/failed/restored checkpoint."""
    return (await get_json(session, f"{base_url}/jobs/{quote(job_id)}/checkpoints"))[1]


async def job_checkpoint_config(
    session: aiohttp.ClientSession, *, base_url: str, job_id: str
) -> tuple[int, Any]:
    """GET /jobs/{id}/checkpoints/config: (status, body); 404 is returned, not raised (Flink
    answers 404 for a job without checkpoint settings)."""
    url = f"{base_url}/jobs/{quote(job_id)}/checkpoints/config"
    return await get_json(session, url, allow_status=(404,))


async def job_metrics(
    session: aiohttp.ClientSession, *, base_url: str, job_id: str, names: list[str]
) -> Any:
    """GET /jobs/{id}/metrics?get=a,b: `[{"id": name, "value": "text"}]`, empty once the job ended."""
    url = f"{base_url}/jobs/{quote(job_id)}/metrics"
    return (await get_json(session, url, params={"get": ",".join(names)}))[1]


async def job_exceptions(session: aiohttp.ClientSession, *, base_url: str, job_id: str) -> Any:
    """GET /jobs/{id}/exceptions: `exceptionHistory.entries`, one per failure the scheduler handled."""
    return (await get_json(session, f"{base_url}/jobs/{quote(job_id)}/exceptions"))[1]
