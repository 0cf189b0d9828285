"""The duty table's query: one block of rows for a ``duty_rows`` request, from the live state.

The table asks block by block as it scrolls (AG Grid's infinite row model), with the filter
and sort it shows; the answer is computed here inside the asker's jurisdiction, with free text
revealed (and searchable) only for roles that may see it. ``bench.duty_query`` times it.

Memory holds open incidents and those closed in the last hot days; older closed ones are in
the archive (``dashboard.cold``). A filter they can pass is asked of both: the archive answers
with its count and its first rows in the same order, and the two merge by the same sort, so
the desk finds what it would if every incident were in memory.
"""

from __future__ import annotations

import gc
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from dashboard.access.auth import Principal
from dashboard.cold.keeper import midnight
from dashboard.cold.store import Ask, ColdStore, Found, skips
from dashboard.live.inbound import DutyRowsAsk, Reply
from dashboard.live.livestate import LiveState
from dashboard.state import Incident, sid_key
from dashboard.views.search import (
    DEFAULT_SORT,
    MAX_BLOCK,
    MAX_POINTS,
    SETS,
    SORTABLE,
    Filter,
    Marks,
    SearchText,
    archive_order,
    matching,
    newest,
    points,
    reported_at,
    sort,
)
from dashboard.views.table import rows
from dashboard.views.terms import terms
from feeds.geo import contains

# The archive's part of a desk query, beside memory's (``DutyQuery._both``): a few at once,
# as requests arrive; each opens and closes its own DuckDB connection (dashboard.cold.store).
_COLD = ThreadPoolExecutor(max_workers=4, thread_name_prefix="duty-archive")


