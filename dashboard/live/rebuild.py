"""The state from the log at a server's start: every event step, positions, visits, actions.

Each part resumes where it stopped, so a Redis that goes away in the middle of a rebuild (a
restart of both at once, a stall) costs a retry, never a second count of what was folded.
"""

from __future__ import annotations

import gc
import logging
import time
from datetime import datetime, timedelta

from dashboard.live.actions import ActionBook
from dashboard.state import State
from feeds.bus import ACTIONS, EVENTS, POSITIONS, Bus
from feeds.outage import until_ok
from feeds.schema import CHINA_TZ, ActionMessage

log = logging.getLogger(__name__)


def rebuild(bus: Bus, state: State, book: ActionBook) -> datetime | None:
    """Fold the log into ``state`` and ``book``, retrying through Redis outages; returns the
    newest message time seen (for the health light)."""
    started = time.perf_counter()
    folded = until_ok(log, "rebuild", lambda: _rebuild_once(bus, state, book))
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


def _rebuild_once(bus: Bus, state: State, book: ActionBook) -> int:
    """Returns how many event steps were folded (new ones: repeats are not counted)."""
    folded = state.fold_log(bus.log_batches(EVENTS, after=state.last_sid[EVENTS]))
    state.last_sid[POSITIONS] = bus.last_ids()[POSITIONS]
    state.restore_positions(bus.latest_positions())
    today = datetime.now(CHINA_TZ).date()
    for day in (today - timedelta(days=1), today):  # the stream holds only half an hour
        state.restore_visits(bus.visits(day))
    for entry in bus.replay(ACTIONS, after=book.last_sid):
        assert isinstance(entry.message, ActionMessage)
        book.apply(entry.sid, entry.message)
    return folded
