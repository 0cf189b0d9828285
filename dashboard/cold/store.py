"""Incidents that have left memory, read back from the archive through DuckDB.

``recall`` brings incidents back whole (every archived step) for the state, when a new step
arrives for one (``State.recall``) or the desk opens one (``Details``). ``search`` answers the
duty table's filter over the closed incidents only the archive holds (``summaries``), sorted
and cut like the table asks, so the desk's hot and cold answers merge into one
(``dashboard.views.duty_query``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from dashboard.cold import summaries
from dashboard.incident import Incident, Step, put_step
from dashboard.views.search import AREA_FIELD, PERIODS, Filter, Marks
from feeds.archive import Archive
from feeds.catalogue import CATEGORIES
from feeds.geo.codes import level_of
from feeds.schema import AreaRef

log = logging.getLogger(__name__)

# the duty table's sort columns (``search.sort``) over a summary row: closed incidents only,
# so "status" sorts as (closed, deadline) does
ORDER = {
    "reported": "first_ts",
    "deadline": "deadline",
    "level": "last_level",
    "category": "category",
    "place": "coalesce(grid, town)",
    "status": "deadline",
    "source": "source",
}
_AREA = ("county", "town", "village", "grid")
# what the table's sort and the map read: no text (a scan's cost is mostly text)
_BRIEF = (
    "id, category, county, town, village, grid, lon, lat, source, severity, deadline, "
    "first_seq, first_type, first_ts, first_level, first_sid, "
    "last_seq, last_type, last_ts, last_level, last_sid"
)
_ROW = (
    "id, category, county, town, village, grid, lon, lat, source, title, detail, reporter, "
    "severity, deadline, first_seq, first_type, first_ts, first_level, first_sid, "
    "last_seq, last_type, last_ts, last_level, last_sid"
)


@dataclass(frozen=True)
class Ask:
    """A duty-table filter as the archive answers it: ``f`` in ``area`` (the asker's scope or
    within it), text searched revealed or masked, incidents closed before ``before`` (the
    eviction horizon) and not among ``besides`` (the ones memory holds)."""

    f: Filter
    area: str
    city: str
    reveal: bool
    marks: Marks
    before: datetime
    now: datetime
    besides: Collection[str]


@dataclass(frozen=True)
class Found:
    total: int  # rows matching
    incidents: list[Incident]  # the first ``limit`` of them, in the asked order, without text
    # (``ColdStore.complete`` reads the rest of those shown)


class ColdStore:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.failures = 0  # archive reads that failed in the live fold

    # -- whole incidents ---------------------------------------------------------------------
    def recall_or_none(self, ids: set[str]) -> dict[str, Incident]:
        """``recall`` for the live fold: an archive that cannot be read costs the history of
        the incidents asked for (they go on from the step at hand), never the step."""
        try:
            return self.recall(ids)
        except Exception:  # duckdb, pyarrow or the file system: whichever, the fold goes on
            self.failures += 1
            log.exception("the archive could not be read for %d incident(s)", len(ids))
            return {}

    def recall(self, ids: set[str]) -> dict[str, Incident]:
        """The incidents ``ids`` the archive has, with every step it has of them."""
        if not ids or not self.archive.days():
            return {}
        wanted = pa.table({"id": pa.array(sorted(ids), pa.string())})
        with _connection() as con:
            con.register("wanted", wanted)
            table = con.sql(
                """
                SELECT * EXCLUDE (day) FROM read_parquet(?, hive_partitioning = true)
                SEMI JOIN wanted USING (id) ORDER BY id, seq
                """,
                params=[self.archive.files("events")],
            ).to_arrow_table()
        found: dict[str, Incident] = {}
        for row in table.to_pylist():
            incident = found.get(row["id"])
            if incident is None:  # its lowest seq: the fields the state takes (``Incident``)
                incident = found[row["id"]] = _incident(row)
            if row["seq"] not in incident.steps:
                ts = row["ts"].astimezone(UTC)  # as the fold keeps them (Arrow's tz object aside)
                put_step(incident, Step(row["seq"], row["type"], ts, row["level"], row["sid"]))
        return found

    def open_ids(self) -> set[str]:
        return summaries.open_ids(self.archive)

    # -- the duty table ----------------------------------------------------------------------
    def search(self, ask: Ask, column: str, descending: bool, limit: int) -> Found:
        """Closed incidents only the archive holds that pass ``ask``; the first ``limit``
        sorted by ``column``. The filter's tests that only open or today's incidents pass
        (``skips``) are the caller's to check first."""
        where, params = _where(ask)
        parts = summaries.files(self.archive)
        if not parts:
            return Found(0, [])
        superseded = summaries.superseded_file(self.archive)
        stale = (
            "SELECT id, last_ms FROM read_parquet(?)" if superseded.exists() else
            "SELECT NULL::VARCHAR AS id, NULL::BIGINT AS last_ms WHERE false"
        )  # fmt: skip
        stale_params = [str(superseded)] if superseded.exists() else []
        order = f"{ORDER.get(column, 'first_ts')} {'DESC' if descending else 'ASC'}, id"
        matching = f"""
            SELECT * FROM read_parquet(?) s
            ANTI JOIN ({stale}) x ON s.id = x.id AND s.last_ms = x.last_ms
            ANTI JOIN besides b ON s.id = b.id
            WHERE {where}
        """
        asked = [parts, *stale_params, *params]
        with _connection() as con:
            ids = pa.array(sorted(ask.besides), pa.string())
            con.register("besides", pa.table({"id": ids}))
            if ask.f.q:
                # the text is read once (it is most of the time): every match, briefly, then
                # counted and cut in memory
                found = con.sql(f"SELECT {_BRIEF} FROM ({matching})", params=asked)
                table = found.to_arrow_table()
                total = table.num_rows
                con.register("found", table)
                top = f"SELECT * FROM found ORDER BY {order} LIMIT ?"
                table = con.sql(top, params=[limit]).to_arrow_table()
            else:  # the count reads only the filter's columns; the top rows no text
                count = con.sql(f"SELECT count(*) FROM ({matching})", params=asked).fetchall()
                total = int(count[0][0]) if count else 0
                top = f"SELECT {_BRIEF} FROM ({matching}) ORDER BY {order} LIMIT ?"
                table = con.sql(top, params=[*asked, limit]).to_arrow_table()
        return Found(total, [_summary(r) for r in table.to_pylist()])

    def complete(self, incidents: list[Incident], archived: set[str]) -> list[Incident]:
        """``incidents`` with those of ``archived`` (as ``search`` gave them: no text) read
        in full: what a block of the table shows."""
        wanted = [i.id for i in incidents if i.id in archived]
        if not wanted:
            return incidents
        with _connection() as con:
            table = con.sql(
                f"""
                SELECT {_ROW} FROM read_parquet(?) WHERE list_contains(?, id)
                QUALIFY row_number() OVER (PARTITION BY id ORDER BY last_ms DESC) = 1
                """,
                params=[summaries.files(self.archive), wanted],
            ).to_arrow_table()
        full = {row["id"]: _summary(row) for row in table.to_pylist()}
        return [full.get(i.id, i) for i in incidents]


