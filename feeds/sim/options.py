"""The simulator's knobs, in one frozen value that the CLI builds and the model reads."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What to simulate. docs/simulator.md explains every field and the rates it produces.

    ``speed`` compresses time: arrivals come ``speed`` times as often and every duration and
    position interval is ``speed`` times shorter. Calendar things (the diurnal curve, shifts,
    working days, deadlines) stay on the wall clock, because timestamps are real clock times.
    """

    events_per_day: float = 8000
    workers: int = 10000
    seed: int | None = None
    speed: float = 1.0
    backfill: bool = True
    history_days: int = 0  # backfill also starts this many whole days before today
    burst_per_second: float = 0.0  # extra new incidents per real second, for load tests
    burst_seconds: float = 60.0  # how long the burst lasts once live emission starts
    duplicate_rate: float = 0.0  # share of event steps sent a second time, identical, later
    reorder_rate: float = 0.0  # share of event steps emitted after the incident's next step

    def __post_init__(self) -> None:
        for name in ("events_per_day", "burst_per_second", "burst_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if not 0 <= self.history_days <= 2:
            raise ValueError("history_days must be 0, 1 or 2 (the validated log keeps 72 h)")
        if self.workers < 0:
            raise ValueError("workers must be >= 0")
        if not 0 < self.speed <= 10_000:
            raise ValueError("speed must be in (0, 10000]")
        for name in ("duplicate_rate", "reorder_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1]")

    def resolved(self) -> SimConfig:
        """This config with a concrete seed, so a run can be told and repeated."""
        if self.seed is not None:
            return self
        return replace(self, seed=secrets.randbits(31))
