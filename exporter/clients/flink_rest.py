"""Flink REST API reads (raw JSON; `exporter.probes.flink_rest` interprets it)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from exporter.clients.http import DEFAULT_MAX_BODY, get_json


async def jobs_overview(
    session: aiohttp.ClientSession, *, base_url: str, max_body: int = DEFAULT_MAX_BODY
) -> Any:
    """GET /jobs/overview: every job the cluster knows, with name, state and start time."""
    return (await get_json(session, f"{base_url}/jobs/overview", max_body=max_body))[1]


async def job_checkpoints(
    session: aiohttp.ClientSession, *, base_url: str, job_id: str, max_body: int = DEFAULT_MAX_BODY
) -> Any:
    """GET /jobs/{id}/checkpoints: counts and the latest completed/failed/restored checkpoint."""
    return (
        await get_json(session, f"{base_url}/jobs/{quote(job_id)}/checkpoints", max_body=max_body)
    )[1]


async def job_checkpoint_config(
    session: aiohttp.ClientSession, *, base_url: str, job_id: str, max_body: int = DEFAULT_MAX_BODY
) -> tuple[int, Any]:
    """GET /jobs/{id}/checkpoints/config: (status, body); 404 is returned, not raised (Flink
    answers 404 for a job without checkpoint settings)."""
    url = f"{base_url}/jobs/{quote(job_id)}/checkpoints/config"
    return await get_json(session, url, allow_status=(404,), max_body=max_body)


async def job_metrics(
    session: aiohttp.ClientSession,
    *,
    base_url: str,
    job_id: str,
    names: list[str],
    max_body: int = DEFAULT_MAX_BODY,
) -> Any:
    """GET /jobs/{id}/metrics?get=a,b: `[{"id": name, "value": "text"}]`, empty once the job ended."""
    url = f"{base_url}/jobs/{quote(job_id)}/metrics"
    return (await get_json(session, url, params={"get": ",".join(names)}, max_body=max_body))[1]


async def job_exceptions(
    session: aiohttp.ClientSession, *, base_url: str, job_id: str, max_body: int = DEFAULT_MAX_BODY
) -> Any:
    """GET /jobs/{id}/exceptions: `exceptionHistory.entries`, one per failure the scheduler handled."""
    return (
        await get_json(session, f"{base_url}/jobs/{quote(job_id)}/exceptions", max_body=max_body)
    )[1]
