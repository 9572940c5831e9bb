"""`python -m sandbox.github --port P --repo owner/name=/path/to/bare.git --tokens-file F
--admin-token-file A`: the GitHub REST stand-in."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from aiohttp import web

from sandbox.github import gitops_ops
from sandbox.github.access import Limits, load_tokens
from sandbox.github.hub import Hub, Repo
from sandbox.github.server import make_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sandbox.github", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--repo", action="append", default=[], help="owner/name=/path/to/bare.git")
    p.add_argument(
        "--tokens-file", type=Path, required=True, help="JSON {token: {login, permission}}"
    )
    p.add_argument("--admin-token-file", type=Path, required=True)
    p.add_argument("--rate-limit", type=int, default=5000, help="requests per window per token")
    p.add_argument("--rate-window", type=float, default=3600.0, help="seconds")
    p.add_argument("--primary-status", type=int, choices=(403, 429), default=403)
    p.add_argument("--required-approvals", type=int, default=0)
    args = p.parse_args(argv)
    for spec in args.repo:
        name, sep, path = spec.partition("=")
        if not sep or name.count("/") != 1 or not path:
            p.error(f"--repo must look like owner/name=/path/to/bare.git, got {spec!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    repos = {}
    for spec in args.repo:
        name, _, path = spec.partition("=")
        bare = Path(path).resolve()
        repos[name] = Repo(name, bare, default_branch=gitops_ops.default_branch(bare))
    hub = Hub(
        base_url=f"http://{args.host}:{args.port}",
        repos=repos,
        tokens=load_tokens(args.tokens_file.read_text()),
        admin_token=args.admin_token_file.read_text().strip(),
        limits=Limits(
            limit=args.rate_limit, window=args.rate_window, primary_status=args.primary_status
        ),
        required_approvals=args.required_approvals,
    )
    logging.info("GitHub REST stand-in for %s on %s", ", ".join(repos), hub.base_url)
    web.run_app(make_app(hub), host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
