"""A page's socket: admitted on connect, its ``hello`` answered, forgotten on disconnect.

A hello names the scope the page watches and the last stream id it applied (and, from a wall
page, its home: a registered wall's page then joins its wall's room, for casts and follows).
The socket joins the scope's room first, so every step applied from then on reaches it live,
then gets a snapshot or a catch-up (dashboard.live.hello). A hello during the rebuild waits,
then is asked to retry; one socket's hellos are answered one at a time and at most once a
second.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask_socketio import SocketIO

from dashboard.access.auth import SocketGuard
from dashboard.live.actions import command_payload
from dashboard.live.follows import FollowKeeper
from dashboard.live.health import BridgeHealth
from dashboard.live.hello import Greeter
from dashboard.live.inbound import Caller, HelloAsk, SocketApi, current_sid, refusal
from dashboard.live.livestate import LiveState
from dashboard.live.rooms import Gone, Rooms, user_room
from feeds.geo import contains

# A hello during the rebuild waits this long, then is asked to retry and told how far the
# rebuild is (a wall shows it): a short rebuild answers it, a long one keeps the page informed.
HELLO_WAIT_S = 5.0
HELLO_EVERY_S = 1.0  # one socket's hellos begin at most this often (a loop of them is paced)


class Pages:
    def __init__(
        self,
        socketio: SocketIO,
        live: LiveState,
        rooms: Rooms,
        guard: SocketGuard,
        greeter: Greeter,
        health: BridgeHealth,
        follows: FollowKeeper,
    ) -> None:
        self.socketio = socketio
        self.follows = follows
        self.health = health
        self.live = live
        self.rooms = rooms
        self.guard = guard
        self.greeter = greeter
        self.gone: list[Callable[[str], None]] = []  # others' per-socket state, let go with it

    def install(self, api: SocketApi) -> None:
        self.socketio.on_event("connect", self.on_connect)
        self.socketio.on_event("disconnect", self.on_disconnect)
        api.on("hello", HelloAsk, scoped=True)(self.on_hello)

    def on_connect(self, auth: object = None) -> None:
        """Only a signed-in session from an allowed origin gets a socket (raises otherwise)."""
        self.guard.admit(current_sid())

    def on_disconnect(self, *args: object) -> None:
        sid = current_sid()
        self.guard.forget(sid)
        self.rooms.forget(sid)
        self.follows.forget(sid)  # a tablet's follows: released after the grace, if not resumed
        for forget in self.gone:
            forget(sid)

    def on_hello(self, caller: Caller, asked: HelloAsk) -> dict[str, Any]:
        """Returns the snapshot or catch-up, or why not (``retry``: ask again in that many s)."""
        if not self.live.ready.wait(timeout=HELLO_WAIT_S):
            progress = self.health.progress
            return refusal("starting", retry=2, progress=progress.report() if progress else None)
        sid = caller.sid
        pause = self.rooms.begin_hello(sid, HELLO_EVERY_S)
        if pause is None:
            return refusal("busy", retry=1)
        try:
            if pause > 0:
                self.socketio.sleep(pause)
            # Into the room first: from now on every applied step reaches this socket live,
            # and the reply covers what was applied before (the page buffers until the reply).
            self.rooms.watch(sid, caller.scope, asked.lite)
            self.rooms.enter(sid, user_room(caller.who.name))  # views sent to this person
            answer = self.greeter.reply(caller.scope, asked.after, asked.lite, asked.window)
            reply: dict[str, Any] = dict(answer)
            reply["following"] = self._join_wall(caller, asked.home or "")
            return reply
        except Gone:  # disconnected while its hello was answered: nobody to answer
            return refusal("gone")
        finally:
            self.rooms.end_hello(sid)

    def _join_wall(self, caller: Caller, home: str) -> dict[str, Any] | None:
        """A registered wall's page (a kiosk link: it says hello with its home scope) joins its
        wall's room once; returns the follow it must show, if it is being followed. People's
        pages join none: casts and follows name registered walls only."""
        who = caller.who
        if home and who.kind == "kiosk" and contains(who.scope, home):
            self.rooms.set_wall(caller.sid, who.name)  # a kiosk's name is its id
        wall = self.rooms.wall_of(caller.sid)
        with self.live.read() as state:
            action = self.live.actions.following.get(wall) if wall else None
            return command_payload(action, state, datetime.now(UTC)) if action else None
