"""`gitops.change` and `wait_merged` against the sandbox's branch-protected git remote and the
GitHub REST stand-in: a pull request in propose mode, an API merge in auto mode, a direct push
refused without the bypass, a non-fast-forward push retried on the new tip, a re-run that changes
nothing, a closed pull request that escalates, and a fence that stops every push."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from exporter.config_refs import SecretRef
from remediator.actuators import ActuationError, NotLeader, no_fence
from remediator.actuators.gitops import Change, change, set_env, set_job_state, wait_merged
from remediator.config_gitops import GitHubConfig, GitOpsConfig
from sandbox.gitops import APP_PATH, git
from sandbox.testing.github import FULL_NAME, GitHubSandbox

pytestmark = pytest.mark.slow

FD = "ta/flinkdeployment.yaml"
KSVC = "knative-service.yaml"
SUSPEND = {FD: partial(set_job_state, state="suspended", bump_nonce=False)}
PULLS = f"/repos/{FULL_NAME}/pulls"


def config(gh: GitHubSandbox, tmp_path: Path, **overrides: Any) -> GitOpsConfig:
    github = GitHubConfig(
        api_url=gh.url,
        repo=FULL_NAME,
        token=SecretRef(file=Path(gh.service.endpoints["github_token_file"])),
    )
    fields: dict[str, Any] = {
        "remote_url": str(gh.repo.remote),
        "work_dir": tmp_path / "remediator-gitops",
        "github": github,
        "poll_interval": 0.05,
    }
    fields.update(overrides)
    return GitOpsConfig(**fields)


def bypassing(gh: GitHubSandbox, tmp_path: Path, **overrides: Any) -> GitOpsConfig:
    """Direct push allowed, with the push option the protected remote lets through."""
    option = tmp_path / "bypass"
    option.write_text(f"bypass={gh.repo.bypass_token()}\n")
    return config(
        gh, tmp_path, direct_push=True, direct_push_option=SecretRef(file=option), **overrides
    )


def remote_refs(gh: GitHubSandbox) -> str:
    return git(gh.repo.remote, "for-each-ref", "--format=%(refname) %(objectname)")


def pulls(gh: GitHubSandbox) -> list[dict[str, Any]]:
    status, _, body = gh.request("GET", PULLS + "?state=all")
    assert status == 200
    return list(body)


def remote_file(gh: GitHubSandbox, rev: str, rel: str) -> str:
    return git(gh.repo.remote, "show", f"{rev}:{APP_PATH}/{rel}")


def changed_lines(diff: str) -> list[str]:
    return [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


def someone_pushes_first(gh: GitHubSandbox, pushed: list[str], group: str) -> Callable[[], None]:
    """A fence that, on its first call of each change, has a person push a new TA_GROUP_ID to
    main: between our fetch and our push, the race a non-fast-forward rejection reports."""

    def fence() -> None:
        if pushed and pushed[-1] != "ours":
            pushed.append("ours")
            return
        work, cm = gh.repo.workdir, f"{APP_PATH}/ta/configmap.yaml"
        git(work, "fetch", "-q", "origin")
        git(work, "reset", "-q", "--hard", "origin/main")
        gh.repo.write(cm, re.sub(r"TA_GROUP_ID: \S+", f"TA_GROUP_ID: {group}", gh.repo.read(cm)))
        pushed.append(gh.repo.commit_and_push(f"config: group id {group}"))

    return fence


async def test_propose_opens_a_pull_request_with_only_the_changed_lines(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    gh = github_sandbox
    cfg = config(gh, tmp_path)
    main_before = gh.repo.remote_head()
    done = await change(
        cfg=cfg, run_id="run-1", step="suspend", edits=SUSPEND, title="ta: suspend torghut-ta",
        body="Disk full on the TA tables: stop inserts before dropping partitions.",
        how="pull_request", fence=no_fence,
    )  # fmt: skip
    assert done.changed and done.branch == "remediator/run-1/suspend"
    assert done.pr_number == 1 and done.merged_sha is None
    assert changed_lines(done.diff) == ["-    state: running", "+    state: suspended"]
    assert gh.repo.remote_head() == main_before  # nothing on the tracked branch yet
    assert git(gh.repo.remote, "rev-parse", "refs/heads/remediator/run-1/suspend") == done.commit
    message = git(gh.repo.remote, "log", "-1", "--format=%B", done.commit)
    assert message.startswith("ta: suspend torghut-ta\n\nDisk full on the TA tables")
    assert "Remediator-Run: run-1" in message and "Remediator-Step: suspend" in message
    pr = pulls(gh)[0]
    assert (pr["state"], pr["head"]["ref"], pr["head"]["sha"]) == ("open", done.branch, done.commit)
    assert done.pr_url == pr["html_url"]

    # a person merges; the waiter sees it and reports the merge commit
    merged = gh.admin("POST", f"/repos/{FULL_NAME}/pulls/1/merge", {"login": "oncall"})
    final = await wait_merged(cfg=cfg, change=done, timeout=60)
    assert final.merged_sha == merged["sha"] == gh.repo.remote_head()
    assert "state: suspended" in remote_file(gh, "main", FD)


async def test_rerunning_a_step_changes_nothing_and_opens_no_second_pr(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    gh = github_sandbox
    cfg = config(gh, tmp_path)
    # the non-idempotent edit (a nonce bump) is the hard case: a re-run must not bump again
    edits = {FD: partial(set_job_state, state="running", bump_nonce=True)}
    step = partial(change, cfg=cfg, run_id="run-2", step="restart", edits=edits,
                   title="ta: restart", body="why", how="pull_request", fence=no_fence)  # fmt: skip
    first = await step()
    refs = remote_refs(gh)
    again = await step()  # a resume after a crash, PR still open
    assert (again.commit, again.pr_number, again.changed) == (first.commit, 1, True)
    assert remote_refs(gh) == refs and len(pulls(gh)) == 1
    gh.admin("POST", f"/repos/{FULL_NAME}/pulls/1/merge", {"login": "oncall"})
    after_merge = await step()  # a resume after the merge: the step is done
    assert not after_merge.changed and after_merge.merged_sha == gh.repo.remote_head()
    assert len(pulls(gh)) == 1
    assert "restartNonce: 2" in remote_file(gh, "main", FD)
    # and from a fresh clone (the work dir lost) the answer is the same
    fresh = await change(
        cfg=config(gh, tmp_path, work_dir=tmp_path / "other-clone"), run_id="run-2",
        step="restart", edits=edits, title="ta: restart", body="why", how="pull_request",
        fence=no_fence,
    )  # fmt: skip
    assert not fresh.changed and len(pulls(gh)) == 1


async def test_an_edit_that_changes_nothing_commits_nothing(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    gh = github_sandbox
    refs = remote_refs(gh)
    done = await change(
        cfg=config(gh, tmp_path), run_id="run-3", step="trading-on",
        edits={KSVC: partial(set_env, name="TRADING_ENABLED", value="true")},
        title="t", body="b", how="merge", fence=no_fence,
    )  # fmt: skip
    assert not done.changed and done.diff == "" and done.pr_number is None
    assert done.merged_sha == done.commit == gh.repo.remote_head()
    assert remote_refs(gh) == refs and pulls(gh) == []


async def test_auto_mode_merges_through_the_api(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    gh = github_sandbox
    done = await change(
        cfg=config(gh, tmp_path), run_id="run-4", step="pause-trading",
        edits={KSVC: partial(set_env, name="TRADING_ENABLED", value="false")},
        title="trading: pause", body="TA signals will be stale during the run.",
        how="merge", fence=no_fence,
    )  # fmt: skip
    assert done.changed and done.merged_sha == gh.repo.remote_head()
    parents = git(gh.repo.remote, "rev-list", "--parents", "-n", "1", done.merged_sha).split()
    assert parents[2] == done.commit  # a merge commit of our branch
    assert 'value: "false"' in remote_file(gh, "main", KSVC)
    pr = pulls(gh)[0]
    assert pr["state"] == "closed" and pr["merged_at"] is not None
    assert (await wait_merged(cfg=config(gh, tmp_path), change=done, timeout=1)) == done


async def test_direct_push_is_refused_by_branch_protection_without_the_bypass(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    gh = github_sandbox
    kwargs: dict[str, Any] = {"run_id": "run-5", "step": "suspend", "edits": SUSPEND,
                              "title": "t", "body": "b", "how": "push", "fence": no_fence}  # fmt: skip
    with pytest.raises(ActuationError) as off:
        await change(cfg=config(gh, tmp_path), **kwargs)
    assert off.value.escalate and off.value.code == "policy"
    refs = remote_refs(gh)
    with pytest.raises(ActuationError) as refused:
        await change(cfg=config(gh, tmp_path, direct_push=True), **kwargs)
    assert refused.value.escalate and not refused.value.retryable
    assert refused.value.code == "push-refused"
    assert "GH006: Protected branch update failed for refs/heads/main" in str(refused.value)
    assert remote_refs(gh) == refs  # atomic: not even the step branch

    done = await change(cfg=bypassing(gh, tmp_path), **kwargs)
    assert done.changed and done.merged_sha == done.commit == gh.repo.remote_head()
    assert gh.repo.bypass_token() not in str(done)
    assert pulls(gh) == []


async def test_non_fast_forward_push_is_retried_on_the_new_tip(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    gh = github_sandbox
    pushed: list[str] = []
    done = await change(
        cfg=bypassing(gh, tmp_path), run_id="run-6", step="suspend", edits=SUSPEND, title="t",
        body="b", how="push", fence=someone_pushes_first(gh, pushed, "torghut-ta-v2"),
    )  # fmt: skip
    assert pushed[1:] == ["ours"]  # fenced again before the second push
    assert done.merged_sha == gh.repo.remote_head()
    assert git(gh.repo.remote, "rev-parse", f"{done.commit}^") == pushed[0]
    assert "TA_GROUP_ID: torghut-ta-v2" in remote_file(gh, "main", "ta/configmap.yaml")
    assert "state: suspended" in remote_file(gh, "main", FD)
    assert changed_lines(done.diff) == ["-    state: running", "+    state: suspended"]

    pushed.clear()
    with pytest.raises(ActuationError) as err:
        await change(
            cfg=bypassing(gh, tmp_path, push_retries=0), run_id="run-7", step="resume",
            edits={FD: partial(set_job_state, state="running", bump_nonce=True)},
            title="t", body="b", how="push",
            fence=someone_pushes_first(gh, pushed, "torghut-ta-v3"),
        )  # fmt: skip
    assert err.value.retryable and err.value.code == "non-fast-forward"
    assert gh.repo.remote_head() == pushed[0]  # only theirs landed
    assert "state: suspended" in remote_file(gh, "main", FD)


async def test_a_pull_request_closed_unmerged_escalates(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    gh = github_sandbox
    cfg = config(gh, tmp_path)
    step = partial(change, cfg=cfg, run_id="run-8", step="suspend", edits=SUSPEND, title="t",
                   body="b", how="pull_request", fence=no_fence)  # fmt: skip
    done = await step()
    with pytest.raises(ActuationError) as timeout:
        await wait_merged(cfg=cfg, change=done, timeout=0.3)
    assert timeout.value.retryable and timeout.value.code == "merge-timeout"
    status, _, _ = gh.request("PATCH", f"{PULLS}/{done.pr_number}", {"state": "closed"})
    assert status == 200
    with pytest.raises(ActuationError) as closed:
        await wait_merged(cfg=cfg, change=done, timeout=60)
    assert closed.value.escalate and closed.value.code == "pr-closed"
    assert f"#{done.pr_number}" in str(closed.value)
    with pytest.raises(ActuationError) as rerun:  # a re-run does not reopen what a person closed
        await step()
    assert rerun.value.code == "pr-closed" and len(pulls(gh)) == 1


async def test_a_fence_that_raises_not_leader_stops_every_push(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    gh = github_sandbox
    refs = remote_refs(gh)

    def lost() -> None:
        raise NotLeader("lease torghut-ta-remediator is held by pod-b")

    for how, cfg in (
        ("pull_request", config(gh, tmp_path)),
        ("merge", config(gh, tmp_path)),
        ("push", bypassing(gh, tmp_path)),
    ):
        with pytest.raises(NotLeader):
            await change(
                cfg=cfg, run_id="run-9", step="suspend", edits=SUSPEND,
                title="t", body="b", how=how, fence=lost,  # type: ignore[arg-type]
            )  # fmt: skip
    assert remote_refs(gh) == refs and pulls(gh) == []


async def test_merge_mode_fences_before_the_api_merge(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    gh = github_sandbox
    calls: list[int] = []

    def lost_after_push() -> None:
        calls.append(1)
        if len(calls) > 1:
            raise NotLeader("lost")

    with pytest.raises(NotLeader):
        await change(
            cfg=config(gh, tmp_path), run_id="run-10", step="suspend", edits=SUSPEND,
            title="t", body="b", how="merge", fence=lost_after_push,
        )  # fmt: skip
    assert "state: running" in remote_file(gh, "main", FD)  # not merged
    assert [p["state"] for p in pulls(gh)] == ["open"]


async def test_an_unreachable_remote_is_retryable_and_hides_the_token(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("ghp_SECRET0123456789")
    cfg = GitOpsConfig(
        remote_url="https://127.0.0.1:9/torghut/gitops.git",
        work_dir=tmp_path / "clone",
        git_timeout=30,
        github=GitHubConfig(api_url="http://127.0.0.1:9", repo=FULL_NAME,
                            token=SecretRef(file=token)),
    )  # fmt: skip
    with pytest.raises(ActuationError) as err:
        await change(cfg=cfg, run_id="r", step="s", edits=SUSPEND, title="t", body="b",
                     how="pull_request", fence=no_fence)  # fmt: skip
    assert err.value.retryable and err.value.code == "git"
    assert "127.0.0.1:9" in str(err.value) and "ghp_SECRET" not in str(err.value)


def test_change_is_a_frozen_record() -> None:
    c = Change("b", "c", None, None, None, "", changed=False)
    with pytest.raises(AttributeError):
        c.commit = "x"  # type: ignore[misc]


async def test_the_https_credential_travels_in_a_header_never_in_the_url(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A smart-HTTP git server that records what git sends, and refuses it: the token is in
    the Authorization header only, and the refusal escalates without it."""
    caplog.set_level(logging.DEBUG)
    seen: list[tuple[str, str]] = []

    async def refuse(request: web.Request) -> web.Response:
        seen.append((request.path_qs, request.headers.get("Authorization", "")))
        return web.Response(status=403, text="forbidden")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        token = tmp_path / "token"
        token.write_text("ghp_HEADERONLY42\n")
        cfg = GitOpsConfig(
            remote_url=f"http://127.0.0.1:{port}/torghut/gitops.git",
            work_dir=tmp_path / "clone",
            github=GitHubConfig(api_url=f"http://127.0.0.1:{port}", repo=FULL_NAME,
                                token=SecretRef(file=token)),
        )  # fmt: skip
        with pytest.raises(ActuationError) as err:
            await change(cfg=cfg, run_id="r", step="s", edits=SUSPEND, title="t", body="b",
                         how="pull_request", fence=no_fence)  # fmt: skip
    finally:
        await runner.cleanup()
    expected = "Basic " + base64.b64encode(b"x-access-token:ghp_HEADERONLY42").decode()
    assert seen and all(auth == expected for _, auth in seen)
    assert all("ghp_" not in path for path, _ in seen)
    assert seen[0][0].startswith("/torghut/gitops.git/info/refs?service=git-upload-pack")
    assert err.value.escalate and err.value.code == "git-auth"
    assert "403" in str(err.value) and "ghp_HEADERONLY42" not in str(err.value)
    assert "ghp_HEADERONLY42" not in caplog.text and "HEADERONLY" not in caplog.text


