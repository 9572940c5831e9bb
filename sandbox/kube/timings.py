"""How fast the simulated controllers move (slow enough to watch in the demo, fast in tests)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Timings:
    tick: float = 0.25  # how often the controllers look at the store
    operator_step: float = 2.0  # one Flink operator transition (UPGRADING -> DEPLOYED -> RUNNING)
    stable_period: float = 10.0  # RUNNING this long -> lifecycle STABLE
    argocd_refresh: float = 5.0  # git poll + live diff (real Argo CD: 120 s + jitter)
    argocd_sync: float = 1.0  # how long an operation stays Running before it applies
    selfheal_backoff: float = 2.0  # first self-heal delay; x3 per attempt, capped at 300 s

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


NORMAL = Timings()
FAST = Timings(
    tick=0.05,
    operator_step=0.15,
    stable_period=0.4,
    argocd_refresh=0.2,
    argocd_sync=0.4,
    selfheal_backoff=0.2,
)


def resolve(value: Timings | str | dict[str, Any]) -> Timings:
    if isinstance(value, Timings):
        return value
    if isinstance(value, dict):
        return Timings(**value)
    presets = {"normal": NORMAL, "fast": FAST}
    if value not in presets:
        raise ValueError(f"unknown timings preset {value!r}; use one of {sorted(presets)}")
    return presets[value]
