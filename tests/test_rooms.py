"""Rooms' bookkeeping when a socket leaves while its hello is being answered (seen behind the
load balancer: a hello slower than the page's patience, the page reconnected meanwhile)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask_socketio import SocketIO

from dashboard.live.rooms import Gone, Rooms

CITY = "330200"


def test_a_socket_gone_before_its_hello_joins_nothing_and_is_not_counted():
    socketio = SocketIO(Flask(__name__), async_mode="threading")
    rooms = Rooms(socketio)
    with pytest.raises(Gone):
        rooms.watch("gone-sid", CITY, lite=False)
    assert rooms.screens() == 0
    assert rooms.watched() == []
    with pytest.raises(Gone):
        rooms.set_wall("gone-sid", "0123456789ab")
    assert rooms.wall_of("gone-sid") == ""
