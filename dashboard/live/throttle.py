"""Small pacing objects for the live loops: asked, never firing (no timers, no threads)."""

from __future__ import annotations


class Every:
    """True at most once per ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.last = 0.0

    def due(self, now: float) -> bool:
        if now - self.last < self.seconds:
            return False
        self.last = now
        return True


class Coalesce:
    """Work that is due when something changed, at most once per ``seconds``.

    ``mark()`` says something changed (cheap, from the bridge); ``due(now)`` is True when
    there is a change and the interval has passed, and clears the change: many changes in an
    interval become one rebuild of a figure (a leading-edge debounce).
    """

    def __init__(self, seconds: float) -> None:
        self.every = Every(seconds)
        self.changed = True  # the first round always builds

    def mark(self) -> None:
        self.changed = True

    def due(self, now: float) -> bool:
        if not self.changed or not self.every.due(now):
            return False
        self.changed = False
        return True
