"""The deterministic simulation: one heap of due times merging arrivals, steps and workers.

``Model`` knows nothing about the real clock or Redis: ``take(until)`` pops everything due up to
a moment, in due order. The same geography, config (with a seed), ``start`` and ``live_from``
always give the same messages, byte for byte. Random streams are split by purpose, so that the
incidents depend only on the config and ``start``, not on ``live_from``: restarted later the
same day with the same seed, the simulator backfills exactly the incidents (same ids, same
bytes) it showed before.
"""

from __future__ import annotations

import heapq
import random
import zlib
from collections import deque
from collections.abc import Iterator
from datetime import datetime
from itertools import count
from typing import Any

from feeds.geo import Geography
from feeds.schema import Message
from feeds.sim.diurnal import FACTOR, PEAK
from feeds.sim.incidents import Factory, Incident
from feeds.sim.options import SimConfig
from feeds.sim.places import Places
from feeds.sim.simtime import DAY, SECOND, local_midnight, local_minute, to_datetime, to_ms
from feeds.sim.workers import Roster

ARRIVAL, BURST, STEP, BEGIN, WORKER, COPY = range(6)  # heap entry kinds
_NEVER = 2**62
_DUPLICATE_DELAY = (5, 120)  # seconds (at speed 1) before a duplicate is sent again