def _where(ask: Ask) -> tuple[str, list[object]]:
    """The filter as SQL (``search.matching``'s tests, over a summary row)."""
    f, area = ask.f, ask.area
    clauses: list[str] = ["last_type = 'closed'", "last_ts < ?"]
    params: list[object] = [ask.before]
    if area != ask.city:
        field = AREA_FIELD.get(level_of(area) or "", "town")
        clauses.append(f"{field} = ?")
        params.append(area)
    cats = set(f.cat) if f.cat else set(CATEGORIES)
    if f.platform:
        cats = {c for c in cats if CATEGORIES[c].platform in f.platform}
    if f.cat or f.platform:
        clauses.append("list_contains(?, category)")
        params.append(sorted(cats))
    if f.source:
        clauses.append("list_contains(?, source)")
        params.append(list(f.source))
    if f.level:
        clauses.append("list_contains(?, last_level)")
        params.append(list(f.level))
    if f.flag in ("supervised", "acknowledged"):
        chosen = ask.marks.supervised if f.flag == "supervised" else ask.marks.acknowledged
        clauses.append("list_contains(?, id)")
        params.append(sorted(chosen))
    span = PERIODS.get(f.period)
    if span is not None:
        clauses.append("first_ts >= ?")
        params.append(ask.now - span)
    if f.q:
        clauses.append(f"contains({'search_plain' if ask.reveal else 'search_masked'}, ?)")
        params.append(f.q.lower())
    return " AND ".join(clauses), params


def _connection() -> duckdb.DuckDBPyConnection:
    """A connection for one call, closed after it: an open one keeps DuckDB's worker threads,
    and the checkpoint writer forks the process (DuckDB is not fork-safe: a child forked
    beside a live connection crashed writing the checkpoint at stop)."""
    return duckdb.connect()


def skips(f: Filter) -> bool:
    """Whether no incident the archive holds can pass ``f``: it asks for open ones, today's
    KPI sets, or flags only open incidents carry."""
    return (
        f.status == "open"
        or bool(f.set)
        or f.flag in ("overdue", "due_soon", "unacknowledged")
        or f.period in ("today", "24h")
    )


def _incident(row: dict[str, Any]) -> Incident:
    return Incident(
        row["id"],
        row["category"],
        AreaRef(row["county"], row["town"], row["village"], row["grid"]),
        row["lon"],
        row["lat"],
        row["source"],
        row.get("title") or "",
        row.get("detail") or "",
        row.get("reporter"),
        row["severity"],
        row["deadline"].astimezone(UTC),
    )


def _summary(row: dict[str, Any]) -> Incident:
    """An incident from its summary row: its fields, its first and latest steps (what the
    table, the map and the sort read; the detail recalls the whole of it)."""
    incident = _incident(row)
    for end in ("first", "last"):
        put_step(
            incident,
            Step(
                row[f"{end}_seq"], row[f"{end}_type"], row[f"{end}_ts"].astimezone(UTC),
                row[f"{end}_level"],
                row[f"{end}_sid"],
            ),
        )  # fmt: skip
    return incident
