"""`onemap notify run`: one notifier process. Its own process, not a thread of `onemap serve`:
a slow or dead receiver, or a burst of thousands of alerts, can never take a thread, a lock or
memory from the live feed, and the notifier restarts, scales and is deployed on its own.
Several run side by side: they share the outbox through a consumer group and each cause is
queued once per subscription (``dashboard.notify.store``), so a second one is a spare, not a
second copy of every message.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from dashboard.access.store import UserStore
from dashboard.config import Settings
from dashboard.notify.ack import link_key
from dashboard.notify.deliver import Deliverer, Tuning
from dashboard.notify.store import NotifyStore
from dashboard.notify.watch import Watcher
from feeds.bus import Bus
from feeds.geo import Geography
from feeds.outage import REDIS_ERRORS, Outage, until_ok

log = logging.getLogger(__name__)
TICK_S = 0.25  # how often due retries, held messages and escalations are moved


def tuning_from(settings: Settings) -> Tuning:
    return Tuning(
        tries=max(1, settings.notify_tries),
        backoff_s=settings.notify_backoff_s,
        timeout_s=settings.notify_timeout_s,
        minute_s=settings.notify_minute_s,
        link_hours=settings.notify_link_hours,
        base_url=settings.public_url or f"http://{settings.host}:{settings.port}",
        workers=max(1, settings.notify_workers),
    )


def shared_link_key(bus: Bus, settings: Settings) -> bytes:
    """The server's key: its signed links are checked by the server (dashboard.notify.ack)."""
    store = UserStore(bus.client, settings.prefix)
    return link_key(settings.secret_key or until_ok(log, "session key", store.shared_secret))


class Notifier:
    def __init__(self, bus: Bus, geo: Geography, settings: Settings, name: str = "") -> None:
        self.store = NotifyStore(bus)
        self.watcher = Watcher(bus, self.store, geo)
        key = shared_link_key(bus, settings)
        self.deliverer = Deliverer(self.store, tuning_from(settings), key)
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"

    def run(self, stop: threading.Event) -> None:
        until_ok(log, "notifier start", self._start)
        threads = [
            threading.Thread(
                target=self.deliverer.work,
                args=(f"{self.name}-{i}", stop),
                name=f"notify-worker-{i}",
                daemon=True,
            )
            for i in range(self.deliverer.tuning.workers)
        ]
        threads.append(
            threading.Thread(target=self._ticks, args=(stop,), name="notify-tick", daemon=True)
        )
        for thread in threads:
            thread.start()
        log.info("notifier %s: %d delivery threads", self.name, len(threads) - 1)
        self._watch(stop)
        for thread in threads:
            thread.join(timeout=self.deliverer.tuning.timeout_s + 5)

    def _start(self) -> None:
        self.store.ensure_group()
        self.watcher.start()

    def _watch(self, stop: threading.Event) -> None:
        outage = Outage(log, "notifier watch", stop=stop)
        while not stop.is_set():
            try:
                self.watcher.poll(block_ms=500)
            except REDIS_ERRORS as exc:  # the cursor is where it was: nothing is skipped
                outage.failed(exc)
                continue
            outage.ok()

    def _ticks(self, stop: threading.Event) -> None:
        outage = Outage(log, "notifier schedule", stop=stop)
        while not stop.wait(TICK_S):
            try:
                self.deliverer.tick()
            except REDIS_ERRORS as exc:
                outage.failed(exc)
                continue
            outage.ok()
