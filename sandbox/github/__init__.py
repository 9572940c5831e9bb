"""A GitHub REST stand-in for pull requests on the sandbox's bare git remotes.

Pull requests: create, get, list, update (close/reopen), merge, check-merged, with GitHub's
bodies for 401/403/404/405/409/422, `x-ratelimit-*` headers and primary/secondary rate limits.
A merge writes a real merge (or squash) commit into the bare remote, so anything that reads the
remote (the simulated Argo CD) sees it. `launch(workdir, repos=...)` returns a Service.
"""

from sandbox.github.launcher import LOGIN, launch

__all__ = ["LOGIN", "launch"]
