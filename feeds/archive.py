"""History beyond Redis: event steps archived to Parquet by day, and trends queried from there.

Redis keeps the hot log (days, capped by ``ONEMAP_EVENTS_MAXLEN``). ``archive_log`` copies every
step that entered the log before a cutoff (by default, local midnight: complete days) into

    <root>/events/day=YYYY-MM-DD/part-<first stream id>.parquet

partitioned by the day of the step's own timestamp, with a small daily rollup beside it

    <root>/rollup/day=YYYY-MM-DD/part-<first stream id>.parquet

(steps of each type per town × category, about a quarter of the rows), merges each month's
daily rollups into one file, summed over the day's parts and sorted by day, town, category

    <root>/months/month=YYYY-MM/rollup.parquet

(what the year-long queries read: 12 files instead of 365, and rows that need no grouping),
and remembers the last stream id it copied in ``<root>/_watermark``. Running it again copies
only what is new; a repeated step (same incident id and seq) is stored once, even across runs.
Files appear atomically (written aside, then renamed), and a crash between a file and the
watermark is repaired by the next run, which rewrites the same file name (and merges its month
again). The archiver never deletes from Redis: the log's cap does that, so run it at least
daily (the default cap holds about 40 days of 8,000 incidents).

Queries run on DuckDB over the Parquet files (chosen by measurement over pandas, see
docs/benchmarks.md): it reads only the columns and day partitions a query needs.
"""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from feeds.bus import EVENTS, Bus, Entry
from feeds.geo.codes import CITY_CODE, level_of
from feeds.rollup import KINDS, merge_month, rollup
from feeds.schema import CHINA_TZ, EventMessage

__all__ = [
    "KINDS", "LEVELS", "SCHEMA", "Archive", "ArchiveRun", "archive_log", "area_category_day",
    "area_category_day_table", "rollup", "trend",
]

_TS = pa.timestamp("ms", tz="Asia/Shanghai")
SCHEMA = pa.schema(
    [
        ("sid", pa.string()),
        ("id", pa.string()),
        ("seq", pa.int16()),
        ("type", pa.string()),
        ("ts", _TS),
        ("category", pa.string()),
        ("level", pa.int8()),
        ("county", pa.string()),
        ("town", pa.string()),
        ("village", pa.string()),
        ("grid", pa.string()),
        ("lon", pa.float64()),
        ("lat", pa.float64()),
        ("source", pa.string()),
        ("reporter", pa.string()),
        ("severity", pa.string()),
        ("title", pa.string()),
        ("detail", pa.string()),
        ("deadline", _TS),
    ]
)
LEVELS = ("county", "town", "village", "grid")


@dataclass(frozen=True)
class ArchiveRun:
    steps: int  # rows written
    repeats: int  # steps skipped because the archive had them already
    days: tuple[date, ...]  # partitions written to
    watermark: str


class Archive:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.events = self.root / "events"
        self.rollup = self.root / "rollup"
        self.months = self.root / "months"

    def watermark(self) -> str:
        path = self.root / "_watermark"
        return path.read_text().strip() if path.exists() else "0-0"

    def set_watermark(self, sid: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.root / "_watermark", sid.encode())

    def days(self) -> list[date]:
        if not self.events.exists():
            return []
        return sorted(date.fromisoformat(p.name[4:]) for p in self.events.glob("day=*"))

    def write_day(self, day: date, entries: list[Entry]) -> tuple[int, int]:
        """Store one day's steps (skipping any the day has already); (written, repeats)."""
        folder = self.events / f"day={day.isoformat()}"
        target = folder / f"part-{entries[0].sid}.parquet"
        fresh, seen = [], self._keys(folder, besides=target)
        for entry in entries:
            assert isinstance(entry.message, EventMessage)  # the archive keeps events only
            key = (entry.message.id, entry.message.seq)
            if key not in seen:
                seen.add(key)
                fresh.append(entry)
        if fresh:
            table = _table(fresh)
            # the rollup first: a crash between the two leaves a rollup that the rerun,
            # rewriting both files under the same names, makes right again
            _write(self.rollup / folder.name / target.name, rollup(table))
            _write(target, table)
        return len(fresh), len(entries) - len(fresh)

    def files(self, kind: str = "events") -> str:
        """The glob DuckDB reads: ``events`` or ``rollup``."""
        return str(self.root / kind / "day=*" / "*.parquet")

    def compact(self) -> list[str]:
        """Merge the daily rollups of every month whose merged file is missing or older than
        one of its days' parts (the month still open included); returns the months merged."""
        merged = []
        for month, (parts, newest) in sorted(self._rollup_parts().items()):
            target = self.months / f"month={month}" / "rollup.parquet"
            if not target.exists() or target.stat().st_mtime_ns < newest:
                _write(target, merge_month(parts))
                merged.append(month)
        return merged

    def rollup_files(self, start: date, end: date) -> tuple[list[str], list[str]]:
        """(merged month files, daily rollup files): together every rollup row of the days
        ``start``..``end``, each once. A month's merged file is used only while it is newer
        than all of its days' parts, so a day archived since the last merge is never missed."""
        months, days = [], []
        for month, (parts, newest) in sorted(self._rollup_parts(start, end).items()):
            target = self.months / f"month={month}" / "rollup.parquet"
            if target.exists() and target.stat().st_mtime_ns >= newest:
                months.append(str(target))
            else:
                days += [str(path) for _day, path in parts]
        return months, days

    def _rollup_parts(
        self, start: date = date.min, end: date = date.max
    ) -> dict[str, tuple[list[tuple[date, Path]], int]]:
        """Month → ((day, part) of its daily rollups, newest part's mtime), for the months
        that have days in ``start``..``end``."""
        found: dict[str, tuple[list[tuple[date, Path]], int]] = {}
        for folder in self.rollup.glob("day=*") if self.rollup.exists() else ():
            day = date.fromisoformat(folder.name[4:])
            if start.replace(day=1) <= day <= end:
                parts, newest = found.get(day.strftime("%Y-%m"), ([], 0))
                for path in sorted(folder.glob("*.parquet")):
                    parts.append((day, path))
                    newest = max(newest, path.stat().st_mtime_ns)
                found[day.strftime("%Y-%m")] = (parts, newest)
        return found

    def _keys(self, folder: Path, besides: Path) -> set[tuple[str, int]]:
        keys: set[tuple[str, int]] = set()
        for path in folder.glob("*.parquet") if folder.exists() else ():
            if path != besides:
                table = pq.read_table(path, columns=["id", "seq"])
                keys.update(zip(table["id"].to_pylist(), table["seq"].to_pylist(), strict=True))
        return keys


