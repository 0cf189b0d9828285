"""Checkpoints kept for replay: a past moment is a shelved checkpoint plus the log's tail.

The restart's checkpoint (dashboard.live.checkpoint) is replaced each time; a replay of 21:00
needs the state as it was near 21:00. So every ``every_s`` the forked checkpoint writer also
puts a compressed copy of the same blob on the shelf,

    <checkpoint dir>/replay/<prefix>.<ms of the last event step it covers>.ckpt

and copies older than ``keep_h`` hours go. A replay of a moment loads the newest copy from
before it and folds only the log between (dashboard.live.rewind). A copy is ~6 MB compressed
(zstd, through pyarrow) at 23,000 incidents and 10,000 workers: 72 h at one per 15 min is
~1.7 GB (bench.replay).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pyarrow as pa

log = logging.getLogger(__name__)

SUFFIX = ".ckpt"
CODEC = "zstd"


class Shelf:
    def __init__(
        self, directory: str | os.PathLike[str], prefix: str, every_s: float, keep_h: float
    ) -> None:
        self.directory = Path(directory) / "replay"
        self.prefix = prefix
        self.every_s = every_s
        self.keep_s = keep_h * 3600
        newest = self.moments()
        self.last_put_s = newest[-1] / 1000 if newest else 0.0  # wall time of the newest copy

    def due(self, now_s: float | None = None) -> bool:
        """Whether the next checkpoint should also go on the shelf."""
        now_s = time.time() if now_s is None else now_s
        return self.every_s > 0 and now_s - self.last_put_s >= self.every_s

    def taken(self, now_s: float | None = None) -> None:
        """The parent's note that a shelved copy is being written (by the forked child)."""
        self.last_put_s = time.time() if now_s is None else now_s

    def put(self, blob: bytes, events_last: str) -> Path | None:
        """Store ``blob`` (a checkpoint covering the events log up to ``events_last``); in the
        forked writer. Older copies past the reach go."""
        ms = int(events_last.partition("-")[0])
        if ms == 0:
            return None  # an empty log: nothing to replay from it
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        packed = pa.compress(blob, codec=CODEC, asbytes=True)
        path = self.directory / f"{self.prefix}.{ms}{SUFFIX}"
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "wb") as fh:
            fh.write(len(blob).to_bytes(8, "big"))
            fh.write(packed)
        os.replace(partial, path)
        self.prune(ms / 1000)
        return path

    def prune(self, now_s: float) -> int:
        gone = 0
        for ms in self.moments():
            if ms / 1000 < now_s - self.keep_s:
                self.path(ms).unlink(missing_ok=True)
                gone += 1
        return gone

    def path(self, ms: int) -> Path:
        return self.directory / f"{self.prefix}.{ms}{SUFFIX}"

    def moments(self) -> list[int]:
        """The shelved copies, by the ms of the last event step each covers, oldest first."""
        if not self.directory.exists():
            return []
        found = []
        start = f"{self.prefix}."
        for path in self.directory.glob(f"{self.prefix}.*{SUFFIX}"):
            middle = path.name[len(start) : -len(SUFFIX)]
            if middle.isdigit():
                found.append(int(middle))
        return sorted(found)

    def newest_before(self, at_ms: int) -> int | None:
        """The newest copy covering nothing after ``at_ms``."""
        usable = [ms for ms in self.moments() if ms <= at_ms]
        return usable[-1] if usable else None

    def read(self, ms: int) -> bytes:
        raw = self.path(ms).read_bytes()
        size = int.from_bytes(raw[:8], "big")
        blob: bytes = pa.decompress(raw[8:], decompressed_size=size, codec=CODEC, asbytes=True)
        return blob
