"""Archive rows read back as the state keeps incidents (dashboard.cold.store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dashboard.incident import Incident, Step, put_step
from feeds.schema import AreaRef


def records(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts, times as UTC datetimes (as the fold keeps them): Arrow's own conversion
    of a zoned timestamp costs ~5 µs, a third of a 3,000-row answer."""
    columns: dict[str, list[Any]] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_timestamp(column.type):
            per_us = _PER_MICROSECOND[column.type.unit]
            ticks = pc.cast(column, pa.int64()).to_pylist()
            columns[name] = [
                None if t is None else _EPOCH + timedelta(microseconds=t / per_us) for t in ticks
            ]
        else:
            columns[name] = column.to_pylist()
    return [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PER_MICROSECOND = {"s": 1e-6, "ms": 1e-3, "us": 1, "ns": 1e3}


def incident_of(row: dict[str, Any]) -> Incident:
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
        row["deadline"],
    )


def summary_of(row: dict[str, Any]) -> Incident:
    """An incident from its summary row: its fields, its first and latest steps (what the
    table, the map and the sort read; the detail recalls the whole of it)."""
    incident = incident_of(row)
    for end in ("first", "last"):
        put_step(
            incident,
            Step(
                row[f"{end}_seq"], row[f"{end}_type"], row[f"{end}_ts"],
                row[f"{end}_level"],
                row[f"{end}_sid"],
            ),
        )  # fmt: skip
    return incident