class Model:
    def __init__(
        self, geo: Geography, config: SimConfig, start: datetime,
        live_from: datetime | None = None, *, positions: bool = True,
        arrivals_until: datetime | None = None,
    ) -> None:
        """Incidents start at ``start``; positions at ``live_from`` (default ``start``), each
        worker's first fix up to one interval earlier. ``positions=False`` and
        ``arrivals_until`` are for tests and offline analysis: incidents are unchanged (workers
        still report them) but no positions are sent, and no incident arrives after
        ``arrivals_until`` while the ones before run to their end."""
        self.config = config.resolved()
        self.start_ms = to_ms(start)
        self.live_ms = max(self.start_ms, to_ms(live_from) if live_from else self.start_ms)
        self.positions = positions
        self.salt = _salt(self.config.seed, self.start_ms)
        self._rng = {name: random.Random(f"{self.config.seed}:{name}")
                     for name in ("roster", "incidents", "burst", "moves", "chaos")}
        self.roster = Roster(geo, self.config.workers, self._rng["roster"], self.config.speed)
        self._factory = Factory(geo, Places(geo), self.roster, self.config.speed)
        self._arrivals_end = to_ms(arrivals_until) if arrivals_until else _NEVER
        self._burst_end = self.live_ms + round(self.config.burst_seconds * SECOND)
        self._heap: list[tuple[Any, ...]] = []
        self._order = count()
        self._ready: deque[tuple[int, Message]] = deque()
        self._day, self._day_text, self._day_seq = -1, "", 0
        self._running: dict[str, Incident] = {}  # incidents with steps still to send
        self._start()

    # -- public ------------------------------------------------------------------------------
    def next_due(self) -> int | None:
        """Epoch ms of the next message (None when nothing is left)."""
        if self._ready:
            return self._ready[0][0]
        return self._heap[0][0] if self._heap else None

    def take(self, until_ms: int, limit: int = 500) -> list[Message]:
        """Up to ``limit`` messages due at or before ``until_ms``, in due order."""
        while len(self._ready) < limit and self._heap and self._heap[0][0] <= until_ms:
            self._process(*heapq.heappop(self._heap))
        return [self._ready.popleft()[1] for _ in range(min(limit, len(self._ready)))]

    def messages(self, until: datetime | None = None) -> Iterator[Message]:
        """Every message due up to ``until`` (forever if None), in due order."""
        until_ms = to_ms(until) if until else _NEVER
        while batch := self.take(until_ms, 1000):
            yield from batch

    def desk_step(self, incident_id: str, seq: int, closed: bool) -> None:
        """The duty desk took step ``seq`` of an incident: the field goes on after it (its next
        steps are numbered from ``seq + 1``), or stops if the desk closed it. An incident whose
        steps are all sent already (or never simulated here) is left alone."""
        incident = self._running.get(incident_id)
        if incident is None:
            return
        if closed:
            incident.stopped = True
            del self._running[incident_id]
            return
        unsent = incident.held if incident.held is not None else incident.upto
        incident.offset = max(incident.offset, seq - unsent)

    # -- scheduling --------------------------------------------------------------------------
    def _start(self) -> None:
        self._schedule_arrival(ARRIVAL, float(self.start_ms))
        if self.config.burst_per_second > 0:
            self._schedule_arrival(BURST, float(self.live_ms))
        if self.positions:
            # Each worker's first fix is backdated by a random part of its interval: fixes then
            # keep their regular rhythm from the start without 10,000 workers in lockstep.
            rng = self._rng["moves"]
            for worker in self.roster.workers:
                phase = int(rng.random() * self.roster.interval(worker))
                self._push(self.live_ms - phase, BEGIN, worker)

    def _push(self, due: int, kind: int, a: object = None, b: object = None) -> None:
        heapq.heappush(self._heap, (due, next(self._order), kind, a, b))

    def _schedule_arrival(self, kind: int, cursor: float) -> None:
        """Next arrival of a non-homogeneous Poisson process, by thinning the peak rate."""
        if kind == ARRIVAL:
            rate = self.config.events_per_day * self.config.speed * PEAK / DAY  # per ms, at peak
            end, rng = self._arrivals_end, self._rng["incidents"]
        else:
            rate = self.config.burst_per_second / SECOND
            end, rng = self._burst_end, self._rng["burst"]
        if rate <= 0:
            return
        while True:
            cursor += rng.expovariate(rate)
            if cursor >= end:
                return
            if kind == BURST or rng.random() * PEAK < FACTOR[local_minute(int(cursor))]:
                self._push(int(cursor), kind, cursor)
                return

    # -- processing --------------------------------------------------------------------------
    def _process(self, due: int, _order: int, kind: int, a: Any, b: Any) -> None:
        if kind == STEP:
            self._step(due, a, b)
        elif kind == WORKER or kind == BEGIN:
            self._worker(due, kind, a)
        elif kind == COPY:
            self._ready.append((due, a))
        else:
            self._arrive(due, kind, a)

    def _arrive(self, due: int, kind: int, cursor: float) -> None:
        rng = self._rng["incidents" if kind == ARRIVAL else "burst"]
        incident = self._factory.create(rng, self._new_id(due), due)
        if self.positions:
            for start, end in incident.plan.worker_windows():
                self.roster.add_task(incident.area.grid or "", start, end, incident.lon,
                                     incident.lat)
        self._running[incident.id] = incident
        self._step(due, incident, 0)
        self._schedule_arrival(kind, cursor)

    def _step(self, due: int, incident: Incident, index: int) -> None:
        if incident.stopped:
            return
        incident.upto = index + 1
        steps = incident.plan.steps
        has_next = index + 1 < len(steps)
        if not has_next:
            self._running.pop(incident.id, None)
        if has_next:
            self._push(steps[index + 1].ms, STEP, incident, index + 1)
        if incident.held is not None:  # reorder chaos: this step overtakes the held one
            held, incident.held = incident.held, None
            self._emit(due, incident.message(index))
            self._emit(due, incident.message(held))
        elif has_next and self._chance(self.config.reorder_rate):
            incident.held = index
        else:
            self._emit(due, incident.message(index))

    def _emit(self, due: int, message: Message) -> None:
        self._ready.append((due, message))
        if self._chance(self.config.duplicate_rate):
            delay = self._rng["chaos"].uniform(*_DUPLICATE_DELAY) * SECOND / self.config.speed
            self._push(due + max(1, round(delay)), COPY, message)

    def _chance(self, rate: float) -> bool:
        return rate > 0 and self._rng["chaos"].random() < rate

    def _worker(self, due: int, kind: int, worker: Any) -> None:
        rng = self._rng["moves"]
        if kind == BEGIN:
            message, next_ms = self.roster.begin(worker, due, rng)
        else:
            message, next_ms = self.roster.tick(worker, due, rng)
        if message is not None:
            self._ready.append((due, message))
        self._push(next_ms, WORKER, worker)

    def _new_id(self, ms: int) -> str:
        """E{local date}-{daily sequence}-{run salt}: unique across runs with other seeds."""
        day = local_midnight(ms)
        if day != self._day:
            self._day, self._day_text, self._day_seq = day, to_datetime(ms).strftime("%Y%m%d"), 0
        self._day_seq += 1
        return f"E{self._day_text}-{self._day_seq:06d}-{self.salt}"


def _salt(seed: int | None, start_ms: int) -> str:
    """Three base-36 characters from the seed and start (46,656 values)."""
    value = zlib.crc32(f"{seed}:{start_ms}".encode()) % 36**3
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(digits[value // 36**i % 36] for i in (2, 1, 0))
