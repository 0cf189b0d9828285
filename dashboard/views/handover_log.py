"""Which hand-over (交班) of a jurisdiction waits for its 接班: read back from the actions stream.

The actions stream is the record of hand-overs, as of every action; the live layer's
``ActionBook`` keeps only what incidents and walls need. So the pending one is looked up in
the stream itself, newest first, over the last ``LOOKBACK``: every process (and a process
that has not yet folded the action) gives the same answer the moment it is published. A
hand-over is taken over once (``Bus.publish_action_once`` with ``marker``), whoever asks first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from feeds.bus import ACTIONS, Bus
from feeds.log_reader import as_bytes, entries_of
from feeds.schema import ActionMessage, decode_action

# A hand-over older than two days is no longer the shift's news: the longest roster in use
# (24-hour shifts) hands over once a day, so a day's margin still finds every pending one.
LOOKBACK = timedelta(hours=48)
PAGE = 500  # stream entries read per round trip
_OVER = (b'"verb":"hand_over"', b'"verb":"take_over"')  # decoded only if it is one of them


@dataclass(frozen=True, slots=True)
class Pending:
    action: ActionMessage  # the hand_over
    sid: str  # its id in the actions stream


def pending(bus: Bus, scope: str, now: datetime) -> Pending | None:
    """The latest hand-over of exactly ``scope`` in the last ``LOOKBACK``, unless it has been
    taken over (a newer hand-over of the scope replaces an older one)."""
    taken: set[str] = set()
    for sid, action in _handovers(bus, now - LOOKBACK):
        if action.area != scope:
            continue
        if action.verb == "take_over" and action.ends:
            taken.add(action.ends)
        elif action.verb == "hand_over":
            return None if action.id in taken else Pending(action, sid)
    return None


def marker(handover_id: str) -> str:
    """What makes a hand-over's 接班 happen once, across processes."""
    return f"take-over:{handover_id}"


def _handovers(bus: Bus, since: datetime) -> Iterator[tuple[str, ActionMessage]]:
    """(stream id, action) of the hand-overs and take-overs since ``since``, newest first."""
    key, low = bus.keys[ACTIONS], f"{int(since.timestamp() * 1000)}-0"
    high = "+"
    while True:
        rows = entries_of(bus.client.xrevrange(key, max=high, min=low, count=PAGE))
        for sid, fields in rows:
            raw = as_bytes(fields[b"m"])
            if any(mark in raw for mark in _OVER):
                yield sid, decode_action(raw)
        if len(rows) < PAGE:
            return
        high = f"({rows[-1][0]}"
