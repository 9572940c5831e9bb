"""`argocd.sync` against the Kubernetes stand-in's Argo CD (its REST API under /argocd/api/v1):
our operation is the one waited for and it lands at our revision; a hung sync times out
(retryable), a failed one escalates with Argo CD's message, a running one is waited out before
ours starts, and a fence that says we lost the Lease starts nothing."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from exporter.config_refs import SecretRef
from remediator.actuators import ActuationError, NotLeader, no_fence
from remediator.actuators.argocd import sync
from remediator.config_gitops import ArgoConfig
from sandbox.gitops import APP_PATH
from sandbox.testing.kube import APPLICATION, KubeSandbox
from sandbox.util import apoll_until

pytestmark = pytest.mark.slow

FD = f"{APP_PATH}/ta/flinkdeployment.yaml"


def config(kube_api: KubeSandbox, **overrides: Any) -> ArgoConfig:
    fields: dict[str, Any] = {
        "api_url": kube_api.argocd_api,
        "token": SecretRef(file=Path(kube_api.service.endpoints["argocd_token_file"])),
        "poll_interval": 0.05,
    }
    fields.update(overrides)
    return ArgoConfig(**fields)


def bump_nonce(kube_api: KubeSandbox, nonce: int) -> str:
    """A person's commit to main: the FlinkDeployment's restartNonce set to `nonce`."""
    repo = kube_api.repo
    text = repo.read(FD)
    repo.write(FD, text.replace("restartNonce: 1", f"restartNonce: {nonce}"))
    return repo.commit_and_push(f"ta: restartNonce {nonce}")


def application(kube_api: KubeSandbox) -> dict[str, Any]:
    code, app = kube_api.raw(
        "GET", f"/argocd/api/v1/applications/{APPLICATION}", token=kube_api.argocd_token
    )
    assert code == 200
    return dict(app)


def live_nonce(kube_api: KubeSandbox) -> Any:
    code, obj = kube_api.raw(
        "GET", "/apis/flink.apache.org/v1beta1/namespaces/torghut/flinkdeployments/torghut-ta"
    )
    assert code == 200
    return obj["spec"].get("restartNonce")


async def test_sync_waits_for_our_operation_at_our_revision(kube_api: KubeSandbox) -> None:
    before = application(kube_api)["status"]["operationState"]
    assert before["phase"] == "Succeeded"  # the seed's sync: what a phase-only poll would take
    sha = bump_nonce(kube_api, 7)
    result = await sync(
        cfg=config(kube_api), app=APPLICATION, revision=sha, timeout=60, fence=no_fence
    )
    assert (result.revision, result.phase, result.waited_for_other) == (sha, "Succeeded", False)
    assert result.message == "successfully synced (all tasks run)"
    assert result.started_at >= before["startedAt"] and result.finished_at
    assert live_nonce(kube_api) == 7
    state = application(kube_api)["status"]["operationState"]
    assert state["operation"]["sync"]["revision"] == sha


async def test_a_hung_sync_times_out_retryable(kube_api: KubeSandbox) -> None:
    sha = bump_nonce(kube_api, 8)
    kube_api.argocd_fault("hang")
    with pytest.raises(ActuationError) as err:
        await sync(cfg=config(kube_api), app=APPLICATION, revision=sha, timeout=1.0,
                   fence=no_fence)  # fmt: skip
    assert err.value.retryable and not err.value.escalate and err.value.code == "timeout"
    assert f"to {sha} did not finish within 1 s (Running since" in str(err.value)
    assert live_nonce(kube_api) == 1  # nothing applied


async def test_a_failed_sync_escalates_with_argocds_message(kube_api: KubeSandbox) -> None:
    sha = bump_nonce(kube_api, 9)
    kube_api.argocd_fault("fail", "admission webhook denied FlinkDeployment torghut-ta")
    with pytest.raises(ActuationError) as err:
        await sync(cfg=config(kube_api), app=APPLICATION, revision=sha, timeout=60,
                   fence=no_fence)  # fmt: skip
    assert err.value.escalate and not err.value.retryable and err.value.code == "sync-failed"
    assert "ended Failed: admission webhook denied FlinkDeployment torghut-ta" in str(err.value)


async def test_a_running_sync_is_waited_out_then_ours_starts(
    kube_api: KubeSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sha = bump_nonce(kube_api, 11)
    kube_api.argocd_fault("hang")
    code, _ = kube_api.raw(
        "POST", f"/argocd/api/v1/applications/{APPLICATION}/sync", {}, token=kube_api.argocd_token
    )
    assert code == 200  # someone else's sync, hanging
    caplog.set_level(logging.INFO, logger="remediator.actuators.argocd")
    ours = asyncio.create_task(
        sync(cfg=config(kube_api), app=APPLICATION, revision=sha, timeout=60, fence=no_fence)
    )
    await apoll_until(
        lambda: asyncio.sleep(0, any("busy" in r.getMessage() for r in caplog.records)),
        timeout=60, what="our sync refused as busy",
    )  # fmt: skip
    assert not ours.done()
    kube_api.argocd_fault("none")
    result = await asyncio.wait_for(ours, 60)
    assert result.waited_for_other and result.revision == sha
    assert live_nonce(kube_api) == 11


async def test_busy_beyond_the_bound_is_retryable(kube_api: KubeSandbox) -> None:
    kube_api.argocd_fault("hang")
    code, _ = kube_api.raw(
        "POST", f"/argocd/api/v1/applications/{APPLICATION}/sync", {}, token=kube_api.argocd_token
    )
    assert code == 200
    with pytest.raises(ActuationError) as err:
        await sync(cfg=config(kube_api, busy_timeout=0.5), app=APPLICATION,
                   revision=kube_api.repo.remote_head(), timeout=60, fence=no_fence)  # fmt: skip
    assert err.value.retryable and err.value.code == "busy"
    assert "still busy with another operation" in str(err.value)


async def test_not_leader_starts_no_sync(kube_api: KubeSandbox) -> None:
    sha = bump_nonce(kube_api, 12)
    before = application(kube_api)["status"]["operationState"]

    def lost() -> None:
        raise NotLeader("lease held by pod-b")

    with pytest.raises(NotLeader):
        await sync(cfg=config(kube_api), app=APPLICATION, revision=sha, timeout=60, fence=lost)
    app = application(kube_api)
    assert "operation" not in app and app["status"]["operationState"] == before


async def test_bad_token_and_unknown_application_escalate(
    kube_api: KubeSandbox, tmp_path: Path
) -> None:
    wrong = tmp_path / "argocd-token"
    wrong.write_text("argo-WRONG-token-123")
    sha = kube_api.repo.remote_head()
    with pytest.raises(ActuationError) as denied:
        await sync(cfg=config(kube_api, token=SecretRef(file=wrong)), app=APPLICATION,
                   revision=sha, timeout=10, fence=no_fence)  # fmt: skip
    assert denied.value.escalate and denied.value.code == "401"
    assert "argo-WRONG" not in str(denied.value)
    with pytest.raises(ActuationError) as missing:
        await sync(cfg=config(kube_api), app="nope", revision=sha, timeout=10, fence=no_fence)
    assert missing.value.escalate and missing.value.code == "404"


async def test_a_branch_revision_lands_at_whatever_the_branch_resolved_to(
    kube_api: KubeSandbox,
) -> None:
    sha = bump_nonce(kube_api, 13)
    result = await sync(
        cfg=config(kube_api), app=APPLICATION, revision="main", timeout=60, fence=no_fence
    )
    assert result.revision == sha and live_nonce(kube_api) == 13
