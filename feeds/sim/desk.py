"""The simulated field follows the duty desk: steps an officer took (派单, 结案 ...) are read
back from the actions stream, and the simulator's own plan for that incident goes on after them
(numbered after the desk's step) or stops once the desk closed it. Without it, the simulator
would send its own step under the seq the desk took, and the fold would drop it as a repeat.
"""

from __future__ import annotations

import msgspec

from feeds.bus import Bus
from feeds.log_reader import entries_of
from feeds.messages import STEP_VERBS, decode_action
from feeds.outage import REDIS_ERRORS
from feeds.sim.model import Model

BATCH = 500


class DeskWatch:
    """Reads the actions stream from where it stood when first asked."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.last: str | None = None  # None: not read yet (Redis may be away at the start)

    def follow(self, model: Model) -> int:
        """Tell ``model`` of the desk's steps since the last call; how many. Never raises for
        Redis (a stall is the publisher's to report; the next call catches up) nor for an
        entry it cannot read (the server's bridge counts those)."""
        key = self.bus.keys["actions"]
        try:
            if self.last is None:
                newest = entries_of(self.bus.client.xrevrange(key, count=1))
                self.last = newest[0][0] if newest else "0-0"
            rows = self.bus.client.xrange(key, min=f"({self.last}", max="+", count=BATCH)
        except REDIS_ERRORS:
            return 0
        told = 0
        for sid, fields in entries_of(rows):
            self.last = sid
            try:
                action = decode_action(fields[b"m"])
            except (KeyError, msgspec.DecodeError, msgspec.ValidationError):
                continue
            if action.verb in STEP_VERBS and action.incident and action.step:
                model.desk_step(action.incident, action.step, closed=action.verb == "close")
                told += 1
        return told
