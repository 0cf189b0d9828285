"""A bound on what waits to be sent to one screen: a screen too slow to keep up is dropped.

Engine.IO queues every packet for a socket without limit, and its writer thread blocks on a
peer that stops reading (a laptop asleep, a frozen browser, a hostile client): the server
then grows by every frame sent to it. Once a second this looks at each socket's queue; one
past the bound is closed and its TCP connection shut down (which also frees the writer
thread blocked on it). A real screen that was merely slow reconnects by itself and catches up
from its last applied step, so dropping it loses nothing.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from flask_socketio import SocketIO

log = logging.getLogger(__name__)

# Where each WSGI server keeps the connection's socket (simple-websocket looks in the same).
_SOCKET_KEYS = ("werkzeug.socket", "gunicorn.socket")


class Backlog:
    def __init__(self, socketio: SocketIO, max_packets: int) -> None:
        self.socketio = socketio
        self.max_packets = max_packets
        self.dropped = 0

    def sweep(self) -> list[str]:
        """Drop every socket whose queue holds more than the bound; returns their engine.io ids."""
        server = self.socketio.server
        dropped = []
        for eio_sid, eio_socket in list(server.eio.sockets.items()):
            if eio_socket.closed or eio_socket.queue.qsize() <= self.max_packets:
                continue
            waiting = eio_socket.queue.qsize()
            raw = _raw_socket(server.environ.get(eio_sid))
            eio_socket.close(wait=False, abort=True)  # runs the disconnect handlers
            if raw is not None:
                try:
                    raw.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already gone
            dropped.append(eio_sid)
            log.warning("dropped a screen that fell %d packets behind (%s)", waiting, eio_sid)
        self.dropped += len(dropped)
        return dropped

    def deepest(self) -> int:
        """The longest queue now, for health reports."""
        sockets = list(self.socketio.server.eio.sockets.values())
        return max((s.queue.qsize() for s in sockets), default=0)


def _raw_socket(environ: dict[str, Any] | None) -> socket.socket | None:
    for key in _SOCKET_KEYS:
        found = (environ or {}).get(key)
        if isinstance(found, socket.socket):
            return found
    return None
