"""Incident summaries in the archive: one row per closed incident, what the desk searches once
the incident has left memory (``State.evict``).

Written by the archive job (``dashboard.cold.keeper``) for every incident whose steps a run
copied, from all of its archived steps, before the run's watermark moves:

    <archive>/incidents/month=YYYY-MM/summaries.parquet

(the month of the run): each run merges its rows into its month's file and writes it again
sorted, newest report first, in row groups of 50,000, atomically (a reader holds the old file
or the new). One file a month, not one a run: DuckDB pays per file opened (60 daily files made
the desk's newest-first query 5× slower than one), and in one sorted file a top-N query reads
the first row groups only. Only incidents closed as of the run are written: open ones are
always in memory. An incident touched again (reopened, a late step) loses its older row
wherever it is, so the archive holds one row per incident, its newest, and none for one that
memory holds again; queries need no deduplication.

A row holds the incident's fields as the state keeps them (its lowest-seq step's), its first and
latest steps, and its searchable text twice (``SearchText``: as revealed, and masked), so a
search over the archive finds exactly what it would have found in memory, for either role.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from dashboard.cold import grams
from dashboard.views.search import searchable
from feeds.archive import Archive
from feeds.schema import CHINA_TZ

_FIELDS = (
    "category", "county", "town", "village", "grid", "lon", "lat", "source", "title", "detail",
    "reporter", "severity", "deadline",
)  # fmt: skip
_ENDS = ("seq", "type", "ts", "level", "sid")  # of the first (lowest seq) and latest step
# what a desk row shows of an archived incident (``dashboard.cold.store``): the title of the
# text, not the detail nor the reporter (the detail view recalls the whole incident)
SHOWN = (
    "id", "category", "county", "town", "village", "grid", "lon", "lat", "source", "title",
    "severity", "deadline", "first_seq", "first_type", "first_ts", "first_level", "first_sid",
    "last_seq", "last_type", "last_ts", "last_level", "last_sid",
)  # fmt: skip
# newest reports first, in row groups DuckDB reads in parallel (one group of 470,000 rows:
# the desk's newest-first query took 235 ms; in groups of 50,000 so ordered, 42 ms)
ROW_GROUP = 50_000


def folder(archive: Archive) -> Path:
    return archive.root / "incidents"


def files(archive: Archive) -> list[str]:
    """Every summary part (DuckDB reads the list; none yet: empty)."""
    base = folder(archive)
    return sorted(str(p) for p in base.glob("month=*/*.parquet")) if base.exists() else []


def write_summaries(archive: Archive, ids: set[str], run: str) -> int:
    """Summarise the incidents ``ids`` from every step the archive holds; returns the rows
    written (the closed ones). Safe to repeat: a rerun writes the same file name again."""
    if not ids:
        return 0
    wanted = pa.table({"id": pa.array(sorted(ids), pa.string())})
    pick = ", ".join(f"arg_min({f}, seq) AS {f}" for f in _FIELDS)
    ends = ", ".join(
        f"arg_min({c}, seq) AS first_{c}, arg_max({c}, seq) AS last_{c}" for c in _ENDS
    )
    sql = f"""
        SELECT e.id, {pick}, {ends},
               max(CAST(split_part(e.sid, '-', 1) AS BIGINT)) AS last_ms
        FROM read_parquet(?, hive_partitioning = true) e SEMI JOIN wanted USING (id)
        GROUP BY e.id
    """
    with duckdb.connect() as con:
        con.register("wanted", wanted)
        table = con.sql(sql, params=[archive.files("events")]).to_arrow_table()
    is_closed = pa.compute.equal(table["last_type"], "closed")
    _keep_open(archive, ids, table.filter(pa.compute.invert(is_closed))["id"].to_pylist())
    month = datetime.fromtimestamp(int(run.split("-")[0]) / 1000, CHINA_TZ).strftime("%Y-%m")
    target = folder(archive) / f"month={month}" / "summaries.parquet"
    _drop_older_rows(archive, ids, besides=target)
    closed = table.filter(is_closed)
    if not closed.num_rows:
        return 0
    titles, details = closed["title"].to_pylist(), closed["detail"].to_pylist()
    for name, reveal in (("search_plain", True), ("search_masked", False)):
        texts = [searchable(t, d or "", reveal) for t, d in zip(titles, details, strict=True)]
        closed = closed.append_column(name, pa.array(texts, pa.string()))
    written = closed.num_rows
    if target.exists():  # this run's rows replace the month's rows of the same incidents
        kept = pq.read_table(target, schema=closed.schema)
        stale = pa.compute.is_in(kept["id"], value_set=pa.array(sorted(ids), pa.string()))
        closed = pa.concat_tables([kept.filter(pa.compute.invert(stale)), closed])
    _write_indexed(target, closed.sort_by([("first_ts", "descending")]))
    return int(written)


def _drop_older_rows(archive: Archive, ids: set[str], besides: Path) -> None:
    """Take the incidents ``ids`` (summarised again, or open again) out of the other months'
    files: an incident has one row in the archive, its newest, or none while memory holds it."""
    touched = pa.array(sorted(ids), pa.string())
    for name in files(archive):
        path = Path(name)
        if path == besides:
            continue
        stale = pa.compute.is_in(pq.read_table(path, columns=["id"])["id"], value_set=touched)
        if pa.compute.any(stale).as_py():
            table = pq.read_table(path)
            _write_indexed(path, table.filter(pa.compute.invert(stale)))


def open_ids(archive: Archive) -> set[str]:
    """The incidents open as of the archive's watermark (a rebuild whose log no longer
    reaches back to them takes them from here: ``State.bring_back``)."""
    path = open_file(archive)
    return set(pq.read_table(path)["id"].to_pylist()) if path.exists() else set()


def due_ids(archive: Archive, since: datetime) -> set[str]:
    """The archived (closed) incidents due at or after ``since``: they count in the figures
    of the days from there (处置率 and 按期办结率 are over what is due on a day), so a rebuild
    whose log no longer reaches back to them takes them from here too."""
    parts = files(archive)
    if not parts:
        return set()
    with duckdb.connect() as con:  # the archive job's child and a rebuild: no shared database
        found = con.sql(
            "SELECT id FROM read_parquet(?) WHERE deadline >= ?", params=[parts, since]
        ).fetchall()
    return {row[0] for row in found}


def open_file(archive: Archive) -> Path:
    return folder(archive) / "open.parquet"


def _keep_open(archive: Archive, touched: set[str], still_open: list[str]) -> None:
    ids = (open_ids(archive) - touched) | set(still_open)
    _write(open_file(archive), pa.table({"id": pa.array(sorted(ids), pa.string())}))


def _write_indexed(path: Path, table: pa.Table) -> None:
    """A summaries file with its text index (``grams``): the index first, then the file that
    names it, then older indexes go."""
    mark = grams.stamp()
    indexed = grams.write(path, mark, table, SHOWN)
    if indexed:
        table = table.replace_schema_metadata(grams.stamped(table.schema, mark).metadata)
    _write(path, table)
    grams.remove_others(path, mark if indexed else None)


def _write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{uuid.uuid4().hex}.tmp"
    pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP)
    os.replace(tmp, path)
