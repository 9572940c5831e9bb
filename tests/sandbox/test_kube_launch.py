"""The launcher: a background process, a kubeconfig kubernetes_asyncio loads, state kept
across a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes_asyncio import client, config

from exporter.exitcodes import USAGE
from sandbox.cli import main
from sandbox.kube import launch
from sandbox.kube.timings import resolve
from sandbox.util import pid_alive

MERGE = "application/merge-patch+json"
FLINK = ("flink.apache.org", "v1beta1", "torghut", "flinkdeployments")


async def _api(kubeconfig: str) -> client.ApiClient:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return client.ApiClient(configuration=configuration)


@pytest.mark.slow
async def test_launch_seeds_and_restart_keeps_objects(tmp_path: Path) -> None:
    service = launch(tmp_path, timings="fast")
    try:
        assert pid_alive(service.pid)
        assert service.endpoints["gitops_remote"] == str(tmp_path / "gitops.git")
        async with await _api(service.endpoints["kubeconfig"]) as api:
            objs = client.CustomObjectsApi(api)
            patched = await objs.patch_namespaced_custom_object(
                *FLINK,
                "torghut-ta",
                {"metadata": {"annotations": {"kept": "yes"}}},
                _content_type=MERGE,
            )
            uid = patched["metadata"]["uid"]
            app = await objs.get_namespaced_custom_object(
                "argoproj.io", "v1alpha1", "argocd", "applications", "torghut-ta"
            )
            assert app["spec"]["source"]["repoURL"] == service.endpoints["gitops_remote"]
    finally:
        service.stop()
    assert not pid_alive(service.pid)

    again = launch(tmp_path, timings="fast")
    try:
        async with await _api(again.endpoints["kubeconfig"]) as api:
            obj = await client.CustomObjectsApi(api).get_namespaced_custom_object(
                *FLINK, "torghut-ta"
            )
            assert obj["metadata"]["uid"] == uid
            assert obj["metadata"]["annotations"]["kept"] == "yes"
            assert int(obj["metadata"]["resourceVersion"]) >= int(
                patched["metadata"]["resourceVersion"]
            )
    finally:
        again.stop()


def test_timing_presets_fast_middle_realistic() -> None:
    fast, middle, real = resolve("fast"), resolve("middle"), resolve("realistic")
    assert fast.argocd_refresh < middle.argocd_refresh < real.argocd_refresh == 120.0
    assert real.argocd_refresh_jitter > 0 and real.selfheal_backoff == 2.0
    assert fast.operator_step < middle.operator_step < real.operator_step
    assert fast.stable_period < middle.stable_period < real.stable_period
    assert resolve("normal") == middle  # the old name of the demo preset
    with pytest.raises(ValueError, match="unknown timings preset 'slow'"):
        resolve("slow")


def test_ta_sandbox_up_offers_the_presets_and_names_the_demo_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["up", "--timings", "slow"])
    assert exit_.value.code == USAGE == 64  # the one exit-code table: usage errors are 64
    assert "choose from 'fast', 'middle', 'realistic'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["up", "--help"])
    assert "default: middle" in " ".join(capsys.readouterr().out.split())
