"""Grid workers: who covers which grid, when they are on duty, and where they walk.

Each worker owns one grid. On duty they patrol it between random waypoints at walking or
e-bike pace, pause now and then (status "idle"), and go to an incident's spot while handling it.
They report a fix every 10–30 s (a per-device setting), send one "offline" fix when their shift
ends and nothing until the next one. Work is driven by a heap of due times in the model: a
worker costs nothing between its own fixes, so 10,000 of them are cheap.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from feeds.geo import Geography, scopes_of
from feeds.schema import PositionMessage, WorkerStatus
from feeds.sim.simtime import DAY, HOUR, MINUTE, SECOND, local_midnight, to_datetime

NIGHT_SHARE = 0.15  # on night duty, so the map is never empty
_DAY_START, _NIGHT_START, _START_SPREAD = 7 * 60 + 30, 17 * 60 + 30, 90  # minutes after midnight
_NIGHT_END = 8 * 60  # the night shift hands over to the day shift around 08:00-09:00
_INTERVALS = ((10, 0.2), (15, 0.25), (20, 0.3), (30, 0.25))  # seconds between fixes, share
_REST_CHANCE = 0.2  # of reaching a waypoint: stop a while (talk to residents, check a site)
_REST_MINUTES = (1, 5)
_M_PER_DEG = 111_320.0


@dataclass(slots=True)
class Worker:
    id: str
    grid: str
    town: str
    pace: float  # metres per simulated second
    interval: float  # seconds between fixes at speed 1
    shift_start: int  # minutes after local midnight
    shift_minutes: int
    drain: float  # battery percent per simulated hour
    lon: float = 0.0
    lat: float = 0.0
    battery: float = 100.0
    target: tuple[float, float] | None = None
    rest_until: int = 0
    shift_end: int = 0  # 0 while off duty
    last_ms: int = 0
    tasks: list[tuple[int, int, float, float]] = field(default_factory=list)  # start, end, spot

    def shift_around(self, ms: int) -> tuple[int, int] | None:
        """The shift (start, end) that ``ms`` falls in, if any; night shifts span midnight."""
        midnight = local_midnight(ms)
        for day in (midnight, midnight - DAY):
            start = day + self.shift_start * MINUTE
            end = start + self.shift_minutes * MINUTE
            if start <= ms < end:
                return start, end
        return None

    def next_shift_start(self, ms: int) -> int:
        start = local_midnight(ms) + self.shift_start * MINUTE
        return start if start > ms else start + DAY


class Roster:
    """All simulated workers, and the per-tick behaviour of each."""

    def __init__(self, geo: Geography, count: int, rng: random.Random, speed: float) -> None:
        self.geo = geo
        self.speed = speed
        grids = sorted(rng.sample(sorted(geo.grids), min(count, len(geo.grids))))
        self.workers = _enlist(geo, grids, rng)
        self.by_grid = {w.grid: w for w in self.workers}

    def on_duty(self, grid: str, ms: int) -> Worker | None:
        """The grid's worker, if it has one and they are on duty at ``ms``."""
        worker = self.by_grid.get(grid)
        return worker if worker is not None and worker.shift_around(ms) else None

    def add_task(self, grid: str, start: int, end: int, lon: float, lat: float) -> None:
        worker = self.by_grid.get(grid)
        if worker is not None:
            worker.tasks.append((start, end, lon, lat))

    def begin(
        self, worker: Worker, ms: int, rng: random.Random
    ) -> tuple[PositionMessage | None, int]:
        """A worker's first fix when emission goes live, or a wait for the next shift."""
        shift = worker.shift_around(ms)
        if shift is None:
            return None, worker.next_shift_start(ms)
        self._clock_in(worker, ms, shift[1], rng)
        hours_on = (ms - shift[0]) / HOUR * self.speed
        worker.battery = max(5.0, worker.battery - worker.drain * hours_on)
        status = self._advance(worker, ms, rng)
        return self._fix(worker, ms, status, rng), min(ms + self.interval(worker), shift[1])

    def tick(self, worker: Worker, ms: int, rng: random.Random) -> tuple[PositionMessage, int]:
        if worker.shift_end == 0:
            shift = worker.shift_around(ms)
            assert shift is not None, "a worker's tick fired outside its shift"
            self._clock_in(worker, ms, shift[1], rng)
            status: WorkerStatus = "patrolling"
        elif ms >= worker.shift_end:
            worker.shift_end = 0
            return self._fix(worker, ms, "offline", rng), worker.next_shift_start(ms)
        else:
            status = self._advance(worker, ms, rng)
        next_ms = min(ms + self.interval(worker), worker.shift_end)
        return self._fix(worker, ms, status, rng), next_ms

    def _clock_in(self, worker: Worker, ms: int, end: int, rng: random.Random) -> None:
        worker.lon, worker.lat = self.geo.random_point(worker.grid, rng)
        worker.battery = rng.uniform(85, 100)
        worker.shift_end, worker.last_ms, worker.target, worker.rest_until = end, ms, None, 0

    def interval(self, worker: Worker) -> int:
        """Milliseconds between two fixes of this worker at the configured speed."""
        return max(1, round(worker.interval * SECOND / self.speed))

    def _advance(self, worker: Worker, ms: int, rng: random.Random) -> WorkerStatus:
        """Move the worker to where they are at ``ms``; return their status."""
        elapsed = (ms - worker.last_ms) / SECOND * self.speed  # simulated seconds
        worker.last_ms = ms
        worker.battery = max(5.0, worker.battery - worker.drain * elapsed / 3600)
        spot = _current_task(worker, ms)
        if spot is None and ms < worker.rest_until:
            return "idle"
        if spot is None and worker.target is None:
            worker.target = self.geo.random_point(worker.grid, rng)
        target = spot or worker.target
        assert target is not None
        if _walk(worker, target, worker.pace * elapsed) and spot is None:
            worker.target = None
            if rng.random() < _REST_CHANCE:
                worker.rest_until = ms + round(rng.uniform(*_REST_MINUTES) * MINUTE / self.speed)
        return "patrolling" if spot is None else "handling"

    def _fix(
        self, worker: Worker, ms: int, status: WorkerStatus, rng: random.Random
    ) -> PositionMessage:
        accuracy = min(30.0, max(3.0, 8.0 * math.exp(0.6 * rng.gauss(0.0, 1.0))))
        return PositionMessage(
            worker=worker.id, ts=to_datetime(ms), lon=round(worker.lon, 6),
            lat=round(worker.lat, 6), grid=worker.grid, status=status,
            battery=int(worker.battery), accuracy=round(accuracy, 1),
        )