async def test_an_edit_that_cannot_apply_escalates_and_pushes_nothing(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    gh = github_sandbox
    refs = remote_refs(gh)
    step = partial(change, cfg=config(gh, tmp_path), run_id="run-11", step="suspend", title="t",
                   body="b", how="merge", fence=no_fence)  # fmt: skip
    with pytest.raises(ActuationError) as wrong_kind:
        await step(edits={KSVC: SUSPEND[FD]})
    assert wrong_kind.value.escalate and wrong_kind.value.code == "edit"
    assert f"cannot edit {APP_PATH}/{KSVC}: expected kind FlinkDeployment" in str(wrong_kind.value)
    with pytest.raises(ActuationError) as missing:
        await step(edits={"ta/missing.yaml": SUSPEND[FD]})
    assert missing.value.code == "edit" and "ta/missing.yaml is not in main" in str(missing.value)
    with pytest.raises(ActuationError) as bad_name:
        await change(cfg=config(gh, tmp_path), run_id="run 1/../x", step="s", edits=SUSPEND,
                     title="t", body="b", how="merge", fence=no_fence)  # fmt: skip
    assert bad_name.value.code == "bad-input"
    assert remote_refs(gh) == refs and pulls(gh) == []


async def test_a_retry_after_github_refused_reuses_the_pushed_branch(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    """The branch got pushed but the PR could not be opened (rate limit spent): the retry finds
    the branch, pushes nothing new, opens one PR and merges it."""
    gh = github_sandbox
    step = partial(change, cfg=config(gh, tmp_path), run_id="run-12", step="suspend",
                   edits=SUSPEND, title="t", body="b", how="merge", fence=no_fence)  # fmt: skip
    gh.admin("PUT", "/settings", {"rate_limit": {"remaining": 0, "reset_in": 600}})
    with pytest.raises(ActuationError) as limited:
        await step()
    assert limited.value.retryable and limited.value.code == "rate-limit"
    pushed = git(gh.repo.remote, "rev-parse", "refs/heads/remediator/run-12/suspend")
    gh.admin("PUT", "/settings", {"rate_limit": {"remaining": 5000}})
    done = await step()
    assert done.changed and done.commit == pushed and done.merged_sha == gh.repo.remote_head()
    assert [(p["number"], p["head"]["sha"]) for p in pulls(gh)] == [(1, pushed)]
