"""The server's morning run: at ``ONEMAP_BRIEFING_AT`` (China time) yesterday's briefings of
the city and each county, once a day however many replicas run.

Each replica's thread wakes every ``CHECK_S``; the first to find the time come sets a marker
in Redis (SET NX, kept three days) and writes the set; the others see the marker and skip the
day. A run that fails removes its marker, so a replica tries again after ``RETRY_S``.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import date, datetime
from datetime import time as clock

import redis

from dashboard.briefing.make import Maker, yesterday
from feeds.schema import CHINA_TZ

log = logging.getLogger(__name__)

CHECK_S = 30.0
RETRY_S = 600.0
MARK_S = 3 * 86_400


def parse_at(text: str) -> clock | None:
    """``"07:00"`` → 07:00; empty: no morning run."""
    if not text.strip():
        return None
    hours, _, minutes = text.strip().partition(":")
    return clock(int(hours), int(minutes or 0))


class Morning:
    def __init__(
        self,
        maker: Maker,
        client: redis.Redis,
        prefix: str,
        at: clock,
        ready: threading.Event,
    ) -> None:
        self.maker = maker
        self.client = client
        self.prefix = prefix
        self.at = at
        self.ready = ready
        self.done: date | None = None  # the day this process last saw made (by anyone)
        self._failed_at = -float("inf")

    def run(self) -> None:
        while True:
            try:
                self.check(datetime.now(CHINA_TZ))
            except Exception:  # the next check tries again; the server goes on regardless
                log.exception("daily briefing run failed")
            time.sleep(CHECK_S)

    def key(self, day: date) -> str:
        return f"{self.prefix}:briefing:daily:{day.isoformat()}"

    def check(self, now: datetime) -> bool:
        """Writes yesterday's set if its time has come and no replica has; True if it did."""
        local = now.astimezone(CHINA_TZ)
        day = yesterday(local)
        if self.done == day or local.time() < self.at or not self.ready.is_set():
            return False
        if time.monotonic() - self._failed_at < RETRY_S:
            return False
        token = secrets.token_hex(8)
        if not self.client.set(self.key(day), token, nx=True, ex=MARK_S):
            self.done = day  # another replica has it
            return False
        try:
            self.maker.daily(day, self.maker.areas(), local)
        except Exception:
            self._failed_at = time.monotonic()
            if self.client.get(self.key(day)) in (token, token.encode()):
                self.client.delete(self.key(day))
            raise
        self.done = day
        return True
