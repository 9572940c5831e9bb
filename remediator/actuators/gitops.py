"""GitOps changes: edit the manifests Argo CD syncs, commit on a branch named after the run and
step, push, and open (and in auto mode merge) a pull request; or push to the tracked branch
where policy allows it.

The edits are pure text -> text functions on ruamel.yaml's round trip, so comments, quoting and
layout stay as they were and a diff shows only the changed lines. `change` is safe to call again
for the same run and step (after a crash, a retry): it finds the branch and the pull request an
earlier attempt left and continues from there; a change already on the tracked branch is not
made twice.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import ScalarString

from remediator.actuators import ActuationError, Fence, github
from remediator.actuators.gitrepo import GitRepo, Identity
from remediator.config_gitops import GitOpsConfig

log = logging.getLogger(__name__)
JOB_STATES = ("running", "suspended")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


# -- pure edits ----------------------------------------------------------------------------------


def _yaml() -> YAML:
    # the manifests' layout (see sandbox/gitops.py): they round-trip byte for byte
    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _load(text: str) -> Any:
    doc = _yaml().load(text)
    if not isinstance(doc, dict):
        raise ValueError("expected one YAML mapping (a Kubernetes object)")
    return doc


def _dump(doc: Any) -> str:
    buf = io.StringIO()
    _yaml().dump(doc, buf)
    return buf.getvalue()


def _mapping(parent: Any, key: str, where: str) -> Any:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"{where}{key} is missing or not a mapping")
    return value


def set_job_state(text: str, state: str, *, bump_nonce: bool) -> str:
    """A FlinkDeployment with `spec.job.state: <state>`, and `spec.restartNonce` one higher when
    `bump_nonce` (the operator redeploys on a new nonce; a suspended spec is not started by a
    nonce alone, so a restart sets both in one change)."""
    if state not in JOB_STATES:
        raise ValueError(f"job state must be one of {', '.join(JOB_STATES)}, not {state!r}")
    doc = _load(text)
    if doc.get("kind") != "FlinkDeployment":
        raise ValueError(f"expected kind FlinkDeployment, found {doc.get('kind')!r}")
    spec = _mapping(doc, "spec", "")
    job = _mapping(spec, "job", "spec.")
    if job.get("state") == state and not bump_nonce:
        return text
    if job.get("state") != state:
        job["state"] = type(job["state"])(state) if isinstance(job.get("state"), str) else state
    if bump_nonce:
        nonce = spec.get("restartNonce", 0)
        if isinstance(nonce, bool) or not isinstance(nonce, int):
            raise ValueError(f"spec.restartNonce is not an integer: {nonce!r}")
        spec["restartNonce"] = nonce + 1
    return _dump(doc)


def _containers(doc: Any) -> list[Any]:
    kind = doc.get("kind")
    if kind not in ("Service", "FlinkDeployment"):
        raise ValueError(f"cannot set env on kind {kind!r}")
    spec = _mapping(doc, "spec", "")
    if kind == "Service":  # Knative: spec.template.spec.containers
        pod = _mapping(_mapping(spec, "template", "spec."), "spec", "spec.template.")
        where = "spec.template.spec.containers"
    else:
        pod = _mapping(_mapping(spec, "podTemplate", "spec."), "spec", "spec.podTemplate.")
        where = "spec.podTemplate.spec.containers"
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers:
        raise ValueError(f"{where} is missing or empty")
    return containers


def set_env(text: str, name: str, value: str) -> str:
    """Every container's env var `name` set to `value` (added to the first container when none
    has it); the value keeps the quoting it had."""
    doc = _load(text)
    containers = _containers(doc)
    found = changed = False
    for container in containers:
        for var in container.get("env") or []:
            if not isinstance(var, dict) or var.get("name") != name:
                continue
            found = True
            if "valueFrom" in var:
                raise ValueError(f"env {name} comes from valueFrom; refusing to overwrite it")
            old = var.get("value")
            if old != value:
                var["value"] = type(old)(value) if isinstance(old, ScalarString) else value
                changed = True
    if not found:
        first = containers[0]
        if first.get("env") is None:
            first["env"] = []
        first["env"].append({"name": name, "value": value})
        changed = True
    return _dump(doc) if changed else text


# -- the change ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    branch: str
    commit: str  # what the change is at: our commit, or the tracked tip that already had it
    pr_number: int | None
    pr_url: str | None
    merged_sha: str | None  # the tracked branch's commit that holds the change
    diff: str
    changed: bool


How = Literal["pull_request", "merge", "push"]
_locks: dict[tuple[int, str], asyncio.Lock] = {}


def _lock(key: str) -> asyncio.Lock:
    return _locks.setdefault((id(asyncio.get_running_loop()), key), asyncio.Lock())


def _repo(cfg: GitOpsConfig) -> GitRepo:
    if cfg.work_dir is None:
        raise ActuationError("remediator.gitops.work_dir is not set", escalate=True, code="config")
    option = None
    if cfg.direct_push_option is not None:
        try:
            option = cfg.direct_push_option.resolve()
        except ValueError as exc:
            raise ActuationError(
                f"remediator.gitops.direct_push_option: {exc}", escalate=True, code="secret"
            ) from None
    return GitRepo(
        cfg.work_dir / "repo.git",
        cfg.remote_url,
        identity=Identity(cfg.author_name, cfg.author_email),
        token=github.read_token(cfg.github),
        push_option=option,
        timeout=cfg.git_timeout,
        # the git host is GitHub's: its API's trust settings apply to https pushes too
        ca_file=str(cfg.github.ca_file) if cfg.github.ca_file else None,
        verify_tls=cfg.github.verify_tls,
    )


def _check(run_id: str, step: str, edits: Mapping[str, Callable[[str], str]]) -> None:
    for what, value in (("run_id", run_id), ("step", step)):
        if not _NAME.fullmatch(value) or value.endswith((".lock", ".")) or ".." in value:
            raise ActuationError(f"{what} {value!r} cannot name a git branch", code="bad-input")
    for rel in edits:
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts or not p.parts:
            raise ActuationError(f"edit path {rel!r} is not inside the app path", code="bad-input")


async def _apply(
    repo: GitRepo, cfg: GitOpsConfig, base: str, edits: Mapping[str, Callable[[str], str]]
) -> dict[str, str]:
    """The files the edits change at `base` (repo paths -> new text)."""
    out: dict[str, str] = {}
    for rel, edit in edits.items():
        path = f"{cfg.app_path}/{PurePosixPath(rel)}"
        old = await repo.read(base, path)
        if old is None:
            raise ActuationError(f"{path} is not in {cfg.branch} at {base[:12]}", escalate=True,
                                 code="edit")  # fmt: skip
        try:
            new = edit(old)
        except Exception as exc:  # a pure edit that fails (bad YAML, wrong kind): no change
            raise ActuationError(f"cannot edit {path}: {exc}", escalate=True, code="edit") from None
        if new != old:
            out[path] = new
    return out


def _message(title: str, body: str, run_id: str, step: str) -> str:
    return f"{title}\n\n{body.strip()}\n\nRemediator-Run: {run_id}\nRemediator-Step: {step}\n"


async def change(
    *,
    cfg: GitOpsConfig,
    run_id: str,
    step: str,
    edits: Mapping[str, Callable[[str], str]],
    title: str,
    body: str,
    how: How,
    fence: Fence,
) -> Change:
    """Make the edits on branch `remediator/<run_id>/<step>` and deliver them as `how` says:
    "pull_request" opens a PR (a person merges), "merge" opens and merges it through the API,
    "push" pushes to the tracked branch (only with `direct_push`). `fence()` runs right before
    each push and merge."""
    _check(run_id, step, edits)
    if how == "push" and not cfg.direct_push:
        raise ActuationError(
            "direct push to the tracked branch is off (remediator.gitops.direct_push)",
            escalate=True,
            code="policy",
        )
    branch = f"remediator/{run_id}/{step}"
    tracked, ours = f"refs/remotes/origin/{cfg.branch}", f"refs/remotes/origin/{branch}"
    repo = _repo(cfg)
    async with _lock(str(cfg.work_dir)):
        await repo.open()
        for _attempt in range(cfg.push_retries + 1):
            await repo.fetch(
                f"+refs/heads/{cfg.branch}:{tracked}",
                f"+refs/heads/remediator/{run_id}/*:refs/remotes/origin/remediator/{run_id}/*",
            )
            base = await repo.rev(tracked)
            if base is None:
                raise ActuationError(f"branch {cfg.branch} not found at {cfg.remote_url}",
                                     escalate=True, code="git")  # fmt: skip
            prior = await repo.rev(ours)
            pr: github.PullRequest | None = None
            if prior is not None and await repo.is_ancestor(prior, base):
                return Change(branch, prior, None, None, base, "", changed=False)
            if prior is not None and how != "push":
                pr = await github.find_pull(cfg=cfg.github, head=branch, base=cfg.branch)
                if pr is not None and pr.merged:
                    return Change(branch, pr.head_sha, pr.number, pr.url, pr.merge_commit_sha,
                                  "", changed=False)  # fmt: skip
                if pr is not None and pr.state == "closed":
                    raise ActuationError(
                        f"pull request #{pr.number} ({pr.url}) for {branch} was closed without "
                        "merging: a person declined this change",
                        escalate=True,
                        code="pr-closed",
                    )
            files = await _apply(repo, cfg, base, edits)
            if not files:  # already in place: nothing to commit
                return Change(branch, base, pr.number if pr else None, pr.url if pr else None,
                              base, "", changed=False)  # fmt: skip
            commit = await repo.commit(base, files, _message(title, body, run_id, step))
            diff = await repo.diff(base, commit)
            if prior is not None and await repo.tree(prior) == await repo.tree(commit):
                if how != "push":
                    commit = prior  # an earlier attempt pushed this very change: reuse it
            if how == "push":
                fence()
                outcome = await repo.push(
                    [f"{commit}:refs/heads/{cfg.branch}", f"{commit}:refs/heads/{branch}"],
                    leases=[f"refs/heads/{branch}:{prior or ''}"],
                    atomic=True,
                )
            elif commit != prior:
                fence()
                outcome = await repo.push(
                    [f"{commit}:refs/heads/{branch}"],
                    leases=[f"refs/heads/{branch}:{prior or ''}"],
                    atomic=False,
                )
            else:
                outcome = "ok"
            if outcome == "ok":
                break
            log.info("push of %s to %s rejected as non-fast-forward; re-applying on the new tip",
                     branch, cfg.remote_url)  # fmt: skip
        else:
            raise ActuationError(
                f"push to {cfg.remote_url} rejected as non-fast-forward "
                f"{cfg.push_retries + 1} times (others keep pushing); try again",
                retryable=True,
                code="non-fast-forward",
            )
    if how == "push":
        log.info("pushed %s to %s of %s", commit[:12], cfg.branch, cfg.remote_url)
        return Change(branch, commit, None, None, commit, diff, changed=True)
    if pr is None or pr.state != "open":
        pr = await _open_pull(cfg, branch, title, body)
        log.info("opened pull request #%s (%s) for %s", pr.number, pr.url, branch)
    if how == "pull_request":
        return Change(branch, commit, pr.number, pr.url, None, diff, changed=True)
    fence()
    merged = await github.merge_pull(cfg=cfg.github, number=pr.number, sha=commit)
    return Change(branch, commit, pr.number, pr.url, merged, diff, changed=True)


async def _open_pull(cfg: GitOpsConfig, branch: str, title: str, body: str) -> github.PullRequest:
    try:
        return await github.create_pull(
            cfg=cfg.github, head=branch, base=cfg.branch, title=title, body=body
        )
    except ActuationError as err:
        if err.code != "422" or "already exists" not in str(err):
            raise
    # another attempt opened it between our look-up and our create
    found = await github.find_pull(cfg=cfg.github, head=branch, base=cfg.branch, state="open")
    if found is None:
        raise ActuationError(f"GitHub says a pull request for {branch} exists but lists none",
                             retryable=True, code="422")  # fmt: skip
    return found


async def wait_merged(*, cfg: GitOpsConfig, change: Change, timeout: float) -> Change:
    """Poll the change's pull request until it is merged (-> `merged_sha` set); closed without
    a merge -> ActuationError(escalate); not merged within `timeout` -> retryable error."""
    if change.merged_sha is not None:
        return change
    if change.pr_number is None:
        raise ActuationError(f"{change.branch}: no pull request to wait for", code="bad-input")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: ActuationError | None = None
    while True:
        try:
            pr = await github.get_pull(cfg=cfg.github, number=change.pr_number)
        except ActuationError as err:
            if not err.retryable:
                raise
            last, pr = err, None
        if pr is not None and pr.merged and pr.merge_commit_sha:
            return replace(change, merged_sha=pr.merge_commit_sha)
        if pr is not None and pr.state == "closed" and not pr.merged:
            raise ActuationError(
                f"pull request #{pr.number} ({pr.url}) was closed without merging: "
                "a person declined this change",
                escalate=True,
                code="pr-closed",
            )
        left = deadline - loop.time()
        if left <= 0:
            why = f" (last error: {last})" if last is not None and pr is None else ""
            raise ActuationError(
                f"pull request #{change.pr_number} ({change.pr_url}) not merged within "
                f"{timeout:g} s{why}",
                retryable=True,
                code="merge-timeout",
            )
        await asyncio.sleep(min(cfg.poll_interval, left))


# -- reads of the tracked branch (the replay's steady state, the image history) -------------------


async def read_tracked(*, cfg: GitOpsConfig, paths: list[str]) -> dict[str, str | None]:
    """The app's files (relative to `app_path`) at the tip of the tracked branch."""
    repo = _repo(cfg)
    tracked = f"refs/remotes/origin/{cfg.branch}"
    async with _lock(str(cfg.work_dir)):
        await repo.open()
        await repo.fetch(f"+refs/heads/{cfg.branch}:{tracked}")
        base = await repo.rev(tracked)
        if base is None:
            raise ActuationError(f"branch {cfg.branch} not found at {cfg.remote_url}",
                                 escalate=True, code="git")  # fmt: skip
        return {p: await repo.read(base, f"{cfg.app_path}/{PurePosixPath(p)}") for p in paths}


async def history(*, cfg: GitOpsConfig, path: str, limit: int = 50) -> list[tuple[str, str]]:
    """(commit, text) of each commit of the tracked branch that changed `path`, newest first."""
    repo = _repo(cfg)
    tracked = f"refs/remotes/origin/{cfg.branch}"
    full = f"{cfg.app_path}/{PurePosixPath(path)}"
    async with _lock(str(cfg.work_dir)):
        await repo.open()
        await repo.fetch(f"+refs/heads/{cfg.branch}:{tracked}")
        _, out, _ = await repo.run("log", f"-n{limit}", "--format=%H", tracked, "--", full)
        found = []
        for commit in out.split():
            text = await repo.read(commit, full)
            if text is not None:
                found.append((commit, text))
        return found
