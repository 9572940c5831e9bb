"""Read an Argo CD source (git repo + revision + path) the way the repo-server does: fetch into
a local mirror, resolve the revision to a commit, parse every YAML/JSON manifest under the path."""

from __future__ import annotations

import asyncio
import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class SourceError(Exception):
    """The repo, revision or a manifest could not be read; the message says which."""


@dataclass(frozen=True)
class Manifests:
    revision: str  # the resolved commit sha
    objects: list[dict[str, Any]]


async def _git(*args: str, cwd: Path | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        "git",
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise SourceError(f"git {' '.join(args)}: {err.decode().strip()}")
    return out.decode()


class GitSource:
    """Mirrors of the repos Applications name, kept under `cache_dir`."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._locks: dict[str, asyncio.Lock] = {}
        # a commit's tree never changes: parse it once, not on every refresh
        self._parsed: dict[tuple[str, str, str, bool], Manifests] = {}

    async def fetch(self, repo_url: str) -> Path:
        if not repo_url:
            raise SourceError("spec.source.repoURL is empty")
        mirror = self.cache_dir / hashlib.sha256(repo_url.encode()).hexdigest()[:16]
        async with self._locks.setdefault(repo_url, asyncio.Lock()):
            if (mirror / "HEAD").exists():
                await _git("fetch", "-q", "--prune", "origin", cwd=mirror)
            else:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                await _git("clone", "-q", "--mirror", repo_url, str(mirror))
        return mirror

    async def manifests(
        self, repo_url: str, revision: str, path: str, *, recurse: bool = False
    ) -> Manifests:
        mirror = await self.fetch(repo_url)
        sha = await _git("rev-parse", "--verify", f"{revision or 'HEAD'}^{{commit}}", cwd=mirror)
        sha = sha.strip()
        key = (repo_url, sha, path, recurse)
        if key in self._parsed:
            cached = self._parsed[key]
            return Manifests(cached.revision, copy.deepcopy(cached.objects))
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        listing = await _git("ls-tree", "-r", "--name-only", sha, "--", prefix or ".", cwd=mirror)
        files = sorted(
            f
            for f in listing.splitlines()
            if f.endswith(MANIFEST_SUFFIXES) and (recurse or "/" not in f[len(prefix) :])
        )
        if not files and not listing.strip():
            raise SourceError(f"app path does not exist: {path!r} at {revision!r}")
        objects: list[dict[str, Any]] = []
        for f in files:
            text = await _git("show", f"{sha}:{f}", cwd=mirror)
            try:
                docs = list(yaml.safe_load_all(text))
            except yaml.YAMLError as exc:
                raise SourceError(f"failed to parse {f}: {exc}") from exc
            for doc in docs:
                if doc is None:
                    continue
                if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                    raise SourceError(f"{f}: a manifest needs apiVersion and kind")
                objects.append(doc)
        if len(self._parsed) > 256:
            self._parsed.clear()
        self._parsed[key] = Manifests(revision=sha, objects=copy.deepcopy(objects))
        return Manifests(revision=sha, objects=objects)

    async def resolve(self, repo_url: str, revision: str) -> str:
        mirror = await self.fetch(repo_url)
        out = await _git("rev-parse", "--verify", f"{revision or 'HEAD'}^{{commit}}", cwd=mirror)
        return out.strip()