def _enlist(geo: Geography, grids: list[str], rng: random.Random) -> list[Worker]:
    workers: list[Worker] = []
    per_county: dict[str, int] = {}
    for grid in grids:
        _city, county, town = scopes_of(grid)  # every grid of the geography has all three
        per_county[county] = per_county.get(county, 0) + 1
        workers.append(_recruit(rng, f"W{county}{per_county[county]:05d}", grid, town))
    return workers


def _recruit(rng: random.Random, worker_id: str, grid: str, town: str) -> Worker:
    night = rng.random() < NIGHT_SHARE
    start = (_NIGHT_START if night else _DAY_START) + rng.randrange(_START_SPREAD)
    minutes = (DAY // MINUTE + _NIGHT_END - start + rng.randrange(60) if night
               else rng.randrange(540, 631))
    pace = rng.uniform(3.0, 5.0) if rng.random() < 0.4 else rng.uniform(1.0, 1.5)  # e-bike/foot
    interval = rng.choices([s for s, _ in _INTERVALS], [w for _, w in _INTERVALS])[0]
    return Worker(worker_id, grid, town, pace, interval * rng.uniform(0.9, 1.1), start, minutes,
                  drain=rng.uniform(3.5, 6.5))


def _current_task(worker: Worker, ms: int) -> tuple[float, float] | None:
    if worker.tasks:
        worker.tasks = [t for t in worker.tasks if t[1] > ms]
        for start, _, lon, lat in worker.tasks:
            if start <= ms:
                return lon, lat
    return None


def _walk(worker: Worker, target: tuple[float, float], metres: float) -> bool:
    """Step towards ``target``; True when there."""
    kx = math.cos(math.radians(worker.lat))
    dx = (target[0] - worker.lon) * kx * _M_PER_DEG
    dy = (target[1] - worker.lat) * _M_PER_DEG
    distance = math.hypot(dx, dy)
    if distance <= metres:
        worker.lon, worker.lat = target
        return True
    share = metres / distance
    worker.lon += (target[0] - worker.lon) * share
    worker.lat += (target[1] - worker.lat) * share
    return False
