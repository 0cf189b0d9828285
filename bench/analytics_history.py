"""History queries over a year of archived steps: DuckDB against pandas, on the same files.

    .venv/bin/python -m bench.analytics_history [--rows 4000000] [--days 365] [--json out.json]

Writes a year of synthetic steps (4 million: ~11,000 a day, the simulator's mix of step types,
grids drawn by population) into the archive layout of ``feeds.archive``: per day one Parquet
file of steps with every column of the contract, and its rollup as the archiver writes it.
Then merges the rollups by month as the archiver does (``Archive.compact``, timed) and times
the area × category × day query (reported, closed, escalated, reopened) over the whole year,
five runs each: ``area_category_day_table`` (an Arrow table: DuckDB on the merged monthly
rollups, county and town), the same as a DataFrame (``area_category_day``), DuckDB on the
daily rollups as before the merge (the baseline), DuckDB on the steps (county, town, grid)
and pandas on the steps (pyarrow dataset read of the needed columns + groupby); and the
7/30/365-day ``trend`` of a county.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from feeds.archive import (
    KINDS,
    SCHEMA,
    Archive,
    area_category_day,
    area_category_day_table,
    rollup,
    trend,
)
from feeds.catalogue import CATEGORIES, SOURCES
from feeds.geo import load_geography
from feeds.schema import CHINA_TZ

END = date(2026, 11, 22)
TYPES = [
    "reported",
    "dispatched",
    "accepted",
    "escalated",
    "handled",
    "feedback",
    "closed",
    "reopened",
]
TYPE_SHARE = [0.19, 0.125, 0.125, 0.06, 0.19, 0.125, 0.183, 0.002]  # the simulator's mix


def write_year(root: Path, rows: int, days: int, seed: int = 7) -> Archive:
    geo = load_geography()
    rng = np.random.default_rng(seed)
    grids = np.array(sorted(geo.grids))
    weights = np.array([max(1, geo.grids[g].population) for g in grids], dtype=float)
    weights /= weights.sum()
    categories = np.array(list(CATEGORIES))
    cat_weights = np.array([c.weight for c in CATEGORIES.values()])
    cat_weights /= cat_weights.sum()
    per_day = rows // days
    archive = Archive(root)
    for n in range(days):
        day = END - timedelta(days=days - 1 - n)
        table = _day_table(rng, day, per_day, grids, weights, categories, cat_weights)
        for kind, data in (("events", table), ("rollup", rollup(table))):
            folder = archive.root / kind / f"day={day.isoformat()}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(data, folder / "part-0.parquet", compression="zstd")
    return archive


def _day_table(
    rng: np.random.Generator,
    day: date,
    count: int,
    grids: np.ndarray,
    weights: np.ndarray,
    categories: np.ndarray,
    cat_weights: np.ndarray,
) -> pa.Table:
    midnight = datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ).timestamp()
    ts = (midnight + np.sort(rng.uniform(0, 86_400, count))) * 1000
    grid = rng.choice(grids, count, p=weights)
    columns = {
        "sid": pa.array([f"{int(t)}-0" for t in ts]),
        "id": pa.array(np.char.add("E", rng.integers(0, 10**7, count).astype(str))),
        "seq": pa.array(rng.integers(1, 8, count), pa.int16()),
        "type": pa.array(rng.choice(TYPES, count, p=TYPE_SHARE)),
        "ts": pa.array(ts.astype("int64"), pa.timestamp("ms", tz="Asia/Shanghai")),
        "category": pa.array(rng.choice(categories, count, p=cat_weights)),
        "level": pa.array(
            rng.choice([1, 2, 3, 4, 5], count, p=[0.8, 0.12, 0.05, 0.02, 0.01]), pa.int8()
        ),
        "county": pa.array(np.array([g[:6] for g in grid])),
        "town": pa.array(np.array([g[:9] for g in grid])),
        "village": pa.array(np.array([g[:12] for g in grid])),
        "grid": pa.array(grid),
        "lon": pa.array(rng.uniform(121.0, 122.0, count)),
        "lat": pa.array(rng.uniform(29.2, 30.2, count)),
        "source": pa.array(rng.choice(list(SOURCES), count)),
        "reporter": pa.array([None] * count, pa.string()),
        "severity": pa.array(
            rng.choice(["normal", "major", "urgent"], count, p=[0.95, 0.045, 0.005])
        ),
        "title": pa.array(rng.choice(["路边垃圾堆放未清理", "占道经营", "井盖缺失"], count)),
        "detail": pa.array(
            rng.choice(["巷口垃圾桶满溢，已影响通行。", "已签收，正在处置。"], count)
        ),
        "deadline": pa.array(
            (ts + 86_400_000).astype("int64"), pa.timestamp("ms", tz="Asia/Shanghai")
        ),
    }
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def with_pandas(archive: Archive, start: date, end: date, level: str) -> pd.DataFrame:
    days = ds.partitioning(pa.schema([("day", pa.date32())]), flavor="hive")
    dataset = ds.dataset(archive.events, format="parquet", partitioning=days)
    day = ds.field("day")
    table = dataset.to_table(
        columns=["day", level, "category", "type"],
        filter=(day >= pa.scalar(start)) & (day <= pa.scalar(end)),
    )
    frame = table.to_pandas()
    for kind in ("reported", "closed", "escalated", "reopened"):
        frame[kind] = frame["type"] == kind
    grouped = frame.groupby(["day", level, "category"], observed=True, sort=True)
    return grouped[["reported", "closed", "escalated", "reopened"]].sum().reset_index()


def events_query(archive: Archive, start: date, end: date, level: str) -> pd.DataFrame:
    """The same query on the steps themselves, without the rollups."""
    counts = ", ".join(f"count(*) FILTER (WHERE type = '{k}') AS {k}" for k in KINDS)
    sql = f"""SELECT day, {level} AS area, category, {counts}
              FROM read_parquet(?, hive_partitioning = true)
              WHERE day BETWEEN ? AND ? GROUP BY ALL ORDER BY day, area, category"""
    with duckdb.connect() as con:
        return con.execute(sql, [archive.files(), start, end]).df()


def daily_rollups_query(archive: Archive, start: date, end: date, level: str) -> pa.Table:
    """The query as it was before the monthly merge: 365 daily rollup files, grouped."""
    sums = ", ".join(f"sum({k})::BIGINT AS {k}" for k in KINDS)
    sql = f"""SELECT day, {level} AS area, category, {sums}
              FROM read_parquet(?, hive_partitioning = true)
              WHERE day BETWEEN ? AND ? GROUP BY ALL ORDER BY day, area, category"""
    with duckdb.connect() as con:
        return con.sql(sql, params=[archive.files("rollup"), start, end]).to_arrow_table()


def timed(run: Callable[[], Any], repeat: int = 5) -> dict[str, float]:
    run()  # warm the page cache and the libraries
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(times), "min_ms": min(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        archive = write_year(Path(tmp), args.rows, args.days)
        written_s = time.perf_counter() - started
        started = time.perf_counter()
        merged = archive.compact()
        compact_s = time.perf_counter() - started
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*.parquet"))
        start = END - timedelta(days=args.days - 1)
        results: dict[str, Any] = {
            "rows": args.rows,
            "days": args.days,
            "write_s": written_s,
            "compact_s": compact_s,
            "months_merged": len(merged),
            "size_mb": size / 2**20,
        }
        for level in ("county", "town", "grid"):
            raw = events_query(archive, start, END, level)
            panda = with_pandas(archive, start, END, level)
            assert int(raw["reported"].sum()) == int(panda["reported"].sum())
            results[f"{level}_rows_out"] = len(raw)
            if level != "grid":
                table = area_category_day_table(archive, start, END, level)
                daily = daily_rollups_query(archive, start, END, level)
                assert table.equals(daily.cast(table.schema))  # same rows, same order
                assert int(table["reported"].to_numpy().sum()) == int(raw["reported"].sum())
                results[f"arrow_months_{level}"] = timed(
                    lambda lv=level: area_category_day_table(archive, start, END, lv)
                )
                results[f"dataframe_months_{level}"] = timed(
                    lambda lv=level: area_category_day(archive, start, END, lv)
                )
                results[f"duckdb_daily_rollups_{level}"] = timed(
                    lambda lv=level: daily_rollups_query(archive, start, END, lv)
                )
                results[f"arrow_over_daily_{level}"] = (
                    results[f"arrow_months_{level}"]["median_ms"]
                    / results[f"duckdb_daily_rollups_{level}"]["median_ms"]
                )
            results[f"duckdb_steps_{level}"] = timed(
                lambda lv=level: events_query(archive, start, END, lv)
            )
            results[f"pandas_steps_{level}"] = timed(
                lambda lv=level: with_pandas(archive, start, END, lv)
            )
        for days in (7, 30, 365):
            results[f"trend_{days}d"] = timed(lambda d=days: trend(archive, d, END, "330212"))
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
