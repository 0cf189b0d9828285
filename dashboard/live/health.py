"""The bridge's health as explicit state: what /healthz and every beat say about it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypedDict

from dashboard.live.rebuild import Progress, ProgressReport

STALLED_AFTER_S = 5.0  # a bridge that has not read for this long is down (a healthy one: ≤ 1 s)

BridgeState = Literal["rebuilding", "ok", "down", "restarting"]


class HealthReport(TypedDict):
    state: BridgeState
    rebuild: ProgressReport | None  # while rebuilding: how far
    last_read_age_s: float | None
    last_step_age_s: float | None
    errors: int
    restarts: int


@dataclass
class BridgeHealth:
    state: BridgeState = "rebuilding"  # ok; down: Redis away; restarting: after a bug
    last_read: float = 0.0  # monotonic time of the last successful read from Redis
    last_step: float = 0.0  # monotonic time the last event step was applied
    errors: int = 0  # entries skipped, and housekeeping rounds that failed
    restarts: int = 0
    progress: Progress | None = None  # of the rebuild under way

    def status(self) -> BridgeState:
        if self.state == "ok" and time.monotonic() - self.last_read > STALLED_AFTER_S:
            return "down"  # a read that hangs (a stalled Redis) before its timeout says so
        return self.state

    def report(self) -> HealthReport:
        now = time.monotonic()
        rebuilding = self.state == "rebuilding" and self.progress is not None
        return {
            "state": self.status(),
            "rebuild": self.progress.report() if rebuilding and self.progress else None,
            "last_read_age_s": round(now - self.last_read, 3) if self.last_read else None,
            "last_step_age_s": round(now - self.last_step, 3) if self.last_step else None,
            "errors": self.errors,
            "restarts": self.restarts,
        }


class Guarded:
    """Runs a loop's named jobs: a failing one is counted in the health, logged once (until it
    works again) and skipped, so one broken figure never stops the loop that runs it."""

    def __init__(self, health: BridgeHealth, log: logging.Logger, loop: str) -> None:
        self.health = health
        self.log = log
        self.loop = loop
        self.failing: set[str] = set()

    def __call__(self, name: str, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:
            self.health.errors += 1
            if name not in self.failing:
                self.failing.add(name)
                self.log.exception("%s: %s failed (logged once until it recovers)", self.loop, name)
            return
        self.failing.discard(name)
