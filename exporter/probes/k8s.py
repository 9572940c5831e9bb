"""One Kubernetes ApiClient per exporter run, shared by the probe families that need it."""

from __future__ import annotations

import weakref
from contextlib import AsyncExitStack

from kubernetes_asyncio import client

from exporter.clients.kube import open_api
from exporter.config import Config

_APIS: weakref.WeakKeyDictionary[AsyncExitStack, client.ApiClient] = weakref.WeakKeyDictionary()


async def kube_api(cfg: Config, *, stack: AsyncExitStack) -> client.ApiClient:
    """The ApiClient for this stack, created on first use and closed with the stack."""
    api = _APIS.get(stack)
    if api is None:
        api = await open_api(cfg.kubernetes)
        _APIS[stack] = api
        stack.push_async_callback(api.close)
    return api
