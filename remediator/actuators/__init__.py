"""Actuators: the only remediator code that changes the world (git, Argo CD, Kubernetes,
ClickHouse, Alertmanager). I/O only, keyword-only async functions; every decision about *whether*
to act is made before they are called (procedures, policy, the executor).

The contract every actuator shares:
- it raises `ActuationError` when the change did not happen or its effect is unknown; the
  message is one line a person can act on and never holds a secret;
- `retryable` says whether calling again is safe (a 409, a 5xx, a rejected non-fast-forward
  push, a timeout of an idempotent call), `escalate` that a person must act (403, 422, a disk so
  full that DROP PARTITION fails with Code 243, a partition too large to drop);
- just before each change it calls `fence()` (when given), which raises `NotLeader` when this
  process may no longer act (the leader Lease was lost): nothing is changed after that.
"""

from __future__ import annotations

from collections.abc import Callable


class ActuationError(RuntimeError):
    def __init__(
        self, message: str, *, retryable: bool = False, escalate: bool = False, code: str = ""
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.escalate = escalate
        self.code = code  # e.g. "409", "243", "non-fast-forward"


class NotLeader(ActuationError):
    """This process no longer holds the leader Lease: it must not act."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False, escalate=False, code="not-leader")


Fence = Callable[[], None]  # raises NotLeader
# told a pull request's branch and URL as soon as it exists, before its merge is waited for
Opened = Callable[[dict[str, str]], None]


def no_fence() -> None:
    """For tools and tests that act without a Lease (never the server)."""
