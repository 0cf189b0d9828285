"""Incidents that have left memory, read back from the archive through DuckDB.

``recall`` brings incidents back whole (every archived step) for the state, when a new step
arrives for one (``State.recall``) or the desk opens one (``Details``). ``search`` answers the
duty table's filter over the closed incidents only the archive holds (``summaries``), sorted
and cut like the table asks, so the desk's hot and cold answers merge into one
(``dashboard.views.duty_query``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Hashable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.cold import grams, summaries
from dashboard.cold.duck import DUCK
from dashboard.cold.kept import ANSWERS_KEPT, COUNTS_KEPT, MATCHES_KEPT, MATCHES_ROWS, Lru, version
from dashboard.cold.rows import incident_of, records, summary_of
from dashboard.incident import Incident, Step, put_step
from dashboard.views.search import AREA_FIELD, PERIODS, Filter, Marks
from dashboard.views.terms import Terms
from feeds.archive import Archive
from feeds.catalogue import CATEGORIES
from feeds.geo.codes import level_of

log = logging.getLogger(__name__)
T = TypeVar("T")

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
_NEWEST = "first_ts DESC, id"
# what a table row shows (``summaries.SHOWN``): a text search without an index reads this
# for every match, and the detail was most of it (10,500 matches: 587 → 409 ms without it)
_ROW = ", ".join(summaries.SHOWN)


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
    words: Terms | None = None  # the search read as terms; None: ``f.q`` as one text

    def terms(self) -> Terms:
        if self.words is not None:
            return self.words
        return Terms(texts=(self.f.q.lower(),)) if self.f.q else Terms()


@dataclass(frozen=True)
class Found:
    total: int  # rows matching
    incidents: list[Incident]  # the first ``limit`` of them, in the asked order
    newest: list[Incident]  # the newest reported of them, without their text (for the map)


class ColdStore:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.failures = 0  # archive reads that failed in the live fold
        # Answers that only change when the archive's files do (a night's archive run): the
        # count of a filter's matches, and a text search's matches. Every officer's desk opens
        # on the same few filters; each file's version is in the key.
        self._counts: Lru[int] = Lru(COUNTS_KEPT)
        self._matches: Lru[pa.Table] = Lru(MATCHES_KEPT)
        self._answers: Lru[Found] = Lru(
            ANSWERS_KEPT
        )  # whole answers (their incidents are read only)

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
        for row in records(table):
            incident = found.get(row["id"])
            if incident is None:  # its lowest seq: the fields the state takes (``Incident``)
                incident = found[row["id"]] = incident_of(row)
            if row["seq"] not in incident.steps:
                ts = row["ts"]
                put_step(incident, Step(row["seq"], row["type"], ts, row["level"], row["sid"]))
        return found

    def details(self, ids: Collection[str]) -> dict[str, str]:
        """The detail text of the archived incidents ``ids`` (an export's rows: the desk's
        rows from the archive carry no detail)."""
        parts = summaries.files(self.archive)
        if not ids or not parts:
            return {}
        wanted = pa.table({"id": pa.array(sorted(ids), pa.string())})
        with _connection() as con:
            con.register("wanted", wanted)
            found = con.sql(
                "SELECT id, detail FROM read_parquet(?) SEMI JOIN wanted USING (id)",
                params=[parts],
            ).fetchall()
        return {i: d or "" for i, d in found}

    def open_ids(self) -> set[str]:
        return summaries.open_ids(self.archive)

    # -- the duty table ----------------------------------------------------------------------
    def search(self, ask: Ask, column: str, descending: bool, limit: int, newest: int = 0) -> Found:
        """Closed incidents only the archive holds that pass ``ask``: how many, the first
        ``limit`` sorted by ``column`` (in full), and the ``newest`` reported (without their
        text: for the map). The filter's tests that only open or today's incidents pass
        (``skips``) are the caller's to check first."""
        parts = summaries.files(self.archive)
        if not parts:
            return Found(0, [], [])
        words = ask.terms()
        key = _answer_key(parts, ask, words)
        # the whole answer, for the next officer who asks the same of the same memory
        whole = (key, column, descending, limit, newest, frozenset(ask.besides)) if key else None
        if whole is not None and (kept_answer := self._answers.get(whole)) is not None:
            return kept_answer
        order = f"{ORDER.get(column, 'first_ts')} {'DESC' if descending else 'ASC'}, id"
        # No join here: a join stops DuckDB from pushing the top-N's bound into the scan
        # (one sorted file a month: it then reads the first row groups only; 55 ms against
        # 130 ms with the join). Memory's incidents (``besides``, a few) are asked for beyond
        # the limit and left out after, and their matches taken off the count.
        besides = sorted(ask.besides)
        kept = set(besides)
        if words.texts:
            found = self._matches.get(key) if key else None
            if found is None:
                found = _text_matches(parts, ask, words)
                if key and found.num_rows <= MATCHES_ROWS:
                    self._matches.put(key, found)
            with _connection() as con:
                rows, points, total = _searched(con, found, order, limit, newest, kept)
        else:
            where, params = _where(ask, words)
            asked = [parts, *params]
            matching = f"SELECT * FROM read_parquet(?) WHERE {where}"
            with _connection() as con:
                total_or_none = self._counts.get(key) if key else None
                if total_or_none is None:
                    counted = con.sql(f"SELECT count(*) FROM ({matching})", params=asked)
                    total_or_none = int(counted.fetchall()[0][0])
                    if key:
                        self._counts.put(key, total_or_none)
                total = total_or_none
                if besides:  # an IN list of literals: filtered in the scan, row groups skipped
                    held = ", ".join(_quoted(i) for i in besides)
                    also = f"SELECT count(*) FROM ({matching}) WHERE id IN ({held})"
                    total -= int(con.sql(also, params=asked).fetchall()[0][0])
                if not limit and not newest:  # the count alone (``DutyQuery._both``)
                    return Found(total, [], [])
                # newest first (the desk's default) serves the table and the map in one read
                both = newest and order == _NEWEST
                top = f"SELECT {_ROW} FROM ({matching}) ORDER BY {order} LIMIT ?"
                wanted = (max(limit, newest) if both else limit) + len(besides)
                rows = records(con.sql(top, params=[*asked, wanted]).to_arrow_table())
                points = rows if both else []
                if newest and not both:
                    top = f"SELECT {_BRIEF} FROM ({matching}) ORDER BY {_NEWEST} LIMIT ?"
                    mapped = con.sql(top, params=[*asked, newest + len(besides)])
                    points = records(mapped.to_arrow_table())
        made = {r["id"]: summary_of(r) for r in rows if r["id"] not in kept}
        first = list(made.values())[:limit]
        latest = [made.get(r["id"]) or summary_of(r) for r in points if r["id"] not in kept]
        answer = Found(total, first, latest[:newest])
        if whole is not None:
            self._answers.put(whole, answer)
        return answer


