"""Pull request handlers of the GitHub REST stand-in, on the sandbox's bare git remotes.

Mergeability is computed as GitHub does, in the background: a pull request reads
`mergeable: null` when created and whenever its base or head moved since the last computation;
the read that finds it stale starts the computation, and later reads see true or false.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from sandbox.github import gitops_ops as g
from sandbox.github.access import GitHubError, Token
from sandbox.github.hub import HUB, Hub, Repo
from sandbox.github.hub import run_git as _git
from sandbox.github.model import DOCS, PullRequest, now_iso, pull_json

log = logging.getLogger(__name__)


def _repo(request: web.Request, doc: str) -> Repo:
    hub = request.app[HUB]
    repo = hub.repos.get(f"{request.match_info['owner']}/{request.match_info['repo']}")
    if repo is None or request.get("who") is None:  # private repos: 404 without a token
        raise GitHubError(404, "Not Found", f"{DOCS}#{doc}")
    return repo


def _writer(request: web.Request, doc: str) -> Token:
    who: Token = request["who"]
    if who.permission != "write":
        raise GitHubError(403, "Resource not accessible by personal access token", f"{DOCS}#{doc}")
    return who


def find_pull(repo: Repo, request: web.Request, doc: str) -> PullRequest:
    number = request.match_info["number"]
    pr = repo.pulls.get(int(number)) if number.isdigit() else None
    if pr is None:
        raise GitHubError(404, "Not Found", f"{DOCS}#{doc}")
    return pr


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.can_read_body else {}
    except json.JSONDecodeError:
        raise GitHubError(400, "Problems parsing JSON") from None
    if not isinstance(body, dict):
        raise GitHubError(400, "Problems parsing JSON")
    return body


def _invalid(doc: str, **item: str) -> GitHubError:
    return GitHubError(422, "Validation Failed", f"{DOCS}#{doc}", errors=[item])


def _render(request: web.Request, repo: Repo, pr: PullRequest, *, full: bool = True) -> Any:
    hub = request.app[HUB]
    return pull_json(
        pr, base_url=hub.base_url, full_name=repo.full_name, default_branch=repo.default_branch,
        full=full,
        required_approvals=hub.required_approvals,
    )  # fmt: skip


async def _refresh(hub: Hub, repo: Repo, pr: PullRequest) -> None:
    """Follow the head and base branches of an open PR; start a mergeability computation when
    what it was computed for moved."""
    if pr.state != "open":
        return
    head = await _git(g.branch_sha, repo.path, pr.head_ref)
    base = await _git(g.branch_sha, repo.path, pr.base_ref)
    if head is None or base is None:
        return
    pr.head_sha, pr.base_sha = head, base
    key = (base, head)
    if key in (pr.mergeable_for, pr.computing_for):
        return
    pr.mergeable, pr.mergeable_for, pr.computing_for = None, None, key

    async def compute() -> None:
        try:
            tree = await _git(g.merge_tree, repo.path, base, head)
            pr.commits = await _git(g.commit_count, repo.path, base, head)
            pr.additions, pr.deletions, pr.changed_files = await _git(
                g.diff_stats, repo.path, base, head
            )
        except g.GitError:
            log.exception("mergeability of #%s", pr.number)
            pr.computing_for = None  # stays null; the next read tries again
            return
        if pr.computing_for == key:  # nothing moved meanwhile
            pr.mergeable, pr.mergeable_for, pr.computing_for = tree is not None, key, None

    task = asyncio.get_running_loop().create_task(compute())
    hub.tasks.add(task)
    task.add_done_callback(hub.tasks.discard)


def _branch(value: object, owner: str, field_name: str, doc: str) -> str:
    if not isinstance(value, str) or not value:
        raise _invalid(doc, resource="PullRequest", code="missing_field", field=field_name)
    prefix, sep, name = value.rpartition(":")
    if sep and prefix != owner:
        raise _invalid(doc, resource="PullRequest", field=field_name, code="invalid")
    return name


async def create_pull(request: web.Request) -> web.StreamResponse:
    doc = "create-a-pull-request"
    repo = _repo(request, doc)
    who = _writer(request, doc)
    body = await json_body(request)
    owner = repo.full_name.split("/")[0]
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        raise _invalid(doc, resource="PullRequest", code="missing_field", field="title")
    head = _branch(body.get("head"), owner, "head", doc)
    base = _branch(body.get("base"), owner, "base", doc)
    async with repo.lock:
        head_sha = await _git(g.branch_sha, repo.path, head)
        base_sha = await _git(g.branch_sha, repo.path, base)
        if base_sha is None:
            raise _invalid(doc, resource="PullRequest", field="base", code="invalid")
        if head_sha is None:
            raise _invalid(doc, resource="PullRequest", field="head", code="invalid")
        for other in repo.pulls.values():
            if other.state == "open" and (other.head_ref, other.base_ref) == (head, base):
                message = f"A pull request already exists for {owner}:{head}."
                raise _invalid(doc, resource="PullRequest", code="custom", message=message)
        if await _git(g.is_ancestor, repo.path, head_sha, base_sha):
            message = f"No commits between {base} and {head}"
            raise _invalid(doc, resource="PullRequest", code="custom", message=message)
        number = max(repo.pulls, default=0) + 1
        pr = PullRequest(
            number=number, owner=owner, title=title, body=body.get("body"), head_ref=head,
            base_ref=base, head_sha=head_sha, base_sha=base_sha, user=who.login,
            draft=bool(body.get("draft", False)),
            commits=await _git(g.commit_count, repo.path, base_sha, head_sha),
        )  # fmt: skip
        repo.pulls[number] = pr
    data = _render(request, repo, pr)
    return web.json_response(data, status=201, headers={"Location": data["url"]})


async def get_pull(request: web.Request) -> web.StreamResponse:
    repo = _repo(request, "get-a-pull-request")
    pr = find_pull(repo, request, "get-a-pull-request")
    await _refresh(request.app[HUB], repo, pr)
    return web.json_response(_render(request, repo, pr))


async def list_pulls(request: web.Request) -> web.StreamResponse:
    doc = "list-pull-requests"
    repo = _repo(request, doc)
    q = request.query
    state = q.get("state", "open")
    if state not in ("open", "closed", "all"):
        raise _invalid(doc, resource="Issue", field="state", code="invalid")
    pulls = [p for p in repo.pulls.values() if state == "all" or p.state == state]
    if "head" in q:
        owner, _, ref = q["head"].rpartition(":")
        pulls = [p for p in pulls if (p.owner, p.head_ref) == (owner, ref)]
    if "base" in q:
        pulls = [p for p in pulls if p.base_ref == q["base"]]
    key = "updated_at" if q.get("sort") == "updated" else "created_at"
    pulls.sort(key=lambda p: (getattr(p, key), p.number), reverse=q.get("direction") != "asc")
    per_page = max(1, min(int(q.get("per_page", "30") or 30), 100))
    page = max(1, int(q.get("page", "1") or 1))
    chosen = pulls[(page - 1) * per_page : page * per_page]
    return web.json_response([_render(request, repo, p, full=False) for p in chosen])


async def update_pull(request: web.Request) -> web.StreamResponse:
    doc = "update-a-pull-request"
    repo = _repo(request, doc)
    _writer(request, doc)
    pr = find_pull(repo, request, doc)
    body = await json_body(request)
    state = body.get("state")
    if state is not None and state not in ("open", "closed"):
        raise _invalid(doc, resource="PullRequest", field="state", code="invalid")
    async with repo.lock:
        if state == "open" and pr.state == "closed":
            if pr.merged:
                raise _invalid(doc, resource="PullRequest", code="custom",
                               message="Cannot reopen a merged pull request")  # fmt: skip
            for other in repo.pulls.values():
                if other.state == "open" and (other.head_ref, other.base_ref) == (
                    pr.head_ref, pr.base_ref,
                ):  # fmt: skip
                    message = f"A pull request already exists for {pr.owner}:{pr.head_ref}."
                    raise _invalid(doc, resource="PullRequest", code="custom", message=message)
            pr.state, pr.closed_at = "open", None
        elif state == "closed" and pr.state == "open":
            pr.state, pr.closed_at = "closed", now_iso()
        for key in ("title", "body"):
            if key in body:
                setattr(pr, key, body[key])
        if "base" in body:
            pr.base_ref, pr.mergeable_for = _branch(body["base"], pr.owner, "base", doc), None
        pr.updated_at = now_iso()
    await _refresh(request.app[HUB], repo, pr)
    return web.json_response(_render(request, repo, pr))


async def check_merged(request: web.Request) -> web.StreamResponse:
    doc = "check-if-a-pull-request-has-been-merged"
    repo = _repo(request, doc)
    pr = find_pull(repo, request, doc)
    if not pr.merged:
        raise GitHubError(404, "Not Found", f"{DOCS}#{doc}")
    return web.Response(status=204)


async def merge_pull(request: web.Request) -> web.StreamResponse:
    doc = "merge-a-pull-request"
    repo = _repo(request, doc)
    who = _writer(request, doc)
    pr = find_pull(repo, request, doc)
    body = await json_body(request)
    hub = request.app[HUB]
    if len(pr.approved_by) < hub.required_approvals and pr.state == "open":
        n = hub.required_approvals
        message = f"At least {n} approving review{'s are' if n > 1 else ' is'} required by reviewers with write access."
        raise GitHubError(405, message, f"{DOCS}#{doc}")
    return await do_merge(request, repo, pr, body, who.login)


async def do_merge(
    request: web.Request, repo: Repo, pr: PullRequest, body: dict[str, Any], login: str
) -> web.StreamResponse:
    doc = f"{DOCS}#merge-a-pull-request"
    method = body.get("merge_method", "merge")
    if method not in ("merge", "squash", "rebase"):
        raise _invalid("merge-a-pull-request", resource="PullRequest", field="merge_method",
                       code="invalid")  # fmt: skip
    if method == "rebase":
        raise GitHubError(405, "Rebase merges are not allowed on this repository.", doc)
    async with repo.lock:
        if pr.state != "open":
            raise GitHubError(405, "Pull Request is not mergeable", doc)
        head = await _git(g.branch_sha, repo.path, pr.head_ref)
        base = await _git(g.branch_sha, repo.path, pr.base_ref)
        if head is None or base is None:
            raise GitHubError(405, "Pull Request is not mergeable", doc)
        if body.get("sha") not in (None, head):
            raise GitHubError(409, "Head branch was modified. Review and try the merge again.", doc)
        if method == "squash":
            title = body.get("commit_title") or f"{pr.title} (#{pr.number})"
        else:
            title = body.get("commit_title") or (
                f"Merge pull request #{pr.number} from {pr.owner}/{pr.head_ref}"
            )
        extra = body.get("commit_message", pr.title if method == "merge" else pr.body or "")
        message = f"{title}\n\n{extra}" if extra else title
        author = g.Author(login, f"{login}@users.noreply.github.com")
        try:
            sha = await _git(
                lambda: g.commit_merge(
                    repo.path, base_ref=pr.base_ref, base_sha=base, head_sha=head,
                    message=message, author=author, squash=method == "squash",
                )
            )  # fmt: skip
        except g.GitError:
            raise GitHubError(
                405, "Base branch was modified. Review and try the merge again.", doc
            ) from None
        if sha is None:
            pr.mergeable, pr.mergeable_for = False, (base, head)
            raise GitHubError(405, "Pull Request is not mergeable", doc)
        pr.head_sha, pr.base_sha = head, base
        pr.state = "closed"
        pr.merged_at = pr.closed_at = pr.updated_at = now_iso()
        pr.merge_commit_sha, pr.merged_by = sha, login
    return web.json_response(
        {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
    )
