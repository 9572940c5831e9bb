"""Git operations the hosting stand-in runs on a bare repository, server-side as a host does:
branch lookups, mergeability (`git merge-tree --write-tree`, git >= 2.38) and merges that move
the base branch with a compare-and-swap `update-ref` (no push, so no pre-receive hook: the host
itself is what branch protection lets through)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

COMMITTER = ("GitHub", "noreply@github.com")


class GitError(RuntimeError):
    """A git command failed; the message carries git's own words."""


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=False, env=full_env
    )
    return proc.returncode, proc.stdout.strip(), proc.stderr.strip()


def _ok(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    code, out, err = _git(repo, *args, env=env)
    if code != 0:
        raise GitError(f"git {' '.join(args)} in {repo}: {err or out}")
    return out


def branch_sha(repo: Path, branch: str) -> str | None:
    """The commit `refs/heads/<branch>` points at, or None when there is no such branch."""
    code, out, _ = _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
    return out if code == 0 and out else None


def default_branch(repo: Path) -> str:
    return _ok(repo, "symbolic-ref", "--short", "HEAD")


def is_ancestor(repo: Path, older: str, newer: str) -> bool:
    return _git(repo, "merge-base", "--is-ancestor", older, newer)[0] == 0


def commit_count(repo: Path, base: str, head: str) -> int:
    return int(_ok(repo, "rev-list", "--count", f"{base}..{head}"))


def diff_stats(repo: Path, base: str, head: str) -> tuple[int, int, int]:
    """(additions, deletions, changed_files) of head against its merge base with base."""
    out = _ok(repo, "diff", "--numstat", f"{base}...{head}")
    adds = dels = files = 0
    for line in out.splitlines():
        a, d, _ = line.split("\t", 2)
        adds += int(a) if a.isdigit() else 0
        dels += int(d) if d.isdigit() else 0
        files += 1
    return adds, dels, files


def merge_tree(repo: Path, base: str, head: str) -> str | None:
    """The tree of merging head into base, or None when they conflict."""
    code, out, err = _git(repo, "merge-tree", "--write-tree", "--no-messages", base, head)
    if code == 0:
        return out.splitlines()[0]
    if code == 1:
        return None
    raise GitError(f"git merge-tree {base} {head}: {err or out}")


@dataclass(frozen=True)
class Author:
    name: str
    email: str


def commit_merge(
    repo: Path, *, base_ref: str, base_sha: str, head_sha: str, message: str, author: Author,
    squash: bool,
) -> str | None:  # fmt: skip
    """Write the merge (or squash) commit and move `base_ref` from `base_sha` to it.

    Returns the new sha; None when the trees conflict. Raises GitError when the base moved
    meanwhile (the compare-and-swap failed)."""
    tree = merge_tree(repo, base_sha, head_sha)
    if tree is None:
        return None
    parents = ["-p", base_sha] if squash else ["-p", base_sha, "-p", head_sha]
    env = {
        "GIT_AUTHOR_NAME": author.name,
        "GIT_AUTHOR_EMAIL": author.email,
        "GIT_COMMITTER_NAME": COMMITTER[0],
        "GIT_COMMITTER_EMAIL": COMMITTER[1],
    }
    sha = _ok(repo, "commit-tree", tree, *parents, "-m", message, env=env)
    _ok(repo, "update-ref", "-m", "merge pull request", f"refs/heads/{base_ref}", sha, base_sha)
    return sha
