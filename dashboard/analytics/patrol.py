"""What worker positions say: patrol visits, grid coverage, who is online, who went quiet.

Visits, the workers who patrolled and coverage are sets per local day (a repeated or late fix
changes nothing), so they do not depend on arrival order. Who patrolled an area today is not
who is online there now: a shift that ended this morning still patrolled today. Online and
quiet workers follow each worker's newest fix with two moving cutoffs: online means a fix
within the last 5 minutes that is not "offline"; quiet means an on-duty worker whose last fix
is older than the silence limit, a worker lost during a shift (a shift's end is announced with
an "offline" fix, so a silence is never routine).
"""

from __future__ import annotations

from datetime import timedelta

from dashboard.analytics.cutoff import Chain, Cutoff
from dashboard.analytics.epoch import local_day
from dashboard.analytics.hourly import VISITS as VISITS_SLOT
from dashboard.analytics.hourly import WORKERS as WORKERS_SLOT
from dashboard.analytics.hourly import Hourly, slot_of
from feeds.geo import Geography, contains, scopes_of
from feeds.geo.codes import chain as area_chain
from feeds.schema import PositionMessage

VISITS, GRIDS_VISITED = 0, 1


class Patrol:
    def __init__(
        self,
        geo: Geography,
        online_window: timedelta,
        silence: timedelta,
        hourly: Hourly | None = None,
    ) -> None:
        self.city = geo.city.code
        self.online_s = online_window.total_seconds()
        self.silence_s = silence.total_seconds()
        self.hourly = hourly  # first visits by 10-minute slot, for "same time yesterday"
        # day -> (worker, grid) on duty -> epoch seconds of the pair's first on-duty fix
        self.visits: dict[int, dict[tuple[str, str], float]] = {}
        self.visited: dict[int, set[str]] = {}  # day -> grids with an on-duty fix
        self.counts: dict[int, dict[str, list[int]]] = {}  # day -> area -> [visits, grids]
        # day -> worker -> the grids they patrolled; day -> area -> workers who patrolled it
        self.grids_of: dict[int, dict[str, list[str]]] = {}
        self.workers: dict[int, dict[str, int]] = {}
        self.known_since = float("inf")  # the earliest on-duty fix known: how far back we know
        self.fresh = Cutoff()  # on-duty workers by newest fix; below now - 5 min: not online
        self.quiet = Cutoff()  # same members; below now - silence: lost during a shift
        self._chains: dict[str, Chain] = {}
        self.floor = -(1 << 62)  # days before this were pruned

    def chain(self, grid: str) -> Chain:
        """The areas a grid's visits count in: the city, its county and town, and the grid (not
        its village: a village's figures add its grids')."""
        chain = self._chains.get(grid)
        if chain is None:
            chain = self._chains[grid] = (*scopes_of(grid), grid)
        return chain

    def on_position(self, message: PositionMessage, newest: bool) -> None:
        """Fold one fix; ``newest`` when it is now the worker's latest known fix."""
        ts = message.ts.timestamp()
        on_duty = message.status != "offline"
        if on_duty and local_day(ts) >= self.floor:
            self._visit(local_day(ts), message.worker, message.grid, ts)
        if not newest:
            return
        if on_duty:
            chain = self.chain(message.grid)
            self.fresh.put(message.worker, ts, chain)
            self.quiet.put(message.worker, ts, chain)
        else:
            self.fresh.drop(message.worker)
            self.quiet.drop(message.worker)

    def online(self, area: str, now_s: float) -> int:
        self.fresh.move(now_s - self.online_s)
        return self.fresh.total.get(area, 0) - self.fresh.below.get(area, 0)

    def gone_quiet(self, now_s: float) -> list[str]:
        """Workers whose silence passed the limit since the last call."""
        return self.quiet.move(now_s - self.silence_s)

    def day_counts(self, day: int, area: str) -> list[int]:
        return self.counts.get(day, {}).get(area) or [0, 0]

    def workers_on(self, day: int, area: str) -> int:
        """Distinct workers with an on-duty fix in ``area`` (any level, a village included)
        on ``day``."""
        return self.workers.get(day, {}).get(area, 0)

    def prune(self, before: int) -> None:
        self.floor = max(self.floor, before)
        for table in (self.visits, self.visited, self.counts, self.grids_of, self.workers):
            for day in [d for d in table if d < before]:
                del table[day]

    def restore(self, visits: dict[tuple[str, str], float]) -> None:
        """Take back the (worker, grid) pairs and first-visit times the bus kept (a restart)."""
        for (worker, grid), ts in visits.items():
            if local_day(ts) >= self.floor:
                self._visit(local_day(ts), worker, grid, ts)

    def _visit(self, day: int, worker: str, grid: str, ts: float) -> None:
        if ts < self.known_since:
            self.known_since = ts
        pairs = self.visits.get(day)
        if pairs is None:
            pairs = self.visits[day] = {}
            self.visited[day] = set()
            self.counts[day] = {}
            self.grids_of[day] = {}
            self.workers[day] = {}
        pair = (worker, grid)
        first = pairs.get(pair)
        if first is not None:
            if ts < first:  # a late, earlier fix: the visit began before we thought
                firsts = self._worker_firsts(day, worker, grid)
                pairs[pair] = ts
                if self.hourly is not None:
                    areas = self.chain(grid)[:3]
                    self.hourly.add(areas, slot_of(first), 1 << VISITS_SLOT, -1)
                    self.hourly.add(areas, slot_of(ts), 1 << VISITS_SLOT)
                self._move_workers(day, worker, grid, firsts)
            return
        firsts = self._worker_firsts(day, worker, grid)
        pairs[pair] = ts
        self.grids_of[day].setdefault(worker, []).append(grid)
        self._move_workers(day, worker, grid, firsts)
        chain = self.chain(grid)
        if self.hourly is not None:
            self.hourly.add(chain[:3], slot_of(ts), 1 << VISITS_SLOT)
        rows = self.counts[day]
        for area in chain:
            row = rows.get(area)
            if row is None:
                row = rows[area] = [0, 0]
            row[VISITS] += 1
        grids = self.visited[day]
        if grid not in grids:
            grids.add(grid)
            for area in chain:
                rows[area][GRIDS_VISITED] += 1

    def _worker_firsts(self, day: int, worker: str, grid: str) -> list[float | None]:
        """When ``worker`` was first on duty on ``day`` in each area of ``grid``'s chain (city,
        county, town, village, grid), over the grids patrolled so far (None: not yet)."""
        pairs, firsts = self.visits[day], []
        others = self.grids_of[day].get(worker, ())
        for area in area_chain(grid):
            times = [pairs[(worker, g)] for g in others if contains(area, g)]
            firsts.append(min(times) if times else None)
        return firsts

    def _move_workers(self, day: int, worker: str, grid: str, before: list[float | None]) -> None:
        """Count ``worker`` in the areas of ``grid`` they are new to, and move the 10-minute
        entries of the city, county and town whose first time changed."""
        after = self._worker_firsts(day, worker, grid)
        counts = self.workers[day]
        for n, (area, old, new) in enumerate(zip(area_chain(grid), before, after, strict=True)):
            if old == new:
                continue
            if old is None:
                counts[area] = counts.get(area, 0) + 1
            if self.hourly is not None and n < 3:
                if old is not None:
                    self.hourly.add((area,), slot_of(old), 1 << WORKERS_SLOT, -1)
                assert new is not None
                self.hourly.add((area,), slot_of(new), 1 << WORKERS_SLOT)
