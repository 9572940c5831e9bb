"""A plan: the ordered steps of one procedure for one install, and why each is there."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

StepKind = Literal["observe", "reversible", "destructive", "verify"]


@dataclass(frozen=True)
class Step:
    name: str  # pause_trading, suspend_job, drop_partition, resume_job, restart_replica, ...
    kind: StepKind
    why: str
    target: dict[str, str] = field(default_factory=dict)
    # policy's answer for this step: a person must approve it before it runs
    needs_approval: bool = False
    approval_reason: str = ""


@dataclass(frozen=True)
class Plan:
    procedure: str  # A, B, trading_gate
    shape: str  # A-full, A-pressure, A-predicted, B, trading-gate, or "refused"
    steps: tuple[Step, ...] = ()
    # not acting: the run's cause is not what the procedure fixes, or a fact is unknown
    refused: str | None = None
    # acting would not fix it: a person must (with the numbers they need)
    escalate: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def actionable(self) -> bool:
        return self.refused is None and bool(self.steps)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def refused(procedure: str, reason: str, *notes: str) -> Plan:
    return Plan(procedure, "refused", refused=reason, notes=notes)