class DutyQuery:
    def __init__(self, live: LiveState, cold: ColdStore | None = None, hot_days: int = 3) -> None:
        self.live = live
        self.cold = cold
        self.hot_days = hot_days
        self.search = {True: SearchText(reveal=True), False: SearchText(reveal=False)}

    def find(self, who: Principal, f: Filter) -> list[Incident]:
        """The incidents in memory that pass ``f`` in ``who``'s jurisdiction."""
        incidents, _recalled = self._held()
        return self._matching(who, f, incidents)

    def _held(self) -> tuple[list[Incident], list[Incident]]:
        """The incidents in memory, and those of them recalled from the archive: a consistent
        list (filtering runs outside the lock)."""
        with self.live.read() as state:
            incidents = list(state.incidents.values())
            recalled = [state.incidents[i] for i in state.recalled if i in state.incidents]
        return incidents, recalled

    def _matching(self, who: Principal, f: Filter, incidents: list[Incident]) -> list[Incident]:
        search = self.search[who.sees_pii]
        if len(search.texts) > 2 * len(incidents) + 1000:  # incidents the state has let go
            search.texts = {i.id: search.texts[i.id] for i in incidents if i.id in search.texts}
        city = self.live.geo.city.code
        now = datetime.now(UTC)
        words = terms(f.q, self.live.geo) if f.q else None
        return matching(incidents, f, who.scope, city, now, self.marks(), search, words)

    def _both(
        self, who: Principal, f: Filter, column: str, descending: bool, limit: int, newest: int
    ) -> tuple[list[Incident], Found]:
        """Memory's matches and the archive's answer (``archived``), the two at once: the
        archive's query runs in DuckDB, which lets go of the interpreter, while memory's
        filter runs here (a text search over 60 days: the archive's scan and memory's took
        about the same time, one after the other)."""
        incidents, recalled = self._held()
        if self.cold is None or skips(f):
            return self._matching(who, f, incidents), Found(0, [], [])
        now = datetime.now(UTC)
        besides = self._twice(incidents, recalled, now)
        # Newest first (the desk's default) without a text search: the archive's incidents
        # were all reported before the horizon, so when memory has enough matches reported
        # since, the archive's rows cannot reach the block nor the map; ask it for its count
        # first, and for rows only if memory falls short (a county: 299 → ms, benchmarks.md).
        counted = column == "reported" and descending and not f.q
        first = (0, 0) if counted else (limit, newest)
        asked = _COLD.submit(self.archived, who, f, besides, column, descending, *first)
        try:
            found = self._matching(who, f, incidents)
        finally:
            cold = asked.result()
        if counted and cold.total:
            # memory's matches reported since the horizon are newer than any archived one
            # (archived: closed, so reported, before it): they lead the block and the map,
            # and the archive's newest fill only the rest
            since = _reported_since(found, self.horizon(now))
            rows = limit - since if since < limit else 0
            points = newest - since if since < newest else 0
            if rows or points:
                more = self.archived(who, f, besides, column, descending, rows, points)
                cold = Found(cold.total, more.incidents, more.newest)
        return found, cold

    def _twice(
        self, incidents: list[Incident], recalled: list[Incident], now: datetime
    ) -> frozenset[str]:
        """Incidents memory holds that the archive holds too, as closed before the horizon
        (the archive's answer takes only those): closed then and not yet let go, or back in
        memory (a new step, a rebuild) while the archive's row says closed then. Of the
        recalled, the archive's row is what their steps up to its watermark say."""
        before = self.horizon(now)
        twice = {i.id for i in incidents if _closed_before(i, before)}
        if recalled and self.cold is not None:
            mark = sid_key(self.cold.archive.watermark())
            twice.update(i.id for i in recalled if _archived_closed_before(i, before, mark))
        return frozenset(twice)

    def horizon(self, now: datetime) -> datetime:
        """Incidents closed before this may have left memory (``dashboard.cold.keeper``)."""
        return midnight(now, self.hot_days - 1)

    def archived(
        self,
        who: Principal,
        f: Filter,
        besides: frozenset[str],
        column: str,
        descending: bool,
        limit: int,
        newest: int = 0,
    ) -> Found:
        """The archive's part of the answer to ``f`` (``besides``: see ``_twice``): its count,
        its first ``limit`` incidents sorted by ``column``, its ``newest`` reported (the map)."""
        if self.cold is None or skips(f):
            return Found(0, [], [])
        now = datetime.now(UTC)
        city = self.live.geo.city.code
        area = f.area if f.area and contains(who.scope, f.area) else who.scope
        words = terms(f.q, self.live.geo)
        marks, before = self.marks(), self.horizon(now)
        ask = Ask(f, area, city, who.sees_pii, marks, before, now, besides, words)
        return self.cold.search(ask, *archive_order(column, descending), limit, newest)

    def ordered(
        self, who: Principal, f: Filter, column: str, descending: bool, limit: int
    ) -> tuple[int, list[Incident]]:
        """How many incidents, in memory and archived, pass ``f``, and the first ``limit``."""
        found, cold = self._both(who, f, column, descending, limit, 0)
        return len(found) + cold.total, self._merged(found, cold, column, descending, limit)

    def _merged(
        self, found: list[Incident], cold: Found, column: str, descending: bool, limit: int
    ) -> list[Incident]:
        """The first ``limit`` of memory's matches and the archive's, by the same sort."""
        geo = self.live.geo
        first = sort(found, column, descending, geo, limit=limit)
        if cold.incidents:
            first = sort(first + cold.incidents, column, descending, geo, limit=limit)
        return first[:limit]

    def marks(self) -> Marks:
        book = self.live.actions
        return Marks(book.acknowledged, book.supervised)

    def rows(self, who: Principal, asked: DutyRowsAsk) -> Reply:
        # A query makes ~100,000 short-lived objects (heap entries, lists) and no cycles; left
        # on, the collector would rescan the whole state several times per query (×3 slower).
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._rows(who, asked)
        finally:
            if collecting:
                gc.enable()

    def _rows(self, who: Principal, asked: DutyRowsAsk) -> Reply:
        started = time.perf_counter()
        f = Filter.parse(asked.filter)
        column, descending = sort_of(asked.sort, asked.dir)
        start = max(0, asked.start)
        end = min(start + MAX_BLOCK, max(start, start + 100 if asked.end is None else asked.end))
        mapped = MAX_POINTS if asked.points else 0
        found, cold = self._both(who, f, column, descending, end, mapped)
        now = datetime.now(UTC)
        state, marks, geo = self.live.state, self.marks(), self.live.geo
        latest: list[Incident] = []
        if asked.points:  # the map draws the newest matches, in memory or archived
            latest = newest(found)
            if cold.newest:
                latest = newest(latest + cold.newest)
        newest_first = column == "reported" and descending
        if asked.points and newest_first and not cold.incidents and end <= len(latest):
            ordered = latest  # the default view in memory: one pass serves the map and the table
        else:
            ordered = self._merged(found, cold, column, descending, end)
        block, plain = rows(ordered[start:end], geo, now, marks, who.sees_pii)
        reply: dict[str, Any] = {
            "ok": True,
            "rows": block,
            "total": len(found) + cold.total,
            "filter": f.query(),
            "last": state.last_sid["events"],
        }
        if cold.total:
            reply["archived"] = cold.total  # of the total, how many come from the archive
        if asked.points:
            reply["points"] = points(latest, now)
        if plain:
            reply["plain"] = plain  # rows given as plain text (incident_query.rows)
        if f.set:
            reply["set"] = {"key": f.set, "name": SETS[f.set][0]}
        reply["ms"] = round((time.perf_counter() - started) * 1000, 1)
        return reply


def sort_of(column: str | None, direction: str | None) -> tuple[str, bool]:
    """The table's sort: ``column`` ascending or not; none asked (a URL without ``sort=``),
    the desk's default, open incidents by time left (``search.DEFAULT_SORT``)."""
    if not column or column not in SORTABLE:
        return DEFAULT_SORT
    return column, direction != "asc"


def _reported_since(found: list[Incident], horizon: datetime) -> int:
    return sum(1 for i in found if reported_at(i) >= horizon)


def _archived_closed_before(incident: Incident, before: datetime, mark: tuple[int, int]) -> bool:
    """Whether the archive's row of ``incident`` (its steps up to the watermark ``mark``)
    says closed before ``before``."""
    archived = [s for s in list(incident.steps.values()) if sid_key(s.sid) <= mark]
    if not archived:
        return False
    last = max(archived, key=attrgetter("seq"))
    return last.type == "closed" and last.ts < before


def _closed_before(incident: Incident, before: datetime) -> bool:
    latest = incident.latest
    return latest is not None and latest.type == "closed" and latest.ts < before
