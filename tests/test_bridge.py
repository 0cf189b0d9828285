"""The live bridge is supervised: a bad log entry is skipped, a Redis that is not there yet is
waited for, and /healthz says what state the bridge is in. Real server, real Redis, real sockets.
"""

from __future__ import annotations

import time

import pytest

from dashboard.live.rebuild import Progress
from feeds.bus import EVENTS, Bus
from feeds.redis_server import free_port, start_redis
from feeds.schema import decode_trusted
from tests.factories import event_dict, line
from tests.live import dashboard
from tests.screens import CITY, Screen, health, kiosk_cookie

pytestmark = pytest.mark.fault


def _step(geo, tag: str, i: int = 0):
    return decode_trusted(line(event_dict(geo, i, id=f"{tag}-{i}", seq=1, type="reported")))


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout}s")
        time.sleep(0.2)


def test_bridge_skips_and_dead_letters_an_entry_it_cannot_apply_and_goes_on(
    redis_server, redis_client, prefix, tmp_path, geo
):
    bus = Bus(redis_client, prefix=prefix)
    with dashboard(redis_server.url, prefix, tmp_path) as server:
        screen = Screen(server.url, kiosk_cookie(server.url, server.wall_link()), CITY).start()
        try:
            screen.wait_live()
            # Written past the contract (straight into the log, as a broken producer with
            # Redis access could): the bridge must step over it, not stop on it.
            redis_client.xadd(bus.keys[EVENTS], {"m": b"\xff\xfe not a message"})
            redis_client.xadd(bus.keys[EVENTS], {"m": b'{"kind": "event", "id": 1}'})
            good = bus.publish(_step(geo, "after-poison"))
            _wait(lambda: good in screen.applied_at, 20, "the step after the bad entries")
            report = health(server.url)
            assert isinstance(report, dict)
            assert report["bridge"]["state"] == "ok"
            assert report["bridge"]["errors"] == 2
            assert report["bridge"]["restarts"] == 0
            reasons = [row["reason"] for row in bus.dead_letters(10)]
            assert reasons.count("apply_failed") == 2
            assert "skipped events entry" in server.log()
        finally:
            screen.close()


def test_server_started_before_its_redis_becomes_ready_when_redis_comes(
    prefix, tmp_path, geo
):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with dashboard(url, prefix, tmp_path, wait=False) as server:
        _wait(lambda: "session key: redis unavailable" in server.log(), 60, "waiting for Redis")
        time.sleep(2)  # a while longer, retrying: running, not serving yet
        assert server.process.poll() is None, server.log()
        assert not _ready(server.url)
        with start_redis(port=port) as late:
            bus = Bus(late.client(), prefix=prefix)
            first = bus.publish(_step(geo, "late"))
            _wait(lambda: _ready(server.url), 30, "ready after Redis came")
            assert server.health()["last"]["events"] == first
            assert server.process.poll() is None
            assert server.log().count("session key: redis unavailable") == 1  # one per outage
            assert "Traceback" not in server.log()


def _ready(url: str) -> bool:
    answer = health(url)
    return isinstance(answer, dict) and answer.get("ready") is True


@pytest.fixture
def in_process(redis_server, prefix):
    """The app built as the server builds it, its bridge not started, and a socket signed in
    through a city wall link (Flask-SocketIO's test client, a real Redis)."""
    from dashboard.config import Settings
    from onemap.app import create_app

    app = create_app(Settings(redis_url=redis_server.url, prefix=prefix, cookie_secure=False))
    _kiosk, token = app.access.store.add_kiosk(CITY, "test wall")
    http = app.server.test_client()
    assert http.get(f"/wall?kiosk={token}").status_code == 302
    socket = app.socketio.test_client(app.server, flask_test_client=http)
    assert socket.is_connected()
    try:
        yield app, socket
    finally:
        socket.disconnect()


def test_a_hello_before_the_rebuild_ends_is_asked_to_retry_not_answered_from_half_a_state(
    in_process, geo, monkeypatch
):
    """A restarted server whose rebuild outlasts a page's hello once answered it from the
    half-built state (a catch-up of nothing, up to "0-0"), and every step the fold then
    applied reached that page neither in the reply nor live."""
    from dashboard.live import pages

    app, socket = in_process
    seen = app.bus.publish(_step(geo, "seen", 0))
    missed = [app.bus.publish(_step(geo, "missed", i)) for i in range(1, 4)]
    monkeypatch.setattr(pages, "HELLO_WAIT_S", 0.2)
    hello = {"scope": CITY, "after": seen}
    assert socket.emit("hello", hello, callback=True) == {
        "ok": False,
        "error": "starting",
        "retry": 2,
        "progress": None,  # the fold has not begun
    }
    # a fold under way: the page is told how far it is (a wall shows it)
    app.hub.health.progress = Progress(folded=5_000, first_ms=1_000, upto_ms=3_000, at_ms=2_500)
    refused = socket.emit("hello", hello, callback=True)
    assert refused["error"] == "starting"
    assert refused["progress"] == {"folded": 5_000, "percent": 75.0, "seconds": 0.0}
    app.hub.bridge.rebuild()
    reply = socket.emit("hello", hello, callback=True)
    assert reply["mode"] == "catchup"
    assert [step["sid"] for step in reply["steps"]] == missed
    assert reply["last"] == missed[-1]


@pytest.mark.parametrize(
    ("payload", "answer"),
    [
        # The typed contract (docs/socket.md): the wrong shape is malformed, and says where.
        ("not an object", "malformed request"),
        (["a", "list"], "malformed request"),
        ({"scope": CITY, "after": "not a stream id"}, "snapshot"),
        ({"scope": CITY, "after": 12}, "malformed request"),
        ({"scope": 330200}, "malformed request"),
        ({"scope": "999999"}, "unknown scope"),
        ({"scope": {"$ne": 1}}, "malformed request"),
    ],
)
def test_a_malformed_hello_gets_an_answer_never_an_exception(in_process, payload, answer):
    app, socket = in_process
    app.hub.bridge.rebuild()
    reply = socket.emit("hello", payload, callback=True)
    assert reply is not None, "no reply: the handler raised"
    assert reply.get("mode") == answer or reply.get("error") == answer, reply
