"""Kubernetes reads through kubernetes_asyncio: the FlinkDeployment, a ConfigMap, a Knative Service.

Objects come back as plain dicts with the API's camelCase keys. Every failure (HTTP error
status, timeout, refused connection) becomes one `KubeError` naming the object and the reason.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.incluster_config import SERVICE_TOKEN_FILENAME

from exporter.config import KubernetesConfig

FLINK = ("flink.apache.org", "v1beta1", "flinkdeployments")
KNATIVE_SERVICE = ("serving.knative.dev", "v1", "services")


class KubeError(Exception):
    """A Kubernetes API read failed; `status` is the HTTP status when there was one."""

    def __init__(self, what: str, reason: str, *, status: int | None = None) -> None:
        super().__init__(f"Kubernetes GET {what}: {reason}")
        self.what = what
        self.reason = reason
        self.status = status


def in_cluster(environ: Mapping[str, str] = os.environ) -> bool:
    """Running in a pod with a service account, as kubernetes_asyncio's in-cluster loader needs."""
    return bool(environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(SERVICE_TOKEN_FILENAME)


def kubeconfig_source(
    cfg: KubernetesConfig, environ: Mapping[str, str], *, incluster: bool
) -> str | None:
    """The kubeconfig to load, or None for the in-cluster service account. Like kubectl: the
    configured file; else in a pod its service account (unless a context is named); else
    $KUBECONFIG (a path list is merged) or ~/.kube/config, e.g. `report` from a laptop."""
    if cfg.kubeconfig is not None:
        return str(cfg.kubeconfig)
    if incluster and cfg.context is None:
        return None
    return environ.get("KUBECONFIG") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".kube", "config"
    )


def _default_missing(cfg: KubernetesConfig, environ: Mapping[str, str], source: str) -> bool:
    """Nothing configured and no ~/.kube/config: say so, instead of the loader's riddle."""
    return cfg.kubeconfig is None and not environ.get("KUBECONFIG") and not os.path.exists(source)


async def open_api(
    cfg: KubernetesConfig, environ: Mapping[str, str] = os.environ
) -> client.ApiClient:
    """An ApiClient from the kubeconfig `kubeconfig_source` picks, or the in-cluster account."""
    conf = client.Configuration()
    source = kubeconfig_source(cfg, environ, incluster=in_cluster(environ))
    if source is None:
        config.load_incluster_config(client_configuration=conf)
    elif _default_missing(cfg, environ, source):
        raise KubeError(
            "(client setup)",
            f"no Kubernetes credentials: not in a cluster, kubernetes.kubeconfig and KUBECONFIG "
            f"unset, and {source} does not exist",
        )
    else:
        try:
            await config.load_kube_config(
                config_file=source, context=cfg.context, client_configuration=conf
            )
        except Exception as exc:
            raise KubeError("(client setup)", f"cannot load kubeconfig {source}: {exc}") from None
    return client.ApiClient(configuration=conf)


_SNIPPET = 200


def _body_text(body: object) -> str:
    """An error body as text for an operator: decoded (bytes from the REST layer), one line, bounded."""
    if isinstance(body, bytes | bytearray):
        body = bytes(body[: 4 * _SNIPPET]).decode("utf-8", errors="replace")
    if not isinstance(body, str):
        return ""
    text = " ".join(body.split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "..."


def _status_message(exc: ApiException) -> str:
    message = None
    if isinstance(exc.body, str | bytes | bytearray) and exc.body:
        try:
            body = json.loads(exc.body)
        except ValueError:  # includes UnicodeDecodeError
            body = None
        if isinstance(body, dict):
            message = body.get("message")
    text = _body_text(message) or _body_text(exc.body) or _body_text(exc.reason)
    return f"HTTP {exc.status} {text}".strip()


async def _guard(what: str, call: Any) -> Any:
    try:
        return await call
    except ApiException as exc:
        raise KubeError(what, _status_message(exc), status=exc.status) from None
    except UnicodeDecodeError as exc:
        # kubernetes_asyncio decodes an error body as UTF-8 while raising its ApiException
        api_exc = exc.__context__
        if not isinstance(api_exc, ApiException):
            raise
        raise KubeError(what, _status_message(api_exc), status=api_exc.status) from None
    except (TimeoutError, aiohttp.ServerTimeoutError):
        raise KubeError(what, "timed out") from None
    except asyncio.CancelledError:
        raise
    except aiohttp.ClientConnectorError as exc:
        raise KubeError(what, f"cannot connect: {exc.os_error or exc}") from None
    except aiohttp.ClientError as exc:
        raise KubeError(what, f"{type(exc).__name__}: {exc}") from None


async def get_custom(
    api: client.ApiClient,
    *,
    kind: tuple[str, str, str],
    namespace: str,
    name: str,
    timeout: float,
) -> dict[str, Any]:
    """GET one namespaced custom object, e.g. `kind=FLINK`."""
    group, version, plural = kind
    call = client.CustomObjectsApi(api).get_namespaced_custom_object(
        group, version, namespace, plural, name, _request_timeout=timeout
    )
    obj = await _guard(f"{plural}.{group} {namespace}/{name}", call)
    if not isinstance(obj, dict):
        raise KubeError(f"{plural}.{group} {namespace}/{name}", "answer is not an object")
    return obj


async def get_flinkdeployment(
    api: client.ApiClient, *, namespace: str, name: str, timeout: float
) -> dict[str, Any]:
    return await get_custom(api, kind=FLINK, namespace=namespace, name=name, timeout=timeout)


async def get_knative_service(
    api: client.ApiClient, *, namespace: str, name: str, timeout: float
) -> dict[str, Any]:
    return await get_custom(
        api, kind=KNATIVE_SERVICE, namespace=namespace, name=name, timeout=timeout
    )


async def get_configmap_data(
    api: client.ApiClient, *, namespace: str, name: str, timeout: float
) -> dict[str, str]:
    """The `data` of a ConfigMap (empty when it has none)."""
    call = client.CoreV1Api(api).read_namespaced_config_map(
        name, namespace, _request_timeout=timeout
    )
    cm = await _guard(f"configmaps {namespace}/{name}", call)
    return dict(cm.data or {})
