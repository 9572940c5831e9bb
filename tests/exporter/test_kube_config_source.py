"""Where the Kubernetes client gets its credentials: like kubectl, so `report` runs from a laptop."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporter.clients.kube import KubeError, kubeconfig_source, open_api
from exporter.config import KubernetesConfig


def _kubeconfig(path: Path, servers: dict[str, str], current: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": n, "cluster": {"server": s}} for n, s in servers.items()],
                "users": [{"name": "u", "user": {"token": "t0ken"}}],
                "contexts": [{"name": n, "context": {"cluster": n, "user": "u"}} for n in servers],
                "current-context": current,
            }
        )
    )
    return path


def test_source_follows_kubectl() -> None:
    env = {"KUBECONFIG": "/k/a:/k/b", "HOME": "/home/op"}
    configured = KubernetesConfig(kubeconfig=Path("/etc/kc"))
    assert kubeconfig_source(configured, env, incluster=True) == "/etc/kc"
    assert kubeconfig_source(KubernetesConfig(), env, incluster=True) is None
    assert kubeconfig_source(KubernetesConfig(), env, incluster=False) == "/k/a:/k/b"
    home = kubeconfig_source(KubernetesConfig(), {"HOME": "/home/op"}, incluster=False)
    assert home == "/home/op/.kube/config"
    # a named context means a kubeconfig, even in a pod
    assert kubeconfig_source(KubernetesConfig(context="c"), env, incluster=True) == "/k/a:/k/b"


async def test_off_cluster_without_kubeconfig_uses_the_environment_and_context(
    tmp_path: Path,
) -> None:
    path = _kubeconfig(
        tmp_path / "config",
        {"a": "https://127.0.0.1:6443", "b": "https://127.0.0.1:7443"},
        current="a",
    )
    api = await open_api(KubernetesConfig(), {"KUBECONFIG": str(path)})
    try:
        assert api.configuration.host == "https://127.0.0.1:6443"
    finally:
        await api.close()
    api = await open_api(KubernetesConfig(context="b"), {"KUBECONFIG": str(path)})
    try:
        assert api.configuration.host == "https://127.0.0.1:7443"
    finally:
        await api.close()


async def test_off_cluster_falls_back_to_home_kube_config(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    _kubeconfig(tmp_path / ".kube" / "config", {"a": "https://127.0.0.1:6443"}, current="a")
    api = await open_api(KubernetesConfig(), {"HOME": str(tmp_path)})
    try:
        assert api.configuration.host == "https://127.0.0.1:6443"
    finally:
        await api.close()


async def test_a_missing_kubeconfig_is_named(tmp_path: Path) -> None:
    with pytest.raises(KubeError, match=r"cannot load kubeconfig .*/nowhere"):
        await open_api(KubernetesConfig(), {"KUBECONFIG": str(tmp_path / "nowhere")})
