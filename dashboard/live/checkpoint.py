"""Checkpoints: the folded state on disk, so a restart folds only the log's tail.

A checkpoint is the whole ``State`` (incidents, tallies, index baselines, detector tables,
patrol visits, the ticker) and the actions book, with the stream ids they cover. A restart
loads the newest one and folds only what the log holds after those ids; the result is the same
as folding the whole log (tests/test_checkpoint.py checks it at random cut points).

Format: one JSON header line (format, the code fingerprint, the geography fingerprint, the
key prefix, the ids covered, the payload's size and SHA-256), then the payload, a pickle. The
geography pickles as a reference to the one the process loaded from the same files
(``Geography.__reduce__``). A checkpoint written by other code (any change to the modules
whose objects it holds), for another geography or key prefix, truncated or damaged, is
ignored with a warning: the log is folded instead, as without one.

Why pickle and not a schema of its own (msgspec, Arrow): the state is a graph of a few dozen
classes across the state and the analytics, and a hand-written schema would be one more
description of them to keep in step; the code fingerprint makes any change of them a reason to
fold the log again rather than to load an old shape. The files live in the server's data dir,
never in Redis: a pickle runs code when loaded, so only a writer that could already change the
server's files may write one.

A running server writes one from a forked child (the fork takes milliseconds under the state's
lock; the child writes the copy-on-write snapshot while the server goes on): soon after a start
that folded the whole log, then every ``ONEMAP_CHECKPOINT_EVERY_S``, and at SIGTERM, where the
stop waits for it at most ``STOP_WRITE_S`` (then the previous one stays, and the next start
folds a longer tail).
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import logging
import os
import pickle
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from threading import Lock

from dashboard.live.actions import ActionBook
from dashboard.live.shelf import Shelf
from dashboard.state import State
from feeds.geo import Geography

log = logging.getLogger(__name__)

FORMAT = 2  # 2: the due cohort, its cutoff and the patrol workers in the metrics
ROOT = Path(__file__).resolve().parents[2]
# The modules whose objects a checkpoint holds, or whose rules shaped them: any change to one
# makes older checkpoints unusable (folded again, not loaded).
SOURCES = (
    "dashboard/state.py",
    "dashboard/incident.py",
    "dashboard/analytics",
    "dashboard/live/actions.py",
    "dashboard/live/checkpoint.py",
    "feeds/messages.py",
    "feeds/schema.py",
    "feeds/catalogue.py",
    "feeds/deadlines.py",
)


@functools.cache
def code_fingerprint() -> str:
    """Of the code this process runs: read once, at import (below), so that a server still
    running after its files were upgraded in place labels its checkpoint with its own code,
    not with the code it is about to be replaced by."""
    digest = hashlib.sha256(f"format {FORMAT}".encode())
    for source in SOURCES:
        path = ROOT / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(file.relative_to(ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


code_fingerprint()


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


def dump(state: State, book: ActionBook, prefix: str) -> bytes:
    """The checkpoint of ``state`` and ``book``, as bytes (call it with the state still)."""
    collecting = gc.isenabled()
    gc.disable()  # pickling makes no cycles; the collector's passes over the state cost a third
    try:
        payload = pickle.dumps(
            {"state": _kept(state), "book": book.__getstate__()}, pickle.HIGHEST_PROTOCOL
        )
    finally:
        if collecting:
            gc.enable()
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


def _kept(state: State) -> dict[str, object]:
    """The state's attributes a checkpoint keeps: not the server's hook into the archive."""
    return {k: v for k, v in state.__dict__.items() if k != "recall"}


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
    collecting = gc.isenabled()
    gc.disable()
    try:
        parts = pickle.loads(payload)
    except Exception as exc:  # a checksum-valid payload that still fails: another shape
        raise Unusable(f"unreadable ({type(exc).__name__}: {exc})") from None
    finally:
        if collecting:
            gc.enable()
    if parts["state"].get("geo") is not state.geo:  # the geography fingerprint said it is
        raise Unusable("bound to another geography object")
    state.__dict__.update(parts["state"])
    book.__setstate__(parts["book"])
    return header


class Checkpoints:
    """The checkpoint file of one key prefix in one data dir: write, and read at start."""

    def __init__(
        self, directory: str | os.PathLike[str], prefix: str, shelf: Shelf | None = None
    ) -> None:
        self.directory = Path(directory)
        self.prefix = prefix
        self.shelf = shelf  # replay's series of past checkpoints (dashboard.live.shelf)
        self.path = self.directory / f"{prefix}.checkpoint"
        self.child: int | None = None  # a forked writer still running
        self.written = 0

    def write_forked(self, state: State, book: ActionBook) -> bool:
        """Write from a forked child; call it holding the state's lock (the child's copy of
        the state is then consistent). False if the previous child is still writing."""
        if self.child is not None and not self.reap():
            return False
        shelf = self.shelf if self.shelf is not None and self.shelf.due() else None
        if shelf is not None:
            shelf.taken()
        pid = os.fork()
        if pid == 0:  # the child: no logging, no locks, no threads; just write and go
            status = 1
            try:
                blob = dump(state, book, self.prefix)
                self._replace(blob)
                if shelf is not None:
                    shelf.put(blob, state.last_sid["events"])
                status = 0
            finally:
                os._exit(status)
        self.child = pid
        return True

    def write_within(self, state: State, book: ActionBook, lock: Lock, seconds: float) -> bool:
        """At a stop: write from a forked child and wait for it at most ``seconds`` (a stop
        must end in time whatever the state's size); if it is not done by then it is stopped
        and the previous checkpoint stays. True if written."""
        deadline = time.monotonic() + seconds
        while not self.reap():  # a periodic writer still at work: let it finish first
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        with lock:
            started = self.write_forked(state, book)
        while started and not self.reap():
            if time.monotonic() > deadline:
                self._abandon()
                log.warning("checkpoint not written within %.0fs at stop: the last stays", seconds)
                return False
            time.sleep(0.05)
        return started

    def _abandon(self) -> None:
        if self.child is None:
            return
        os.kill(self.child, signal.SIGKILL)
        os.waitpid(self.child, 0)
        self.path.with_name(f"{self.path.name}.{self.child}.partial").unlink(missing_ok=True)
        self.child = None

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
        # The service's user alone: loading a checkpoint runs code (docs/security.md).
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, self.path)
