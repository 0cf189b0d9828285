"""The duty table's query: one block of rows for a ``duty_rows`` request, from the live state.

The table asks block by block as it scrolls (AG Grid's infinite row model), with the filter
and sort it shows; the answer is computed here inside the asker's jurisdiction, with free text
revealed (and searchable) only for roles that may see it. ``bench.duty_query`` times it.
"""

from __future__ import annotations

import gc
import time
from datetime import UTC, datetime
from typing import Any

from dashboard.access.auth import Principal
from dashboard.live.inbound import DutyRowsAsk, Reply
from dashboard.live.livestate import LiveState
from dashboard.state import Incident
from dashboard.views.search import (
    MAX_BLOCK,
    SETS,
    SORTABLE,
    Filter,
    Marks,
    SearchText,
    matching,
    newest,
    points,
    sort,
)
from dashboard.views.table import rows


class DutyQuery:
    def __init__(self, live: LiveState) -> None:
        self.live = live
        self.search = {True: SearchText(reveal=True), False: SearchText(reveal=False)}

    def find(self, who: Principal, f: Filter) -> list[Incident]:
        with self.live.read() as state:  # a consistent list of incidents; filtering runs outside
            incidents = list(state.incidents.values())
        now = datetime.now(UTC)
        city = self.live.geo.city.code
        search = self.search[who.sees_pii]
        if len(search.texts) > 2 * len(incidents) + 1000:  # incidents the state has let go
            search.texts = {i.id: search.texts[i.id] for i in incidents if i.id in search.texts}
        return matching(incidents, f, who.scope, city, now, self.marks(), search)

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
        column = asked.sort if asked.sort in SORTABLE else "reported"
        descending = asked.dir != "asc"
        start = max(0, asked.start)
        end = min(start + MAX_BLOCK, max(start, start + 100 if asked.end is None else asked.end))
        found = self.find(who, f)
        now = datetime.now(UTC)
        state, marks = self.live.state, self.marks()
        latest = newest(found) if asked.points else []  # the map draws the newest matches
        if asked.points and column == "reported" and descending and end <= len(latest):
            ordered = latest  # the default view: one pass serves the map and the table
        else:
            ordered = sort(found, column, descending, state.geo, limit=end)
        block, plain = rows(ordered[start:end], state.geo, now, marks, who.sees_pii)
        reply: dict[str, Any] = {
            "ok": True,
            "rows": block,
            "total": len(found),
            "filter": f.query(),
            "last": state.last_sid["events"],
        }
        if asked.points:
            reply["points"] = points(latest, now)
        if plain:
            reply["plain"] = plain  # rows given as plain text (incident_query.rows)
        if f.set:
            reply["set"] = {"key": f.set, "name": SETS[f.set][0]}
        reply["ms"] = round((time.perf_counter() - started) * 1000, 1)
        return reply