def archive_log(
    bus: Bus,
    archive: Archive,
    before: datetime | None = None,
    copied: Callable[[set[str], str], object] | None = None,
) -> ArchiveRun:
    """Copy the log's steps that arrived before ``before`` (default: today's local midnight).

    ``copied`` is told the ids of the incidents whose steps were copied and the run's last id,
    before the watermark moves: what it derives from them is covered by the watermark, or
    made again by the next run."""
    cutoff_ms = int((before or _midnight(datetime.now(CHINA_TZ))).timestamp() * 1000)
    by_day: dict[date, list[Entry]] = defaultdict(list)
    last = archive.watermark()
    touched: set[str] = set()
    for entry in bus.replay(EVENTS, after=last):
        if int(entry.sid.split("-")[0]) >= cutoff_ms:
            break
        assert isinstance(entry.message, EventMessage)
        by_day[entry.message.ts.astimezone(CHINA_TZ).date()].append(entry)
        touched.add(entry.message.id)
        last = entry.sid
    written = repeats = 0
    for day, entries in sorted(by_day.items()):
        w, r = archive.write_day(day, entries)
        written, repeats = written + w, repeats + r
    archive.compact()  # before the watermark: a crash in between makes the rerun merge again
    if copied is not None and by_day:
        copied(touched, last)
    if last != archive.watermark():
        archive.set_watermark(last)
    return ArchiveRun(written, repeats, tuple(sorted(by_day)), last)


def area_category_day(
    archive: Archive, start: date, end: date, level: str = "town"
) -> pd.DataFrame:
    """``area_category_day_table`` as a DataFrame (day as datetime64), for pandas users.

    Building a million-row DataFrame costs more than the query: views should prefer the table.
    """
    frame = area_category_day_table(archive, start, end, level).to_pandas(date_as_object=False)
    return frame if len(frame) else _empty()


