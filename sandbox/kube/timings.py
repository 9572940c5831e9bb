"""How fast the simulated controllers move: three presets.

- `fast`: tests (every step a fraction of a second).
- `middle`: the demo (slow enough to watch, quick enough to wait for).
- `realistic`: a real cluster's pace, so a test can prove the remediator does not depend on the
  sandbox being fast: Argo CD polls git every 120 s plus up to 60 s of jitter
  (`timeout.reconciliation` / `timeout.reconciliation.jitter`), a sync runs for seconds, the
  Flink operator takes tens of seconds per step (JobManager start, job submission) and marks a
  deployment STABLE after a minute of RUNNING; self-heal backs off from 2 s (x3, cap 300 s) as
  Argo CD's does by default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Timings:
    tick: float = 0.25  # how often the controllers look at the store
    operator_step: float = 2.0  # one Flink operator transition (UPGRADING -> DEPLOYED -> RUNNING)
    stable_period: float = 10.0  # RUNNING this long -> lifecycle STABLE
    argocd_refresh: float = 5.0  # git poll + live diff (real Argo CD: 120 s + jitter)
    argocd_refresh_jitter: float = 0.0  # up to this much added to each poll interval
    argocd_sync: float = 1.0  # how long an operation stays Running before it applies
    selfheal_backoff: float = 2.0  # first self-heal delay; x3 per attempt, capped at 300 s

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MIDDLE = Timings()
FAST = Timings(
    tick=0.05,
    operator_step=0.15,
    stable_period=0.4,
    argocd_refresh=0.2,
    argocd_sync=0.4,
    selfheal_backoff=0.2,
)
REALISTIC = Timings(
    tick=1.0,
    operator_step=20.0,
    stable_period=60.0,
    argocd_refresh=120.0,
    argocd_refresh_jitter=60.0,
    argocd_sync=5.0,
    selfheal_backoff=2.0,
)
PRESETS = {"fast": FAST, "middle": MIDDLE, "realistic": REALISTIC}
ALIASES = {"normal": "middle"}  # the name `middle` had before the realistic preset existed


def resolve(value: Timings | str | dict[str, Any]) -> Timings:
    if isinstance(value, Timings):
        return value
    if isinstance(value, dict):
        return Timings(**value)
    name = ALIASES.get(value, value)
    if name not in PRESETS:
        raise ValueError(f"unknown timings preset {value!r}; use one of {sorted(PRESETS)}")
    return PRESETS[name]
