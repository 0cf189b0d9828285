"""Checkpoints: the folded state on disk, so a restart folds only the log's tail.

A checkpoint is the whole ``State`` (incidents, tallies, index baselines, detector tables,
patrol visits, the ticker) and the actions book, with the stream ids they cover. A restart
loads the newest one and folds only what the log holds after those ids; the result is the same
as folding the whole log (tests/test_checkpoint.py checks it at random cut points).

Format: one JSON header line (format, the code fingerprint, the geography fingerprint, the
key prefix, the ids covered, the payload's size and SHA-256), then the payload, a pickle whose
references to the geography are stored by name and bound to the running server's on load.
A checkpoint written by other code (any change to the modules whose objects it holds), for
another geography or key prefix, truncated or damaged, is ignored with a warning: the log is
folded instead, as without one.

Why pickle and not a schema of its own (msgspec, Arrow): the state is a graph of a few dozen
classes across the state and the analytics, and a hand-written schema would be one more
description of them to keep in step; the code fingerprint makes any change of them a reason to
fold the log again rather than to load an old shape. The files live in the server's data dir,
never in Redis: a pickle runs code when loaded, so only a writer that could already change the
server's files may write one.

A running server writes one every ``ONEMAP_CHECKPOINT_EVERY_S`` from a forked child (the fork
takes milliseconds under the state's lock; the child writes the copy-on-write snapshot while
the server goes on), and one synchronously on SIGTERM.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dashboard.live.actions import ActionBook
from dashboard.state import State
from feeds.geo import Geography

log = logging.getLogger(__name__)

FORMAT = 1
ROOT = Path(__file__).resolve().parents[2]
# The modules whose objects a checkpoint holds, or whose rules shaped them: any change to one
# makes older checkpoints unusable (folded again, not loaded).
SOURCES = (
    "dashboard/state.py",
    "dashboard/analytics",
    "dashboard/live/actions.py",
    "dashboard/live/checkpoint.py",
    "feeds/messages.py",
    "feeds/schema.py",
    "feeds/catalogue.py",
    "feeds/deadlines.py",
)
GEO_REF = "geography"


def code_fingerprint() -> str:
    digest = hashlib.sha256(f"format {FORMAT}".encode())
    for source in SOURCES:
        path = ROOT / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(file.relative_to(ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def geo_fingerprint(geo: Geography) -> str:
    codes = sorted([*geo.counties, *geo.towns, *geo.villages, *geo.grids])
    return hashlib.sha256("\n".join(codes).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Header:
    format: int
    code: str
    geo: str
    prefix: str
    last: dict[str, str]  # stream → the last id the checkpoint covers (events, positions, actions)
    created: str
    size: int
    sha256: str


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BufferedIOBase, geo: Geography) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.geo = geo

    def persistent_id(self, obj: Any) -> str | None:
        return GEO_REF if obj is self.geo else None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, geo: Geography) -> None:
        super().__init__(file)
        self.geo = geo

    def persistent_load(self, pid: Any) -> Any:
        if pid == GEO_REF:
            return self.geo
        raise pickle.UnpicklingError(f"unknown reference {pid!r}")


def dump(state: State, book: ActionBook, prefix: str) -> bytes:
    """The checkpoint of ``state`` and ``book``, as bytes (call it with the state still)."""
    buffer = io.BytesIO()
    _Pickler(buffer, state.geo).dump({"state": state.__dict__, "book": book.__getstate__()})
    payload = buffer.getvalue()
    header = Header(
        format=FORMAT,
        code=code_fingerprint(),
        geo=geo_fingerprint(state.geo),
        prefix=prefix,
        last={**state.last_sid, "actions": book.last_sid},
        created=datetime.now(UTC).isoformat(),
        size=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
    )
    return json.dumps(header.__dict__).encode() + b"\n" + payload


class Unusable(Exception):
    """A checkpoint that must not be loaded, and why."""


def load(
    blob: bytes,
    state: State,
    book: ActionBook,
    prefix: str,
    accept: Callable[[Header], str | None] = lambda header: None,
) -> Header:
    """Put the checkpoint in ``blob`` into ``state`` and ``book`` (fresh, empty ones); raises
    ``Unusable`` (and changes nothing) for one of another code, geography, prefix, damaged, or
    one that ``accept`` refuses."""
    line, newline, payload = blob.partition(b"\n")
    try:
        header = Header(**json.loads(line))
    except (ValueError, TypeError) as exc:
        raise Unusable(f"no readable header ({exc})") from None
    expected = {
        "format": (header.format, FORMAT),
        "code": (header.code, code_fingerprint()),
        "geography": (header.geo, geo_fingerprint(state.geo)),
        "prefix": (header.prefix, prefix),
    }
    for what, (found, wanted) in expected.items():
        if found != wanted:
            raise Unusable(f"written for another {what} ({found}, this server: {wanted})")
    refused = accept(header)
    if refused:
        raise Unusable(refused)
    if not newline or len(payload) != header.size:
        raise Unusable(f"truncated ({len(payload)} of {header.size} bytes)")
    if hashlib.sha256(payload).hexdigest() != header.sha256:
        raise Unusable("damaged (checksum mismatch)")
    try:
        parts = _Unpickler(io.BytesIO(payload), state.geo).load()
    except Exception as exc:  # a checksum-valid payload that still fails: another shape
        raise Unusable(f"unreadable ({type(exc).__name__}: {exc})") from None
    state.__dict__.update(parts["state"])
    book.__setstate__(parts["book"])
    return header


class Checkpoints:
    """The checkpoint file of one key prefix in one data dir: write, and read at start."""

    def __init__(self, directory: str | os.PathLike[str], prefix: str) -> None:
        self.directory = Path(directory)
        self.prefix = prefix
        self.path = self.directory / f"{prefix}.checkpoint"
        self.child: int | None = None  # a forked writer still running
        self.written = 0

    def write(self, state: State, book: ActionBook) -> None:
        """Write now, in this process (at a clean stop); the file is replaced atomically."""
        started = time.perf_counter()
        self._replace(dump(state, book, self.prefix))
        self.written += 1
        log.info(
            "checkpoint written (%d incidents, up to %s) in %.2fs",
            len(state.incidents),
            state.last_sid["events"],
            time.perf_counter() - started,
        )

    def write_forked(self, state: State, book: ActionBook) -> bool:
        """Write from a forked child; call it holding the state's lock (the child's copy of
        the state is then consistent). False if the previous child is still writing."""
        if self.child is not None and not self.reap():
            return False
        pid = os.fork()
        if pid == 0:  # the child: no logging, no locks, no threads; just write and go
            status = 1
            try:
                self._replace(dump(state, book, self.prefix))
                status = 0
            finally:
                os._exit(status)
        self.child = pid
        return True

    def reap(self) -> bool:
        """Whether the forked writer has finished (logged once when it has)."""
        if self.child is None:
            return True
        pid, status = os.waitpid(self.child, os.WNOHANG)
        if pid == 0:
            return False
        self.child = None
        if os.waitstatus_to_exitcode(status) == 0:
            self.written += 1
            log.info("checkpoint written by a forked writer: %s", self.path)
        else:
            log.warning("the checkpoint writer failed (status %s)", status)
        return True

    def restore(
        self,
        state: State,
        book: ActionBook,
        accept: Callable[[Header], str | None] = lambda header: None,
    ) -> Header | None:
        """Load the checkpoint into fresh ``state`` and ``book``; None (and a warning if one
        exists) when there is none to use: the whole log is folded then. ``accept`` says why
        a readable checkpoint does not fit (e.g. not this log), or None."""
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("checkpoint %s not read (%s): folding the whole log", self.path, exc)
            return None
        started = time.perf_counter()
        try:
            header = load(blob, state, book, self.prefix, accept)
        except Unusable as exc:
            log.warning("checkpoint %s ignored: %s; folding the whole log", self.path, exc)
            return None
        log.info(
            "checkpoint of %s loaded in %.2fs: %d incidents, up to %s",
            header.created,
            time.perf_counter() - started,
            len(state.incidents),
            header.last.get("events"),
        )
        return header

    def _replace(self, blob: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.partial")
        with open(partial, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, self.path)
