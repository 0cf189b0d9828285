"""The archive's rollups: steps of each kind counted per county × town × category.

Split from ``feeds.archive`` (which re-exports ``rollup`` and ``KINDS``) because the rollups
are a job of their own: a day's rollup is written beside its steps, and a month's daily parts
are merged into one sorted file, which is what the year-long trend queries read.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

KINDS = ("reported", "closed", "escalated", "reopened")  # step types the rollup counts


def rollup(steps: pa.Table) -> pa.Table:
    """Steps of each kind per county, town and category (one day's part)."""
    counted = steps.select(["county", "town", "category"])
    for kind in KINDS:
        counted = counted.append_column(kind, pc.cast(pc.equal(steps["type"], kind), pa.int32()))
    grouped = counted.group_by(["county", "town", "category"]).aggregate(
        [(kind, "sum") for kind in KINDS]
    )
    names = ["county", "town", "category", *(f"{kind}_sum" for kind in KINDS)]
    return grouped.select(names).rename_columns(["county", "town", "category", *KINDS])


def merge_month(parts: list[tuple[date, Path]]) -> pa.Table:
    """One month's daily rollup parts as one table: summed per day × county × town × category
    (a day archived in several runs has several parts), sorted by day, town, category."""
    tables = []
    for day, path in parts:
        table = pq.read_table(path)
        tables.append(table.add_column(0, "day", pa.array([day] * table.num_rows, pa.date32())))
    keys = ["day", "county", "town", "category"]
    grouped = pa.concat_tables(tables).group_by(keys).aggregate([(k, "sum") for k in KINDS])
    grouped = grouped.select([*keys, *(f"{k}_sum" for k in KINDS)]).rename_columns([*keys, *KINDS])
    return grouped.sort_by([("day", "ascending"), ("town", "ascending"), ("category", "ascending")])
