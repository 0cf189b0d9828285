"""The state as it was at a past moment: a shelved checkpoint, then the logs up to the moment.

A moment is a time of the log (its stream ids' milliseconds): the state at 21:00 is what a
server had folded of every entry the log received up to 21:00, which is what its walls showed.
It is built from the newest shelved checkpoint from before the moment (dashboard.live.shelf),
then the event steps and actions after that checkpoint up to the moment, then the kept worker
fixes (dashboard.cold.tracks) over the same span. Without a shelved copy (a young server, or
checkpoints off) the log is folded from its start, as a first start does.

``Rewound.advance`` moves it on (a replay playing) and says what changed, as the live bridge
would have pushed it; moving back means rewinding again.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dashboard.cold.tracks import TrackReader
from dashboard.live.actions import ActionBook
from dashboard.live.checkpoint import Unusable, load
from dashboard.live.shelf import Shelf
from dashboard.state import Applied, State
from feeds.bus import ACTIONS, EVENTS, POSITIONS, Bus, decode_entry
from feeds.schema import ActionMessage, EventMessage, PositionMessage

log = logging.getLogger(__name__)

BATCH = 20_000
END_SEQ = 2**63 - 1  # with a moment's ms: after every entry of that millisecond


@contextmanager
def collector_paused() -> Iterator[None]:
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def moment_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def ms_moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass
class Changes:
    """What one ``advance`` applied: the steps (for the ticker and the map), the workers that
    moved, and whether anything at all arrived."""

    applied: list[Applied] = field(default_factory=list)
    moved: dict[str, PositionMessage] = field(default_factory=dict)
    actions: int = 0


@dataclass
class Rewound:
    state: State
    book: ActionBook
    at_ms: int
    bus: Bus
    tracks: TrackReader
    newest_ts: datetime | None = None
    skipped: int = 0  # entries that could not be decoded or applied (the bridge skipped them too)

    def advance(self, to_ms: int) -> Changes:
        """Fold what the logs received after the current moment up to ``to_ms``."""
        changes = Changes()
        if to_ms <= self.at_ms:
            return changes
        for rows in _ranges(self.bus, EVENTS, self.state.last_sid[EVENTS], to_ms):
            for sid, raw in rows:
                self._event(sid, raw, changes)
        for rows in _ranges(self.bus, ACTIONS, self.book.last_sid, to_ms):
            for sid, raw in rows:
                self._action(sid, raw, changes)
        self._positions(to_ms, changes)
        self.at_ms = to_ms
        return changes

    def _event(self, sid: str, raw: bytes, changes: Changes) -> None:
        try:
            message = decode_entry(EVENTS, raw)
            assert isinstance(message, EventMessage)
            applied = self.state.apply_event(sid, message)
        except Exception:  # the bridge dead-lettered it when it first came
            self.skipped += 1
            self.state.last_sid[EVENTS] = sid
            return
        self._fresher(message.ts)
        if applied is not None:
            changes.applied.append(applied)

    def _action(self, sid: str, raw: bytes, changes: Changes) -> None:
        try:
            action = decode_entry(ACTIONS, raw)
            assert isinstance(action, ActionMessage)
            self.book.apply(sid, action)
        except Exception:
            self.skipped += 1
            self.book.last_sid = sid
            return
        changes.actions += 1

    def _positions(self, to_ms: int, changes: Changes) -> None:
        for fix in self.tracks.folded(self.state.last_sid[POSITIONS], to_ms):
            if self.state.apply_position(fix.sid, fix.message):
                changes.moved[fix.message.worker] = fix.message
                self._fresher(fix.message.ts)
        self.state.last_sid[POSITIONS] = f"{to_ms}-{END_SEQ}"

    def _fresher(self, ts: datetime) -> None:
        if self.newest_ts is None or ts > self.newest_ts:
            self.newest_ts = ts


class Rewinder:
    """Builds ``Rewound`` states of one server's logs, shelf and tracks."""

    def __init__(
        self,
        bus: Bus,
        shelf: Shelf | None,
        tracks: TrackReader,
        make_state: Callable[[], State],
        prefix: str,
        reach_h: float,
    ) -> None:
        self.bus = bus
        self.shelf = shelf
        self.tracks = tracks
        self.make_state = make_state
        self.prefix = prefix
        self.reach_s = reach_h * 3600

    def earliest_ms(self, now_ms: int | None = None) -> int:
        """The earliest moment a replay reaches: the replay's reach back from now, and no
        further than what the shelf and the log can rebuild."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        floor = now_ms - int(self.reach_s * 1000)
        first = self.bus.first_id(EVENTS)
        from_log = int(first.partition("-")[0]) if first else now_ms
        shelved = [ms for ms in (self.shelf.moments() if self.shelf else []) if ms >= from_log]
        return max(floor, min([from_log, *shelved]))

    def rewind(self, at_ms: int) -> Rewound:
        started = time.perf_counter()
        state, book, source = self._start(at_ms)
        rewound = Rewound(state, book, 0, self.bus, self.tracks)
        # the steps up to the moment in columns, as a server's start folds the log after its
        # checkpoint (a third of the time of one step at a time); the rest one by one
        after = state.last_sid[EVENTS]
        ranges = _ranges(self.bus, EVENTS, after, at_ms)
        state.fold_log([(s.encode(), raw) for s, raw in rows] for rows in ranges)
        if state.recent:
            rewound.newest_ts = state.recent[-1].message.ts
        rewound.advance(at_ms)
        log.info(
            "replay: the state at %s from the %s in %.2fs",
            ms_moment(at_ms).isoformat(),
            source,
            time.perf_counter() - started,
        )
        return rewound

    def _start(self, at_ms: int) -> tuple[State, ActionBook, str]:
        state, book = self.make_state(), ActionBook()
        ms = self.shelf.newest_before(at_ms) if self.shelf is not None else None
        if ms is not None and self.shelf is not None:
            try:
                header = load(self.shelf.read(ms), state, book, self.prefix)
                if self.bus.holds(EVENTS, header.last.get(EVENTS, "0-0")):
                    return state, book, f"checkpoint of {ms_moment(ms).isoformat()}"
                log.warning("replay: shelved checkpoint %d is older than the log: not used", ms)
            except (Unusable, OSError, ValueError) as exc:
                log.warning("replay: shelved checkpoint %d not used: %s", ms, exc)
            state, book = self.make_state(), ActionBook()
        return state, book, "log"


def _ranges(bus: Bus, stream: str, after: str, to_ms: int) -> Iterator[list[tuple[str, bytes]]]:
    """The entries of a stream after ``after`` up to the moment ``to_ms``, in batches."""
    while True:
        rows = bus.range_raw(stream, after, str(to_ms), BATCH)
        if rows:
            yield rows
        if len(rows) < BATCH:
            return
        after = rows[-1][0]
