"""Incident summaries in the archive: one row per closed incident, what the desk searches once
the incident has left memory (``State.evict``).

Written by the archive job (``dashboard.cold.keeper``) for every incident whose steps a run
copied, from all of its archived steps, before the run's watermark moves:

    <archive>/incidents/month=YYYY-MM/summaries.parquet

(the month of the run): each run merges its rows into its month's file, replacing the rows of
the same incidents, and writes it again sorted, newest report first, in row groups of 50,000,
atomically (a reader holds the old file or the new). One file a month, not one a run: DuckDB
pays per file opened (60 daily files made the desk's newest-first query 5× slower than one).
Only incidents closed as of the run are written: open ones are always in memory. An incident
summarised in an earlier month and touched again (reopened, a late step) leaves a stale row
there; those are listed in ``<archive>/incidents/superseded.parquet`` (id, last_ms), which every
query leaves out, so each incident is read from its newest row only.

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

from dashboard.views.search import searchable
from feeds.archive import Archive
from feeds.schema import CHINA_TZ

_TS = pa.timestamp("ms", tz="Asia/Shanghai")
_FIELDS = (
    "category", "county", "town", "village", "grid", "lon", "lat", "source", "title", "detail",
    "reporter", "severity", "deadline",
)  # fmt: skip
_ENDS = ("seq", "type", "ts", "level", "sid")  # of the first (lowest seq) and latest step
# newest reports first, in row groups DuckDB reads in parallel (one group of 470,000 rows:
# the desk's newest-first query took 235 ms; in groups of 50,000 so ordered, 42 ms)
ROW_GROUP = 50_000
SUPERSEDED = pa.schema([("id", pa.string()), ("last_ms", pa.int64())])


def folder(archive: Archive) -> Path:
    return archive.root / "incidents"


def files(archive: Archive) -> list[str]:
    """Every summary part (DuckDB reads the list; none yet: empty)."""
    base = folder(archive)
    return sorted(str(p) for p in base.glob("month=*/*.parquet")) if base.exists() else []


def superseded_file(archive: Archive) -> Path:
    return folder(archive) / "superseded.parquet"


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
        _supersede(con, archive, table.select(["id", "last_ms"]))
    is_closed = pa.compute.equal(table["last_type"], "closed")
    _keep_open(archive, ids, table.filter(pa.compute.invert(is_closed))["id"].to_pylist())
    closed = table.filter(is_closed)
    if not closed.num_rows:
        return 0
    titles, details = closed["title"].to_pylist(), closed["detail"].to_pylist()
    for name, reveal in (("search_plain", True), ("search_masked", False)):
        texts = [searchable(t, d or "", reveal) for t, d in zip(titles, details, strict=True)]
        closed = closed.append_column(name, pa.array(texts, pa.string()))
    month = datetime.fromtimestamp(int(run.split("-")[0]) / 1000, CHINA_TZ).strftime("%Y-%m")
    target = folder(archive) / f"month={month}" / "summaries.parquet"
    written = closed.num_rows
    if target.exists():  # this run's rows replace the month's rows of the same incidents
        kept = pq.read_table(target, schema=closed.schema)
        fresh = pa.compute.is_in(kept["id"], value_set=closed["id"])
        closed = pa.concat_tables([kept.filter(pa.compute.invert(fresh)), closed])
    _write(target, closed.sort_by([("first_ts", "descending")]))
    return int(written)


def open_ids(archive: Archive) -> set[str]:
    """The incidents open as of the archive's watermark (a rebuild whose log no longer
    reaches back to them takes them from here: ``State.bring_back``)."""
    path = open_file(archive)
    return set(pq.read_table(path)["id"].to_pylist()) if path.exists() else set()


def open_file(archive: Archive) -> Path:
    return folder(archive) / "open.parquet"


def _keep_open(archive: Archive, touched: set[str], still_open: list[str]) -> None:
    ids = (open_ids(archive) - touched) | set(still_open)
    _write(open_file(archive), pa.table({"id": pa.array(sorted(ids), pa.string())}))


def _supersede(con: duckdb.DuckDBPyConnection, archive: Archive, fresh: pa.Table) -> None:
    """Mark the older rows of the incidents summarised again as stale."""
    older = files(archive)
    if not older:
        return
    con.register("fresh", fresh)
    stale = con.sql(
        """
        SELECT s.id, s.last_ms FROM read_parquet(?) s JOIN fresh f ON s.id = f.id
        WHERE s.last_ms < f.last_ms
        """,
        params=[older],
    ).to_arrow_table()
    if not stale.num_rows:
        return
    path = superseded_file(archive)
    known = pq.read_table(path) if path.exists() else SUPERSEDED.empty_table()
    con.register("merged", pa.concat_tables([known, stale.cast(SUPERSEDED)]))
    _write(path, con.sql("SELECT DISTINCT * FROM merged").to_arrow_table().cast(SUPERSEDED))


def _write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{uuid.uuid4().hex}.tmp"
    pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP)
    os.replace(tmp, path)