def _text_matches(parts: list[str], ask: Ask, words: Terms) -> pa.Table:
    """Every archived row (its shown columns) that passes a text search: taken from the
    index's rows (``grams``) and filtered in memory when every file is indexed; otherwise the
    files are scanned."""
    hits = _hits(parts, ask.reveal, words.texts)
    named = _named(parts, ask.reveal, words) if hits is not None else None
    if named is None:
        hits = None  # a place's word the index cannot answer: scan for every word
    where, params = _where(ask, words, indexed=hits is not None, named=named)
    source, asked = ("hits", params) if hits is not None else ("read_parquet(?)", [parts, *params])
    with _connection() as con:
        if hits is not None:
            con.register("hits", hits)
        return con.sql(f"SELECT {_ROW} FROM {source} WHERE {where}", params=asked).to_arrow_table()


def _answer_key(parts: list[str], ask: Ask, words: Terms) -> Hashable | None:
    """What an answer depends on, these files as they are now included; None for a filter
    whose answer moves anyway: a window that moves with the clock ("the last 7 days"), or
    marks that change with every 签收 and 督办."""
    if ask.f.period in PERIODS or ask.f.flag in ("supervised", "acknowledged"):
        return None
    return (version(parts), ask.f, ask.area, ask.city, ask.reveal, ask.before, words)


