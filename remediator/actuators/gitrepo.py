"""The remediator's clone of the GitOps repository, driven through git's plumbing in asyncio
subprocesses: a bare repository (no working tree that a crash could leave half-edited), commits
built from a base revision in a private index, pushes whose rejections are classified.

Credentials never appear on a command line or in a URL: an https token travels as an
`http.extraHeader` and push options as `push.pushOption`, both through `GIT_CONFIG_*`
environment variables; git's system and global config are ignored so that no credential helper
stores them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from remediator.actuators import ActuationError

PushOutcome = Literal["ok", "non-fast-forward"]
_NON_FF = ("non-fast-forward", "fetch first", "stale info", "atomic push failed")


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


class GitRepo:
    def __init__(
        self,
        git_dir: Path,
        url: str,
        *,
        identity: Identity,
        token: str | None,
        push_option: str | None,
        timeout: float,
        ca_file: str | None = None,
        verify_tls: bool = True,
    ) -> None:
        self.git_dir = git_dir
        self.url = url
        self.timeout = timeout
        self._secrets = [s for s in (token, push_option) if s]
        # the deployment's ssh settings stay; any other GIT_* could redirect this clone
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("GIT_") or k in ("GIT_SSH", "GIT_SSH_COMMAND")
        }
        base.update(
            GIT_TERMINAL_PROMPT="0",
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            LC_ALL="C",
            GIT_AUTHOR_NAME=identity.name,
            GIT_AUTHOR_EMAIL=identity.email,
            GIT_COMMITTER_NAME=identity.name,
            GIT_COMMITTER_EMAIL=identity.email,
        )
        self._env = base
        config: list[tuple[str, str]] = []
        if ca_file:
            config.append(("http.sslCAInfo", ca_file))
        if not verify_tls:
            config.append(("http.sslVerify", "false"))
        if token and urlparse(url).scheme in ("http", "https"):
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            config.append(("http.extraHeader", f"Authorization: Basic {basic}"))
        self._remote_env = _config_env(base, config)
        self._push_env = _config_env(
            base, config + ([("push.pushOption", push_option)] if push_option else [])
        )

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def run(
        self,
        *args: str,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> tuple[int, str, str]:
        """`git --git-dir=<clone> args...`: (returncode, stdout, stderr); raise on failure when
        `check`, with git's message (scrubbed) and the command's name."""
        environ = dict(env or self._env)
        environ.update(extra_env or {})
        proc = await asyncio.create_subprocess_exec(
            "git",
            f"--git-dir={self.git_dir}",
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environ,
        )
        try:
            out, err = await asyncio.wait_for(
                proc.communicate(stdin.encode() if stdin is not None else None), self.timeout
            )
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise ActuationError(
                f"git {args[0]} took longer than {self.timeout:g} s", retryable=True, code="timeout"
            ) from None
        code = proc.returncode or 0
        stdout, stderr = out.decode(errors="replace"), self.scrub(err.decode(errors="replace"))
        if check and code != 0:
            raise ActuationError(
                f"git {args[0]} failed: {_last_lines(stderr)}", retryable=True, code="git"
            )
        return code, stdout, stderr

    async def open(self) -> None:
        """Create the bare clone on first use (it keeps its objects between runs)."""
        if not (self.git_dir / "HEAD").is_file():
            self.git_dir.mkdir(parents=True, exist_ok=True)
            await self.run("init", "-q", "--bare")

    async def fetch(self, *refspecs: str) -> None:
        code, _, err = await self.run(
            "fetch", "-q", "--prune", "--no-tags", self.url, *refspecs,
            env=self._remote_env, check=False,
        )  # fmt: skip
        if code != 0:
            raise _remote_error("fetch", self.url, err)

    async def rev(self, ref: str) -> str | None:
        code, out, _ = await self.run(
            "rev-parse", "-q", "--verify", f"{ref}^{{commit}}", check=False
        )
        return out.strip() if code == 0 else None

    async def is_ancestor(self, older: str, newer: str) -> bool:
        code, _, _ = await self.run("merge-base", "--is-ancestor", older, newer, check=False)
        return code == 0

    async def tree(self, commit: str) -> str:
        return (await self.run("rev-parse", f"{commit}^{{tree}}"))[1].strip()

    async def read(self, commit: str, path: str) -> str | None:
        code, out, _ = await self.run("cat-file", "blob", f"{commit}:{path}", check=False)
        return out if code == 0 else None

    async def commit(self, base: str, files: dict[str, str], message: str) -> str:
        """A commit on top of `base` whose tree is base's with `files` replaced."""
        index = self.git_dir / f"remediator-index-{os.getpid()}"
        extra = {"GIT_INDEX_FILE": str(index)}
        try:
            await self.run("read-tree", base, extra_env=extra)
            for path, text in files.items():
                blob = (await self.run("hash-object", "-w", "--stdin", stdin=text))[1].strip()
                _, entry, _ = await self.run("ls-tree", base, "--", path)
                mode = entry.split(" ", 1)[0] if entry.strip() else "100644"
                await self.run(
                    "update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}",
                    extra_env=extra,
                )  # fmt: skip
            tree = (await self.run("write-tree", extra_env=extra))[1].strip()
        finally:
            index.unlink(missing_ok=True)
        _, out, _ = await self.run("commit-tree", "--no-gpg-sign", tree, "-p", base, "-F", "-",
                                   stdin=message)  # fmt: skip
        return out.strip()

    async def diff(self, old: str, new: str) -> str:
        return (await self.run("diff", "--no-color", "--no-ext-diff", old, new))[1]

    async def push(self, refspecs: list[str], *, leases: list[str], atomic: bool) -> PushOutcome:
        """Push; "non-fast-forward" when the remote moved (fetch, re-apply, try again);
        ActuationError when the remote refused (branch protection: a person must act)."""
        args = ["push", "--porcelain", *(["--atomic"] if atomic else [])]
        args += [f"--force-with-lease={lease}" for lease in leases]
        code, out, err = await self.run(*args, self.url, *refspecs, env=self._push_env, check=False)
        if code == 0:
            return "ok"
        rejected = [line for line in out.splitlines() if line.startswith("!")]
        refused = [line for line in rejected if "[remote rejected]" in line]
        if refused:
            remote = [ln.removeprefix("remote: ").strip() for ln in err.splitlines()
                      if ln.startswith("remote:") and ln.strip() != "remote:"]  # fmt: skip
            why = "; ".join(remote) or refused[0].split("\t")[-1]
            raise ActuationError(
                f"the git remote refused the push to {_refs(refused)}: {self.scrub(why)}",
                escalate=True,
                code="push-refused",
            )
        if rejected and all(any(r in line for r in _NON_FF) for line in rejected):
            return "non-fast-forward"
        raise _remote_error("push", self.url, err or out)


def _config_env(base: dict[str, str], pairs: list[tuple[str, str]]) -> dict[str, str]:
    env = dict(base)
    env["GIT_CONFIG_COUNT"] = str(len(pairs))
    for i, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
    return env


def _refs(lines: list[str]) -> str:
    return ", ".join(line.split("\t")[1].split(":")[-1] for line in lines if "\t" in line)


def _last_lines(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:]) or "(no message)"


def _remote_error(what: str, url: str, stderr: str) -> ActuationError:
    message = _last_lines(stderr)
    denied = any(
        s in message
        for s in ("Authentication failed", "Permission denied", "403", "401", "not found")
    )
    return ActuationError(
        f"git {what} {url}: {message}",
        retryable=not denied,
        escalate=denied,
        code="git-auth" if denied else "git",
    )
