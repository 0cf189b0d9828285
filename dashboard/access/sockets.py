"""Who holds each live socket, which areas it may hear about, and revocation within a second.

A socket's principal is fixed when it connects (from the session cookie, through ``Access``);
from then on the HTTP gate never sees it again, so revocation has to come to it: a background
task checks every connected principal against the store once a second and disconnects those
whose account was removed, password changed, kiosk token revoked, or session ended or expired.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import redis
from flask import request
from flask_socketio import SocketIO

from dashboard.access.principal import Principal
from feeds.geo import contains

if TYPE_CHECKING:  # auth imports this module to hand SocketGuard on: no import back at run time
    from dashboard.access.auth import Access

log = logging.getLogger(__name__)

SOCKET_CHECK_S = 1.0  # revocation reaches a live socket within this plus one disconnect


class SocketGuard:
    """The Socket.IO side: who may connect, which rooms each socket may join, and revocation.

    ``admit`` runs in the ``connect`` handler; ``allows`` in ``hello``; ``start`` begins the
    once-a-second ``sweep``.
    """

    def __init__(self, access: Access, socketio: SocketIO) -> None:
        self.access = access
        self.socketio = socketio
        self.lock = threading.Lock()
        self.seats: dict[str, Principal] = {}  # socket id → who holds it
        self.revoked_total = 0

    def admit(self, sid: str) -> Principal:
        origin = request.headers.get("Origin")
        if origin and not self.access.origin_allowed(origin, request.host_url):
            log.warning("socket refused: origin %s not allowed", origin)
            raise ConnectionRefusedError("origin not allowed")
        principal = self.access.current()
        if principal is None:
            raise ConnectionRefusedError("unauthorized")
        with self.lock:
            self.seats[sid] = principal
        return principal

    def forget(self, sid: str) -> None:
        with self.lock:
            self.seats.pop(sid, None)

    def principal(self, sid: str) -> Principal | None:
        with self.lock:
            return self.seats.get(sid)

    def allows(self, sid: str, code: str) -> bool:
        principal = self.principal(sid)
        return principal is not None and contains(principal.scope, code)

    def start(self) -> None:
        self.socketio.start_background_task(self._watch)

    def _watch(self) -> None:
        while True:
            self.socketio.sleep(SOCKET_CHECK_S)
            try:
                self.sweep()
            except redis.RedisError as exc:
                # Keep live sockets while the store is away; new ones cannot sign in anyway.
                log.warning("revocation check skipped: %s", exc)
            except Exception:  # the watch must outlive any one bad round
                log.exception("revocation check failed")

    def sweep(self) -> list[str]:
        """Disconnect every socket whose principal is no longer valid; returns their ids."""
        with self.lock:
            seats = dict(self.seats)
        if not seats:
            return []
        store = self.access.store
        valid = store.still_valid({p.id for p in seats.values()})
        ended = store.ended({p.session_id for p in seats.values()})
        now = time.time()
        stale = [
            sid
            for sid, p in seats.items()
            if p.id not in valid
            or p.session_id in ended
            or (p.expires is not None and p.expires <= now)
        ]
        for sid in stale:
            self.forget(sid)
            self.socketio.server.disconnect(sid, namespace="/", ignore_queue=True)
        if stale:
            self.revoked_total += len(stale)
            log.info("disconnected %d socket(s) whose session was revoked or expired", len(stale))
        return stale
