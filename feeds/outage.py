"""Riding out Redis stalls and restarts: capped backoff, one log line per outage, a client factory.

Every long-running process (the server's bridge, ingest, the simulator, the archive) talks to
Redis through a client made by :func:`connect` and wraps each round trip's failure in an
:class:`Outage`: the first failure logs one warning, later ones are silent while the backoff
grows, and the first success after them logs how long Redis was away. An outage is never a
traceback per retry, and never the end of the process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import redis

T = TypeVar("T")

# A Redis that stops answering (SIGSTOP, a swapped-out host, a network partition) must surface
# as an error within seconds, not hang a blocking read forever: every read has a deadline.
SOCKET_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0

# What counts as "Redis is away": every redis-py error except a refused command (a bug or bad
# data, not an outage), plus the OS errors a dropped socket can raise underneath it.
RETRYABLE: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    OSError,
)

# What a process's main loop retries on: every redis error. A refused command in a loop that
# worked until now is Redis's state, not our bug (OOM, READONLY during a failover, LOADING, a
# MISCONF disk): it passes, and retrying beats crashing into a supervisor's restart limit.
REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)


def connect(url: str, name: str, **options: object) -> redis.Redis:
    """A client for ``url`` with deadlines on every read and a name Redis can show and kill."""
    settings: dict[str, object] = {
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_keepalive": True,
        "health_check_interval": 10,
        "client_name": name,
        **options,
    }
    return redis.Redis.from_url(url, **settings)


class Outage:
    """Backoff and logging for one loop that talks to Redis.

    ``failed(exc)`` after a failed round trip: logs once per outage, then sleeps the current
    backoff (capped), doubling it; ``ok()`` after a good one: logs the recovery once and resets.
    ``down_since`` is the monotonic time the current outage began (``None`` when healthy).
    """

    def __init__(
        self,
        log: logging.Logger,
        what: str,
        first_delay: float = 0.1,
        max_delay: float = 5.0,
        stop: threading.Event | None = None,
    ) -> None:
        self.log = log
        self.what = what
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.delay = first_delay
        self.stop = stop
        self.down_since: float | None = None
        self.outages = 0  # how many began, for health reports

    def failed(self, exc: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.outages += 1
            self.log.warning(
                "%s: redis unavailable (%s: %s); retrying with backoff up to %.0fs",
                self.what,
                type(exc).__name__,
                exc,
                self.max_delay,
            )
        if self.stop is not None:
            self.stop.wait(self.delay)
        else:
            time.sleep(self.delay)
        self.delay = min(self.delay * 2, self.max_delay)

    def ok(self) -> None:
        if self.down_since is not None:
            self.log.warning(
                "%s: redis back after %.1fs", self.what, time.monotonic() - self.down_since
            )
            self.down_since = None
        self.delay = self.first_delay


def until_ok(log: logging.Logger, what: str, call: Callable[[], T]) -> T:
    """``call()``'s result, retried through Redis outages (one log line each way)."""
    outage = Outage(log, what)
    while True:
        try:
            result = call()
        except RETRYABLE as exc:
            outage.failed(exc)
            continue
        outage.ok()
        return result
