"""How one incident lives: which steps, held at which level, and when each happens.

The whole life is planned at report time (all later steps are then just due times in a heap).
Durations are log-normal around medians that match how grid governance works: a worker fixes a
blocked drain in minutes, a town law-enforcement squad needs hours, a city bureau most of a day.
Apart from a deliberate ~0.5 % that run late, every incident is closed before its deadline:
when the drawn durations would overrun, they are squeezed to fit, like staff do when the
system's countdown turns orange.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from feeds.catalogue import CATEGORIES
from feeds.schema import StepType
from feeds.sim.simtime import DAY, HOUR, MINUTE, local_midnight, local_minute

ON_SPOT_SHARE = 0.65  # of level-1 incidents a grid worker reported: fixed there and then
OVERDUE_SHARE = 0.005
REOPEN_SHARE = 0.01
STUCK_SHARE = 0.3  # of overdue incidents: left open a day or more past the deadline

# (step, median minutes, log-sigma); the level is filled in by the path
Stage = tuple[StepType, float, float]
LevelledStage = tuple[StepType, int, float, float]  # (step, level, median minutes, log-sigma)
_ON_SPOT: tuple[Stage, ...] = (("handled", 12, 0.6), ("closed", 4, 0.6))
_STANDARD: tuple[Stage, ...] = (
    ("dispatched", 10, 0.8), ("accepted", 12, 0.8), ("handled", 70, 0.7),
    ("feedback", 25, 0.7), ("closed", 40, 0.8),
)
_HANDLING_AT = {1: 70, 2: 150, 3: 240, 4: 360, 5: 480}  # handled, by level of the handler
_REOPEN: tuple[Stage, ...] = (("reopened", 360, 1.0), ("handled", 120, 0.7), ("closed", 60, 0.8))
_SEVERITY_PACE = {"normal": 1.0, "major": 0.7, "urgent": 0.3}
# Routine cases wait for the morning: a step falling between 22:00 and 07:30 happens at
# 07:30-08:30 instead (later steps move with it). Urgent and clock-hour (safety) cases don't wait.
QUIET_FROM, QUIET_UNTIL = 22 * 60, 7 * 60 + 30  # minutes after local midnight


@dataclass(frozen=True, slots=True)
class Step:
    ms: int
    type: StepType
    level: int


@dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[Step, ...]
    top: int  # the level that closes it
    on_spot: bool
    overdue: bool
    reopened: bool

    def worker_windows(self) -> list[tuple[int, int]]:
        """When the grid's worker is out handling it: (start, end) of each level-1 handling."""
        if self.top != 1:
            return []
        starts = {"accepted", "reopened"} | ({"reported"} if self.on_spot else set())
        windows, start = [], None
        for step in self.steps:
            if step.type in starts:
                start = step.ms
            elif step.type == "handled" and start is not None:
                windows.append((start, step.ms))
                start = None
        return windows


def plan(
    rng: random.Random, *, category: str, severity: str, top: int, worker_reported: bool,
    reported_ms: int, deadline_ms: int, speed: float,
) -> Plan:
    on_spot = top == 1 and worker_reported and rng.random() < ON_SPOT_SHARE
    overdue = rng.random() < OVERDUE_SHARE
    reopened = not overdue and rng.random() < REOPEN_SHARE
    stages = _path(top, on_spot) + (_at(top, _REOPEN) if reopened else ())
    gaps = _gaps(rng, stages, category, severity, speed)
    if overdue:
        gaps = _stretch(gaps, deadline_ms + _lateness(rng, speed) - reported_ms)
    else:
        gaps = _squeeze(rng, gaps, deadline_ms - reported_ms)
    steps = _timeline(reported_ms, stages, gaps)
    if not (on_spot or _round_the_clock(category, severity)):
        steps = _daytime(rng, steps, gaps, stages, deadline_ms, overdue)
    return Plan(steps, top, on_spot, overdue, reopened)


def _round_the_clock(category: str, severity: str) -> bool:
    return severity == "urgent" or CATEGORIES[category].unit == "hours"


