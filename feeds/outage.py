"""Riding out Redis stalls, restarts and failovers: capped backoff, one log line per outage, a
client factory.

Every long-running process (the server's bridge, ingest, the simulator, the archive) talks to
Redis through a client made by :func:`connect` and wraps each round trip's failure in an
:class:`Outage`: the first failure logs one warning, later ones are silent while the backoff
grows, and the first success after them logs how long Redis was away. An outage is never a
traceback per retry, and never the end of the process.

``ONEMAP_REDIS_URL`` is either one server (``redis://``, ``rediss://``, ``unix://``) or a group
watched by Redis Sentinel, in the form python-socketio's message queue reads too, so one URL
serves both settings (docs/redis-failover.md)::

    redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]/DB/SERVICE

A client on a Sentinel URL asks the sentinels where the master of ``SERVICE`` is at every
(re)connect, so after a failover its next retry reaches the promoted replica.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel

T = TypeVar("T")

# A Redis that stops answering (SIGSTOP, a swapped-out host, a network partition) must surface
# as an error within seconds, not hang a blocking read forever: every read has a deadline.
SOCKET_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
# A sentinel answers "where is the master" from memory: one that takes longer is down or
# stalled, and the next one in the list should be asked instead of waiting 10 s per connect.
SENTINEL_TIMEOUT_S = 1.0
SENTINEL_SCHEME = "redis+sentinel"

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
    """A client for ``url`` with deadlines on every read and a name Redis can show and kill;
    on a Sentinel URL, a client of whichever server is the master now."""
    settings: dict[str, object] = {
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_keepalive": True,
        "health_check_interval": 10,
        "client_name": name,
        **options,
    }
    group = sentinel_url(url)
    if group is None:
        return redis.Redis.from_url(url, **settings)
    return _master_for(group, settings)


@dataclass(frozen=True)
class SentinelURL:
    """A parsed ``redis+sentinel://`` URL; the credentials are the master's, not the
    sentinels' (sentinels listen on loopback or a private network without a password)."""

    sentinels: list[tuple[str, int]]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def sentinel_url(url: str) -> SentinelURL | None:
    """``url`` parsed if it names a Sentinel group; ``None`` for a plain server URL.

    Raises ValueError for a Sentinel URL that lacks an address or the service name."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        return None
    addresses = parts.netloc.rpartition("@")[2]
    sentinels = [_address(a) for a in addresses.split(",") if a]
    path = [p for p in parts.path.split("/") if p]
    if not sentinels or not path or len(path) > 2:
        raise ValueError(f"a Sentinel URL reads {SENTINEL_SCHEME}://HOST:PORT,.../DB/SERVICE")
    db = path[0] if len(path) == 2 else "0"
    # "/0" alone is a db without its service, "/onemap/0" the two swapped: both refused
    if not db.isdigit() or path[-1].isdigit():
        raise ValueError(f"a Sentinel URL ends /DB/SERVICE (DB a number), not {parts.path!r}")
    return SentinelURL(
        sentinels,
        path[-1],
        int(db),
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )


def _address(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit():
        raise ValueError(f"a sentinel address is HOST:PORT, not {text!r}")
    return host.strip("[]"), int(port)  # [::1]:26379 as well


def _master_for(group: SentinelURL, settings: dict[str, object]) -> redis.Redis:
    # redis-py leaves Sentinel unannotated; master_for returns a redis.Redis by default
    sentinels = Sentinel(
        group.sentinels,
        sentinel_kwargs={
            "socket_timeout": SENTINEL_TIMEOUT_S,
            "socket_connect_timeout": SENTINEL_TIMEOUT_S,
        },
    )
    client: redis.Redis = sentinels.master_for(
        group.service,
        db=group.db,
        username=group.username,
        password=group.password,
        **settings,
    )
    return client


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
