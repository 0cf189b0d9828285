"""Worker positions kept for replay: thinned, written to Parquet by the hour, read back by time.

The positions stream holds under an hour of fixes at the city's rate (10,000 workers); a replay
of yesterday evening, or one worker's patrol of the day, needs them for days. The live bridge
offers every fix it applies; ``Thinner`` keeps

* a worker's first fix, any fix whose grid, status or local day differs from the last one
  kept, and any late fix (so the first visit of every grid in a day, the patrol figures'
  input, is always kept),
* otherwise one fix per ``every_s`` of the fixes' own time (30 s: a track still follows the
  streets, at 2,880 fixes per worker-day instead of one every few seconds).

``TrackWriter`` buffers the kept fixes and writes them every ``flush_s`` (30 s) as

    <archive>/tracks/day=YYYY-MM-DD/part-<first stream id>-<host>-<pid>.parquet

by the local day of their stream ids (the time the log received them, which is what a replay
moves through). Only the process holding the writer's lease in Redis writes (replicas share
the archive); the reads do not mind a part written twice (they take newest and first fixes).
Days older than the replay's reach are deleted.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import cast

import pyarrow as pa
import pyarrow.parquet as pq

from dashboard.cold.duck import DUCK
from feeds.messages import WorkerStatus
from feeds.schema import CHINA_TZ, PositionMessage

log = logging.getLogger(__name__)

FLUSH_S = 30.0
SPAN_MS = 600_000  # the fixes one part holds lie within this of its first (a flush is late)
BUFFER_MAX = 200_000  # rows held when no flush succeeds (a full disk): older ones are dropped
Row = tuple[int, int, str, datetime, float, float, str, str, int | None, float | None]
SCHEMA = pa.schema(
    [
        ("sid_ms", pa.int64()),
        ("sid_seq", pa.int64()),
        ("worker", pa.string()),
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("lon", pa.float64()),
        ("lat", pa.float64()),
        ("grid", pa.string()),
        ("status", pa.string()),
        ("battery", pa.int8()),
        ("accuracy", pa.float64()),
    ]
)


def split_sid(sid: str) -> tuple[int, int]:
    ms, _, seq = sid.partition("-")
    return int(ms), int(seq or 0)


def local_date(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, CHINA_TZ).date()


class Thinner:
    """Decides which fixes a replay keeps (see the module's docstring)."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.kept: dict[str, tuple[float, str, str, date]] = {}  # worker → ts, grid, status, day

    def keep(self, m: PositionMessage) -> bool:
        ts = m.ts.timestamp()
        day = m.ts.astimezone(CHINA_TZ).date()
        last = self.kept.get(m.worker)
        if last is not None:
            last_ts, grid, status, last_day = last
            if ts < last_ts:  # a late fix (rare): kept, it may be a grid's first visit
                return True
            same = grid == m.grid and status == m.status and day == last_day
            if same and ts - last_ts < self.every_s:
                return False
        self.kept[m.worker] = (ts, m.grid, m.status, day)
        return True


@dataclass(frozen=True)
class Fix:
    sid: str
    message: PositionMessage


class TrackWriter:
    """Thins and buffers the fixes the bridge applies; ``flush`` writes them (bridge thread)."""

    def __init__(
        self, root: str | os.PathLike[str], every_s: float, keep_days: int, flush_s: float = FLUSH_S
    ) -> None:
        self.root = Path(root) / "tracks"
        self.flush_s = flush_s
        self.thinner = Thinner(every_s)
        self.keep_days = keep_days
        self.rows: list[Row] = []
        self.written = 0
        self.dropped = 0
        self.last_flush = time.monotonic()
        self.name = f"{socket.gethostname()}-{os.getpid()}"

    def offer(self, sid: str, m: PositionMessage) -> None:
        if not self.thinner.keep(m):
            return
        ms, seq = split_sid(sid)
        self.rows.append(
            (ms, seq, m.worker, m.ts, m.lon, m.lat, m.grid, m.status, m.battery, m.accuracy)
        )
        if len(self.rows) > BUFFER_MAX:
            cut = len(self.rows) - BUFFER_MAX
            del self.rows[:cut]
            self.dropped += cut

    def due(self, now: float) -> bool:
        return bool(self.rows) and now - self.last_flush >= self.flush_s

    def flush(self, allowed: bool = True) -> int:
        """Write the buffer (or, not ``allowed``: another process writes, drop it)."""
        rows, self.rows = self.rows, []
        self.last_flush = time.monotonic()
        if not rows or not allowed:
            return 0
        part: list[Row] = []
        for row in rows:  # in the log's order: a part spans one day and under SPAN_MS
            if part and (
                row[0] - part[0][0] >= SPAN_MS or local_date(row[0]) != local_date(part[0][0])
            ):
                self._write(local_date(part[0][0]), part)
                part = []
            part.append(row)
        self._write(local_date(part[0][0]), part)
        self.written += len(rows)
        return len(rows)

    def _write(self, day: date, rows: list[Row]) -> None:
        columns = list(zip(*rows, strict=True))
        table = pa.Table.from_arrays(
            [pa.array(col, type=field.type) for col, field in zip(columns, SCHEMA, strict=True)],
            schema=SCHEMA,
        )
        folder = self.root / f"day={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{rows[0][0]}-{rows[0][1]}-{self.name}.parquet"
        partial = folder / f".{name}.partial"
        pq.write_table(table, partial, compression="zstd")
        os.replace(partial, folder / name)

    def prune(self, today: date) -> int:
        """Delete the days a replay no longer reaches; how many went."""
        gone = 0
        for folder in _day_folders(self.root):
            if date.fromisoformat(folder.name[4:]) < today - timedelta(days=self.keep_days):
                shutil.rmtree(folder, ignore_errors=True)
                gone += 1
        return gone


def _day_folders(root: Path) -> Iterator[Path]:
    if root.exists():
        yield from sorted(p for p in root.glob("day=*") if p.is_dir())


class TrackReader:
    """The kept fixes, read back for a replay or one worker's track."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root) / "tracks"

    def _files(self, after_ms: int, upto_ms: int) -> list[str]:
        """The parts that may hold fixes of the span, by their names: a part holds what one
        flush wrote, fixes received from ``SPAN_MS`` at most before its first one."""
        first, last = local_date(max(after_ms - SPAN_MS, 0)), local_date(upto_ms)
        files: list[str] = []
        for folder in _day_folders(self.root):
            if first <= date.fromisoformat(folder.name[4:]) <= last:
                for path in folder.glob("part-*.parquet"):
                    starts = int(path.name.split("-")[1])
                    if after_ms - SPAN_MS < starts <= upto_ms:
                        files.append(str(path))
        return sorted(files)

    def folded(self, after: str, upto_ms: int) -> list[Fix]:
        """What folding every kept fix after stream id ``after`` up to ``upto_ms`` would leave:
        each worker's newest fix, and the first on-duty fix of every (worker, grid, day), in
        the log's order. Folding these equals folding them all (``State.apply_position``)."""
        after_ms, after_seq = split_sid(after)
        files = self._files(after_ms, upto_ms)
        if not files:
            return []
        # grouped, not ranked: a hash aggregate per worker and per visit, no sort of the span
        query = f"""
            WITH fixes AS (
              SELECT * FROM read_parquet({files!r})
              WHERE (sid_ms > $ms OR (sid_ms = $ms AND sid_seq > $seq)) AND sid_ms <= $upto
            ), newest AS (
              SELECT arg_max(f, (f.ts, f.sid_ms, f.sid_seq)) AS r FROM fixes f GROUP BY f.worker
            ), firsts AS (
              SELECT arg_min(f, (f.ts, f.sid_ms, f.sid_seq)) AS r FROM fixes f
              WHERE f.status <> 'offline'
              GROUP BY f.worker, f.grid, CAST(timezone('Asia/Shanghai', f.ts) AS DATE)
            ), chosen AS (SELECT r FROM newest UNION SELECT r FROM firsts)
            SELECT r.sid_ms, r.sid_seq, r.worker, epoch_ms(r.ts), r.lon, r.lat, r.grid, r.status,
              r.battery, r.accuracy FROM chosen ORDER BY r.sid_ms, r.sid_seq
        """
        params = {"ms": after_ms, "seq": after_seq, "upto": upto_ms}
        with DUCK.cursor() as con:
            rows = con.execute(query, params).fetchall()
        return [_fix(*row) for row in rows]

    def track(
        self, worker: str, since_ms: int, upto_ms: int
    ) -> list[tuple[str, float, float, str]]:
        """One worker's kept fixes between two times (of the log), oldest first:
        (ISO time, lon, lat, status)."""
        files = self._files(since_ms, upto_ms)
        if not files:
            return []
        query = f"""
            SELECT DISTINCT epoch_ms(ts) AS t, lon, lat, status FROM read_parquet({files!r})
            WHERE worker = $worker AND sid_ms > $since AND sid_ms <= $upto ORDER BY t
        """
        with DUCK.cursor() as con:
            rows = con.execute(query, {"worker": worker, "since": since_ms, "upto": upto_ms})
            found = rows.fetchall()
        return [(_iso(t), lon, lat, status) for t, lon, lat, status in found]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, CHINA_TZ).isoformat(timespec="seconds")


def _fix(
    ms: int, seq: int, worker: str, ts_ms: int, lon: float, lat: float, grid: str, status: str,
    battery: int | None, accuracy: float | None,
) -> Fix:  # fmt: skip
    ts = datetime.fromtimestamp(ts_ms / 1000, UTC)
    kind = cast(WorkerStatus, status)  # written from a PositionMessage's own status
    message = PositionMessage(
        worker=worker, ts=ts, lon=lon, lat=lat, grid=grid, status=kind, battery=battery,
        accuracy=accuracy,
    )  # fmt: skip
    return Fix(f"{ms}-{seq}", message)
