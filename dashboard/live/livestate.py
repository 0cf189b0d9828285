"""What one server process knows, and the one lock that guards it.

The bridge folds the feed into ``state`` and ``actions`` under ``lock``; every handler that
reads them (a hello, the duty desk, an incident's detail, the risks list) takes the same lock
through ``read()``, builds its payload, and sends only after releasing it: engine.io may run a
socket's disconnect handler inside a send, on the sending thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from dashboard.live.actions import ActionBook
from dashboard.state import State
from feeds.geo import Geography


@dataclass
class LiveState:
    state: State
    actions: ActionBook = field(default_factory=ActionBook)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set once the log has been folded: before that, pages are asked to come back.
    ready: threading.Event = field(default_factory=threading.Event)
    newest_ts: datetime | None = None  # the newest message time applied: the feed's freshness

    @property
    def geo(self) -> Geography:
        return self.state.geo

    @contextmanager
    def read(self) -> Iterator[State]:
        """The state, consistent for the block; keep the block short and send nothing in it."""
        with self.lock:
            yield self.state