def _gaps(
    rng: random.Random, stages: tuple[LevelledStage, ...], category: str, severity: str,
    speed: float,
) -> list[int]:
    """Milliseconds between consecutive steps; safety cases and serious ones move faster."""
    pace = _SEVERITY_PACE[severity] * (0.5 if CATEGORIES[category].unit == "hours" else 1.0)
    return [_duration(rng, median * pace, sigma, speed) for _, _, median, sigma in stages]


def _at(level: int, stages: tuple[Stage, ...]) -> tuple[LevelledStage, ...]:
    return tuple((step, level, median, sigma) for step, median, sigma in stages)


def _path(top: int, on_spot: bool) -> tuple[LevelledStage, ...]:
    if on_spot:
        return _at(1, _ON_SPOT)
    # each office up the chain takes its time to read the case and pass it on
    climb: tuple[LevelledStage, ...] = tuple(
        ("escalated", lv, 30 if lv == 2 else 60, 0.7) for lv in range(2, top + 1)
    )
    office = 1.0 if top == 1 else 2.5  # higher offices dispatch and sign off more slowly
    work = tuple(
        (s, top, _HANDLING_AT[top] if s == "handled" else m * office, g) for s, m, g in _STANDARD
    )
    return climb + work


def _duration(rng: random.Random, median_minutes: float, sigma: float, speed: float) -> int:
    minutes = median_minutes * math.exp(sigma * rng.gauss(0.0, 1.0))
    return max(1, round(minutes * MINUTE / speed))


def _lateness(rng: random.Random, speed: float) -> int:
    """How far past the deadline an overdue incident is finally closed."""
    if rng.random() < STUCK_SHARE:
        late = rng.uniform(1, 3) * DAY
    else:
        late = min(DAY, 3 * HOUR * math.exp(rng.gauss(0.0, 0.8)))
    return max(MINUTE, round(late / speed))


def _stretch(gaps: list[int], span: int) -> list[int]:
    """Spread the steps so the last one lands ``span`` after the report (if not already later)."""
    total = sum(gaps)
    return gaps if total >= span else _scaled(gaps, span / total)


def _squeeze(rng: random.Random, gaps: list[int], window: int) -> list[int]:
    """Make the last step land before the deadline, with some margin."""
    total = sum(gaps)
    if total < 0.95 * window - len(gaps):
        return gaps
    return _scaled(gaps, window * rng.uniform(0.5, 0.9) / total)


def _scaled(gaps: list[int], factor: float) -> list[int]:
    return [max(1, int(g * factor)) for g in gaps]


def _daytime(
    rng: random.Random, steps: tuple[Step, ...], gaps: list[int],
    stages: tuple[LevelledStage, ...], deadline_ms: int, overdue: bool,
) -> tuple[Step, ...]:
    """``steps`` moved out of the night; quicker if that would miss the deadline."""
    for _ in range(3):
        calm = _out_of_quiet_hours(rng, steps)
        if overdue or calm[-1].ms <= deadline_ms:
            return calm
        gaps = _scaled(gaps, 0.5)
        steps = _timeline(steps[0].ms, stages, gaps)
    return steps  # a tight deadline overnight: someone works late


def _out_of_quiet_hours(rng: random.Random, steps: tuple[Step, ...]) -> tuple[Step, ...]:
    moved, delay = [steps[0]], 0
    for step in steps[1:]:
        ms = step.ms + delay
        minute = local_minute(ms)
        if minute >= QUIET_FROM or minute < QUIET_UNTIL:
            morning = local_midnight(ms) + (DAY if minute >= QUIET_FROM else 0)
            wake = morning + QUIET_UNTIL * MINUTE + rng.randrange(HOUR)
            delay, ms = delay + wake - ms, wake
        moved.append(Step(ms, step.type, step.level))
    return tuple(moved)


def _timeline(
    reported_ms: int, stages: tuple[LevelledStage, ...], gaps: list[int]
) -> tuple[Step, ...]:
    steps, ms = [Step(reported_ms, "reported", 1)], reported_ms
    for (step, level, _, _), gap in zip(stages, gaps, strict=True):
        ms += gap
        steps.append(Step(ms, step, level))
    return tuple(steps)
