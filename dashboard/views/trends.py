"""Reported and closed per day, over the last 7 or 30 days, for one area: the tablet's trends.

Socket event ``trends`` ``{scope, days}`` → ``{ok, scope, days: [{day, reported, closed,
source}]}``, oldest first, today last. Days the Parquet archive covers (``feeds.archive``,
written by the server's history job or ``onemap archive``) come from it, and so does the log's
oldest day, usually cut short; later days from the state; a day neither holds is ``null`` (the
chart leaves a gap rather than drawing a zero).

The per-day, per-town counts over the whole state are built in one pass and kept for
``CACHE_S``; today's point is then overwritten by the page with the live KPIs.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from dashboard.live.inbound import Caller, Reply, SocketApi, TrendsAsk
from dashboard.live.livestate import LiveState
from feeds.archive import Archive, trend
from feeds.geo import contains
from feeds.schema import CHINA_TZ

RANGES = (7, 30)
CACHE_S = 120.0
_DAY_S = 86_400
_OFFSET_S = 8 * 3600  # China has no daylight saving: a local day is a fixed UTC offset


def local_day(ts: datetime) -> int:
    """Days since the epoch in China time."""
    return int((ts.timestamp() + _OFFSET_S) // _DAY_S)


def day_of(number: int) -> date:
    return date(1970, 1, 1) + timedelta(days=number)


class DailyCounts:
    """(local day, town) → [reported, closed] over every step the state holds."""

    def __init__(self, counts: dict[tuple[int, str], list[int]], first: int | None) -> None:
        self.counts = counts
        self.first = first  # the log's oldest day (probably partial)

    @classmethod
    def of(cls, live: LiveState) -> DailyCounts:
        with live.read() as state:  # a list copy under the lock; the steps are read after it
            incidents = list(state.incidents.values())
        counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
        first: int | None = None
        for incident in incidents:
            town = incident.area.town
            for step in list(incident.steps.values()):
                column = 0 if step.type == "reported" else 1 if step.type == "closed" else -1
                if column < 0:
                    continue
                day = local_day(step.ts)
                counts[(day, town)][column] += 1
                first = day if first is None or day < first else first
        return cls(dict(counts), first)

    def area(self, code: str, city: str) -> dict[int, tuple[int, int]]:
        out: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for (day, town), (reported, closed) in self.counts.items():
            if code == city or contains(code, town):
                row = out[day]
                row[0] += reported
                row[1] += closed
        return {day: (r, c) for day, (r, c) in out.items()}


class Trends:
    def __init__(self, live: LiveState, archive: Archive | None) -> None:
        self.live = live
        self.archive = archive
        self._lock = threading.Lock()
        self._counts: DailyCounts | None = None
        self._built = 0.0

    def counts(self) -> DailyCounts:
        with self._lock:
            if self._counts is None or time.monotonic() - self._built > CACHE_S:
                self._counts = DailyCounts.of(self.live)
                self._built = time.monotonic()
            return self._counts

    def series(self, scope: str, days: int, now: datetime) -> list[dict[str, Any]]:
        today = local_day(now)
        wanted = list(range(today - days + 1, today + 1))
        counts = self.counts()
        in_log = counts.area(scope, self.live.geo.city.code)
        archived = self._archived(scope, wanted, counts.first)
        rows = []
        for day in wanted:
            reported: int | None
            closed: int | None
            if day in archived:
                (reported, closed), source = archived[day], "archive"
            elif counts.first is not None and day >= counts.first:
                (reported, closed), source = in_log.get(day, (0, 0)), "log"
            else:
                reported, closed, source = None, None, "none"
            rows.append(
                {
                    "day": day_of(day).isoformat(),
                    "reported": reported,
                    "closed": closed,
                    "source": source,
                }
            )
        return rows

    def _archived(
        self, scope: str, wanted: list[int], first: int | None
    ) -> dict[int, tuple[int, int]]:
        """Days the archive covers (every day up to its watermark's) and days the log does not
        cover in full (its oldest and before), from the archive: memory lets go of incidents
        once archived, so its counts of those days fall short."""
        if self.archive is None:
            return {}
        mark = self.archive.watermark()
        through = local_day(_moment(mark)) if mark not in ("0", "0-0") else None
        older = [
            d
            for d in wanted
            if first is None or d <= first or (through is not None and d <= through)
        ]
        have = {(d - date(1970, 1, 1)).days for d in self.archive.days()}
        older = [d for d in older if d in have]
        if not older:
            return {}
        frame = trend(
            self.archive, days=older[-1] - older[0] + 1, end=day_of(older[-1]), area=scope
        )
        found = {
            (row.day - date(1970, 1, 1)).days: (int(row.reported), int(row.closed))
            for row in frame.itertuples()
        }
        return {d: found[d] for d in older if d in found}

    def install(self, api: SocketApi) -> None:
        api.on("trends", TrendsAsk, scoped=True)(self.on_trends)

    def on_trends(self, caller: Caller, asked: TrendsAsk) -> Reply:
        days = asked.days or 7
        if days not in RANGES:
            return {"ok": False, "error": "days must be 7 or 30"}
        now = datetime.now(CHINA_TZ)
        return {"ok": True, "scope": caller.scope, "days": self.series(caller.scope, days, now)}


def _moment(sid: str) -> datetime:
    return datetime.fromtimestamp(int(sid.split("-")[0]) / 1000, CHINA_TZ)