def _searched(
    con: duckdb.DuckDBPyConnection,
    found: pa.Table,
    order: str,
    limit: int,
    newest: int,
    kept: set[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """A text search: the search text is read for every row whatever is asked, so the matches
    (``found``) are read once, in full, then counted and cut in memory (reading them briefly
    and the rows shown again by id cost more: 133 + 135 ms against 167 ms for a county's)."""
    held = pa.compute.is_in(found["id"], value_set=pa.array(sorted(kept), pa.string()))
    total = found.num_rows - int(pa.compute.sum(held).as_py() or 0)
    con.register("found", found)
    top = f"SELECT * FROM found ORDER BY {order} LIMIT ?"
    rows = records(con.sql(top, params=[limit + len(kept)]).to_arrow_table())
    points: list[dict[str, Any]] = []
    if newest:
        top = f"SELECT {_BRIEF} FROM found ORDER BY {_NEWEST} LIMIT ?"
        points = records(con.sql(top, params=[newest + len(kept)]).to_arrow_table())
    return rows, points, total


def _hits(parts: list[str], reveal: bool, words: tuple[str, ...]) -> pa.Table | None:
    """The archived incidents whose text holds every word, from each file's index
    (``grams``); None when there is no word, or a word or a file the index cannot answer
    (then the text is scanned)."""
    if not words:
        return None
    text = "search_plain" if reveal else "search_masked"
    found: list[pa.Table] = []
    for part in parts:
        rows: pa.Table | None = None
        for word in words:
            matched = grams.find(Path(part), text, word)
            if matched is None:
                return None
            if rows is not None:  # every word: the rows both found
                matched = rows.filter(pc.is_in(rows["id"], value_set=matched["id"]))
            rows = matched
        assert rows is not None
        found.append(rows)
    return pa.concat_tables(found)


def _named(parts: list[str], reveal: bool, words: Terms) -> list[list[str]] | None:
    """Per word that names a place, the archived ids whose text holds it (from the index);
    None when the index cannot answer one."""
    text = "search_plain" if reveal else "search_masked"
    named: list[list[str]] = []
    for word, _codes in words.places:
        ids: list[str] = []
        for part in parts:
            matched = grams.find(Path(part), text, word)
            if matched is None:
                return None
            ids.extend(matched["id"].to_pylist())
        named.append(ids)
    return named


def _where(
    ask: Ask, words: Terms, indexed: bool = False, named: list[list[str]] | None = None
) -> tuple[str, list[object]]:
    """The filter as SQL (``search.matching``'s tests, over a summary row); ``indexed``: the
    rows asked are the text words' matches already (``_hits``), and ``named`` holds, per word
    that names a place, the ids whose text holds it (``_named``)."""
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
    for start in words.ids:
        clauses.append("starts_with(lower(id), ?)")
        params.append(start)
    text = "search_plain" if ask.reveal else "search_masked"
    if not indexed:
        for word in words.texts:
            clauses.append(f"contains({text}, ?)")
            params.append(word)
    per_word: list[list[str] | None] = [*named] if named is not None else [None] * len(words.places)
    for (word, codes), ids in zip(words.places, per_word, strict=True):
        there = "list_has_any(?, [county, town, village, grid])"
        if ids is None:
            clauses.append(f"({there} OR contains({text}, ?))")
            params.extend([sorted(codes), word])
        else:  # the rows asked are few (``_hits``): the ids whose text holds it, as a list
            clauses.append(f"({there} OR list_contains(?, id))")
            params.extend([sorted(codes), ids])
    return " AND ".join(clauses), params


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _connection() -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """A connection for one call, to the process's one database (``dashboard.cold.duck``:
    opening a database per call cost 13–15 ms; it is closed around forks)."""
    return DUCK.cursor()


def skips(f: Filter) -> bool:
    """Whether no incident the archive holds can pass ``f``: it asks for open ones, today's
    KPI sets, or flags only open incidents carry."""
    return (
        f.status == "open"
        or bool(f.set)
        or f.flag in ("overdue", "due_soon", "unacknowledged")
        or f.period in ("today", "24h")
    )