def area_category_day_table(
    archive: Archive, start: date, end: date, level: str = "town"
) -> pa.Table:
    """Steps per area (at ``level``) × category × day, ``start`` to ``end`` inclusive, ordered.

    Columns: day (date32), area, category, reported, closed, escalated, reopened: an Arrow
    table, columnar, so a town-level year (a million rows) costs no Python object per row
    (``.column("reported")``, ``.filter(...)``, ``.to_pylist()`` on a slice, or to pandas).
    Counties and towns come from the rollups, merged by month: a town-level query over merged
    months is a plain scan (the merge summed and sorted them); villages and grids come from
    the steps themselves.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}")
    if level in ("village", "grid"):
        if not archive.days():
            return _EMPTY
        counts = ", ".join(f"count(*) FILTER (WHERE type = '{k}') AS {k}" for k in KINDS)
        sql = f"""
            SELECT day, {level} AS area, category, {counts}
            FROM read_parquet(?, hive_partitioning = true)
            WHERE day BETWEEN ? AND ? AND {level} IS NOT NULL
            GROUP BY ALL ORDER BY day, area, category
        """
        return _arrow(sql, [archive.files("events"), start, end])
    relation, params, merged_only = _rollups(archive, start, end)
    if relation is None:
        return _EMPTY
    if level == "town" and merged_only:  # already one row per key, sorted: no grouping
        sql = f"""
            SELECT day, town AS area, category, {", ".join(KINDS)} FROM ({relation})
            WHERE day BETWEEN ? AND ?
        """
    else:
        sums = ", ".join(f"sum({k})::BIGINT AS {k}" for k in KINDS)
        sql = f"""
            SELECT day, {level} AS area, category, {sums} FROM ({relation})
            WHERE day BETWEEN ? AND ? GROUP BY ALL ORDER BY day, area, category
        """
    return _arrow(sql, [*params, start, end])


def trend(
    archive: Archive,
    days: int,
    end: date | None = None,
    area: str | None = None,
    category: str | None = None,
) -> pd.DataFrame:
    """Reported and closed per day over the last ``days`` days (7, 30, 365 ...) up to ``end``.

    ``area`` is any area code (the city or None: everything). Days without steps are present
    with zeros, so a chart's x axis has no holes.
    """
    end = end or datetime.now(CHINA_TZ).date() - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    frame = pd.DataFrame({"day": pd.date_range(start, end, freq="D").date})
    prefix = None if area is None or area == CITY_CODE else area
    fine = prefix is not None and level_of(prefix) in ("village", "grid")  # read the steps
    if fine and archive.days():
        relation: str | None = "SELECT * FROM read_parquet(?, hive_partitioning = true)"
        params: list[object] = [archive.files("events")]
        counts = (
            "count(*) FILTER (WHERE type = 'reported') AS reported, "
            "count(*) FILTER (WHERE type = 'closed') AS closed"
        )
        where = "starts_with(coalesce(grid, town), ?)"
    else:
        relation, params, _ = _rollups(archive, start, end)
        counts = "sum(reported)::BIGINT AS reported, sum(closed)::BIGINT AS closed"
        where = "starts_with(town, ?)"
    if relation is not None:
        sql = f"""
            SELECT day, {counts} FROM ({relation})
            WHERE day BETWEEN ? AND ? AND (? IS NULL OR {where})
              AND (? IS NULL OR category = ?)
            GROUP BY day
        """
        with duckdb.connect() as con:
            found = con.sql(
                sql, params=[*params, start, end, prefix, prefix, category, category]
            ).df()
        found["day"] = pd.to_datetime(found["day"]).dt.date
        frame = frame.merge(found, on="day", how="left")
    for column in ("reported", "closed"):
        frame[column] = frame.get(column, pd.Series(0, index=frame.index)).fillna(0).astype(int)
    return frame


def _rollups(archive: Archive, start: date, end: date) -> tuple[str | None, list[object], bool]:
    """A SQL relation over every rollup row of ``start``..``end``, its parameters, and whether
    it reads merged months only: the month files, plus the daily parts of months not (freshly)
    merged."""
    months, days = archive.rollup_files(start, end)
    columns = f"day, county, town, category, {', '.join(KINDS)}"
    parts: list[str] = []
    params: list[object] = []
    if months:
        parts.append(f"SELECT {columns} FROM read_parquet(?)")
        params.append(months)
    if days:
        parts.append(f"SELECT {columns} FROM read_parquet(?, hive_partitioning = true)")
        params.append(days)
    return (" UNION ALL ".join(parts) or None), params, not days


def _arrow(sql: str, params: list[object]) -> pa.Table:
    with duckdb.connect() as con:
        table = con.sql(sql, params=params).to_arrow_table()
    return table.cast(_RESULT) if table.num_rows else _EMPTY


def _write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{uuid.uuid4().hex}.tmp"
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def _table(entries: list[Entry]) -> pa.Table:
    columns: dict[str, list[object]] = {name: [] for name in SCHEMA.names}
    for entry in entries:
        m = entry.message
        assert isinstance(m, EventMessage)
        row = (
            entry.sid,
            m.id,
            m.seq,
            m.type,
            m.ts,
            m.category,
            m.level,
            m.area.county,
            m.area.town,
            m.area.village,
            m.area.grid,
            m.lon,
            m.lat,
            m.source,
            m.reporter,
            m.severity,
            m.title,
            m.detail,
            m.deadline,
        )
        for name, value in zip(SCHEMA.names, row, strict=True):
            columns[name].append(value)
    return pa.Table.from_pydict(columns, schema=SCHEMA)


_RESULT = pa.schema(
    [("day", pa.date32()), ("area", pa.string()), ("category", pa.string())]
    + [(kind, pa.int64()) for kind in KINDS]
)
_EMPTY = _RESULT.empty_table()


def _empty() -> pd.DataFrame:
    return pd.DataFrame({name: [] for name in _RESULT.names})


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
