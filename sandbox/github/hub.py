"""What the GitHub stand-in's handlers share: its repositories, tokens, limits and settings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from sandbox.github.access import Limits, Token
from sandbox.github.model import PullRequest


@dataclass
class Repo:
    full_name: str
    path: Path
    default_branch: str = "main"
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class Hub:
    """Everything the server knows: repos, tokens, limits, branch-protection settings."""

    base_url: str
    repos: dict[str, Repo]
    tokens: dict[str, Token]
    admin_token: str
    limits: Limits = field(default_factory=Limits)
    required_approvals: int = 0
    # test-only outage: the next `count` API requests get `status` (GitHub's 5xx body)
    outage: dict[str, int] = field(default_factory=lambda: {"status": 503, "count": 0})
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


HUB = web.AppKey("hub", Hub)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def run_git(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """Run a blocking git helper off the event loop."""
    return asyncio.get_running_loop().run_in_executor(None, fn, *args)
