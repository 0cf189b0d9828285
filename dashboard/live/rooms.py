"""Who watches what: each socket's scope, whether it is lite, and which wall each wall page is.

The bridge asks which scopes have screens before it builds a payload for them, and the hello
handler and the disconnect handler change the registry. Its lock is held only for these few
dictionary operations and never while anything is sent: engine.io runs a socket's disconnect
handler on whichever thread happens to send to it (a ping timeout noticed on send), so a lock
held across an emit can deadlock the very thread that holds it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from flask_socketio import SocketIO

NAMESPACE = "/"


def area_room(scope: str) -> str:
    return f"area:{scope}"


def wall_room(wall: str) -> str:
    """The pages of one registered wall (a kiosk link, on one screen or several)."""
    return f"wall:{wall}"


def user_room(name: str) -> str:
    return f"user:{name}"


class Gone(Exception):
    """The socket disconnected while it was being put in a room (a hello that outlived it)."""


class Rooms:
    def __init__(self, socketio: SocketIO) -> None:
        self.socketio = socketio
        self._lock = threading.Lock()
        self._scope_of: dict[str, str] = {}  # socket id → the scope it watches
        self._screens: Counter[str] = Counter()  # scope → screens watching it
        self._lite: set[str] = set()  # sockets that asked for no worker positions (tablets)
        self._wall_of: dict[str, str] = {}  # socket id → the wall (kiosk id) a wall page is
        self._greeting: set[str] = set()  # sockets whose hello is being answered
        self._greeted: dict[str, float] = {}  # socket id → when its last hello began

    def begin_hello(self, sid: str, every_s: float) -> float | None:
        """``None`` while this socket's previous hello is still being answered (one at a time
        per socket); else how long to wait first, so that one socket's hellos begin at most
        once per ``every_s``. A page says hello on connect and on a change of area; a client
        firing hellos in a loop is paced, and cannot take every thread and core."""
        now = time.monotonic()
        with self._lock:
            if sid in self._greeting:
                return None
            self._greeting.add(sid)
            start = max(now, self._greeted.get(sid, 0.0) + every_s)
            self._greeted[sid] = start
            return start - now

    def end_hello(self, sid: str) -> None:
        with self._lock:
            self._greeting.discard(sid)

    def watch(self, sid: str, scope: str, lite: bool) -> None:
        """``sid`` now watches ``scope`` (and no longer what it watched before)."""
        server = self.socketio.server
        with self._lock:
            before = self._scope_of.get(sid)
            if before is not None and before != scope:
                server.leave_room(sid, area_room(before), namespace=NAMESPACE)
                self._screens[before] -= 1
            if before != scope:
                try:
                    self.enter(sid, area_room(scope))
                except Gone:  # left uncounted; ``before`` was taken off already
                    self._scope_of.pop(sid, None)
                    raise
                self._screens[scope] += 1
                self._scope_of[sid] = scope
            (self._lite.add if lite else self._lite.discard)(sid)

    def enter(self, sid: str, room: str) -> None:
        try:
            self.socketio.server.enter_room(sid, room, namespace=NAMESPACE)
        except ValueError as exc:  # python-socketio: "sid is not connected to ... namespace"
            raise Gone(sid) from exc

    def set_wall(self, sid: str, wall: str) -> bool:
        """Put a wall page in its wall's room, once; False if it is in one already."""
        with self._lock:
            if sid in self._wall_of:
                return False
            self.enter(sid, wall_room(wall))
            self._wall_of[sid] = wall
        return True

    def wall_of(self, sid: str) -> str:
        with self._lock:
            return self._wall_of.get(sid, "")

    def forget(self, sid: str) -> None:
        """A socket is gone (Socket.IO removes it from its rooms itself)."""
        with self._lock:
            scope = self._scope_of.pop(sid, None)
            if scope is not None:
                self._screens[scope] -= 1
                if self._screens[scope] <= 0:
                    del self._screens[scope]
            self._lite.discard(sid)
            self._wall_of.pop(sid, None)
            self._greeted.pop(sid, None)

    def watched(self) -> list[str]:
        """Scopes with at least one screen, now."""
        with self._lock:
            return [scope for scope, n in self._screens.items() if n > 0]

    def lite(self) -> list[str]:
        with self._lock:
            return list(self._lite)

    def screens(self) -> int:
        with self._lock:
            return len(self._scope_of)
