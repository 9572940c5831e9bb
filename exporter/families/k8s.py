"""One Kubernetes ApiClient per exporter run, shared by the probe families that need it.

The client is created on first use, not at build time: a missing kubeconfig or service
account then fails the Kubernetes probes with the reason while every other probe runs.
"""

from __future__ import annotations

import weakref
from contextlib import AsyncExitStack

from kubernetes_asyncio import client

from exporter.clients.kube import KubeError, open_api
from exporter.config import Config, KubernetesConfig


class KubeAccess:
    """Opens the ApiClient lazily; retries the opening on every call until it succeeds."""

    def __init__(self, cfg: KubernetesConfig) -> None:
        self._cfg = cfg
        self._api: client.ApiClient | None = None

    async def api(self) -> client.ApiClient:
        if self._api is None:
            try:
                self._api = await open_api(self._cfg)
            except KubeError:
                raise
            except Exception as exc:
                where = self._cfg.kubeconfig or "the in-cluster service account"
                raise KubeError("(client setup)", f"cannot load {where}: {exc}") from exc
        return self._api

    async def close(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            await api.close()


_ACCESS: weakref.WeakKeyDictionary[AsyncExitStack, KubeAccess] = weakref.WeakKeyDictionary()


def kube_access(cfg: Config, *, stack: AsyncExitStack) -> KubeAccess:
    """The KubeAccess for this stack, closed with the stack."""
    access = _ACCESS.get(stack)
    if access is None:
        access = KubeAccess(cfg.kubernetes)
        _ACCESS[stack] = access
        stack.push_async_callback(access.close)
    return access
