"""The state from the log at a server's start: every event step, positions, visits, actions.

Each part resumes where it stopped, so a Redis that goes away in the middle of a rebuild (a
restart of both at once, a stall) costs a retry, never a second count of what was folded. A
long fold (a first start on weeks of log, without a checkpoint) says how far it is: in the log
every few seconds and in /healthz (``bridge.rebuild``).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from dashboard.live.actions import ActionBook
from dashboard.state import LogBatch, State
from feeds.bus import ACTIONS, EVENTS, POSITIONS, Bus
from feeds.outage import until_ok
from feeds.schema import CHINA_TZ, ActionMessage

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 5.0


class ProgressReport(TypedDict):
    folded: int  # log entries read so far
    percent: float | None  # of the log's time span to fold, by the entries' ids
    seconds: float


@dataclass
class Progress:
    """How far a rebuild is, by the log's ids (millisecond times): counting the entries of a
    long log in advance would cost Redis a scan of it."""

    folded: int = 0
    started: float = 0.0
    first_ms: int | None = None  # the first entry this rebuild folds
    upto_ms: int = 0  # the log's newest entry when the rebuild began
    at_ms: int = 0  # the newest entry folded so far
    _said: float = 0.0

    def report(self) -> ProgressReport:
        span = self.upto_ms - (self.first_ms or 0)
        percent = None
        if self.first_ms is not None and span > 0:
            percent = round(100 * min(1.0, (self.at_ms - self.first_ms) / span), 1)
        seconds = round(time.monotonic() - self.started, 1) if self.started else 0.0
        return {"folded": self.folded, "percent": percent, "seconds": seconds}

    def counted(self, batches: Iterable[LogBatch]) -> Iterator[LogBatch]:
        for batch in batches:
            if batch:
                if self.first_ms is None:
                    self.first_ms = _ms(batch[0][0])
                self.at_ms = _ms(batch[-1][0])
                self.folded += len(batch)
                self._say()
            yield batch

    def _say(self) -> None:
        now = time.monotonic()
        if now - self._said >= PROGRESS_EVERY_S:
            self._said = now
            r = self.report()
            done, percent, seconds = r["folded"], r["percent"], r["seconds"]
            log.info("rebuild: %d log entries folded (%s %%), %ss", done, percent, seconds)


def _ms(sid: bytes) -> int:
    return int(sid.partition(b"-")[0])


def rebuild(
    bus: Bus, state: State, book: ActionBook, progress: Progress | None = None
) -> datetime | None:
    """Fold the log into ``state`` and ``book``, retrying through Redis outages; returns the
    newest message time seen (for the health light)."""
    started = time.perf_counter()
    progress = progress or Progress()
    progress.started = time.monotonic()
    progress._said = progress.started  # the first line after PROGRESS_EVERY_S, not at once
    folded = until_ok(log, "rebuild", lambda: _rebuild_once(bus, state, book, progress))
    stamps = [state.recent[-1].message.ts] if state.recent else []
    stamps += [p.ts for p in state.positions.values()]
    # The rebuilt state lives as long as the server: out of the collector's sight, later
    # collections (every query, every emit makes garbage) no longer rescan it.
    gc.freeze()
    log.info(
        "rebuilt %d incidents: folded %d steps of the log in %.2fs",
        len(state.incidents),
        folded,
        time.perf_counter() - started,
    )
    return max(stamps, default=None)


def _rebuild_once(bus: Bus, state: State, book: ActionBook, progress: Progress) -> int:
    """Returns how many event steps were folded (new ones: repeats are not counted)."""
    progress.upto_ms = _ms(bus.last_ids()[EVENTS].encode())
    batches = bus.log_batches(EVENTS, after=state.last_sid[EVENTS])
    folded = state.fold_log(progress.counted(batches))
    state.last_sid[POSITIONS] = bus.last_ids()[POSITIONS]
    state.restore_positions(bus.latest_positions())
    today = datetime.now(CHINA_TZ).date()
    for day in (today - timedelta(days=1), today):  # the stream holds only half an hour
        state.restore_visits(bus.visits(day))
    for entry in bus.replay(ACTIONS, after=book.last_sid):
        assert isinstance(entry.message, ActionMessage)
        book.apply(entry.sid, entry.message)
    return folded
