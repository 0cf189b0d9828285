"""Warnings raised by the detectors and not yet taken by the push bridge.

The same warning can be found again (a late step re-evaluates a window, a restart replays the
log): an id seen before is dropped here, and the bus drops it again across processes.
"""

from __future__ import annotations

from collections import OrderedDict, deque

import msgspec

from feeds.schema import WarningMessage


class Outbox:
    def __init__(self, recent: int = 200, memory: int = 20_000, backlog: int = 10_000) -> None:
        self.pending: deque[WarningMessage] = deque(maxlen=backlog)
        self.recent: deque[WarningMessage] = deque(maxlen=recent)
        self.raised: dict[str, int] = {}  # warning type -> how many, since start
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._memory = memory

    def put(self, warning: WarningMessage) -> bool:
        if warning.id in self._seen:
            return False
        self._seen[warning.id] = None
        if len(self._seen) > self._memory:
            self._seen.popitem(last=False)
        self.pending.append(warning)
        self.recent.append(warning)
        self.raised[warning.type] = self.raised.get(warning.type, 0) + 1
        return True

    def drain(self) -> list[WarningMessage]:
        taken = list(self.pending)
        self.pending.clear()
        return taken

    def seen(self, warning_id: str) -> bool:
        return warning_id in self._seen


def payload(warning: WarningMessage, label: str) -> dict[str, object]:
    """What a page receives for a warning: the message as JSON types, plus the place name."""
    return {**msgspec.json.decode(msgspec.json.encode(warning)), "place": label}
