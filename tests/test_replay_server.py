"""Replay over a real server's socket (`onemap serve`, a real Redis): a wall that seeks to a past
moment receives the figures, panels, ticker, markers and workers a fresh fold of the log up to
that moment gives; playing on gives those of the later moment; a jurisdiction replays only
itself."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import socketio

from dashboard.cold.tracks import TrackReader
from dashboard.live.outbound import position_row
from dashboard.live.rewind import ms_moment
from dashboard.live.shelf import Shelf
from dashboard.state import OPEN
from dashboard.views import panels
from dashboard.views.kpis import headline
from feeds.bus import EVENTS, Bus
from feeds.geo import contains, load_geography
from feeds.schema import EventMessage
from tests.live import dashboard
from tests.screens import kiosk_cookie
from tests.test_replay import _fresh_fold as _fold
from tests.test_replay import _messages, _publish

pytestmark = pytest.mark.fault  # a server with its own timings: runs beside the other slow ones

GEO = load_geography()
FAST = {
    "ONEMAP_CHECKPOINT_EVERY_S": "1",
    "ONEMAP_REPLAY_EVERY_S": "1",
    "ONEMAP_TRACK_FLUSH_S": "1",
}


_FOLDS: dict[tuple[str, int], object] = {}


def _fresh_fold(bus, at_ms):
    """The reference state at ``at_ms`` (a log only grows: one fold per moment and log)."""
    key = (bus.prefix, at_ms)
    if key not in _FOLDS:
        _FOLDS[key] = _fold(bus, at_ms)
    return _FOLDS[key]


def _json(value):
    return json.loads(json.dumps(value))


def _wait(what, test, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


def _client(server, link):
    client = socketio.Client(reconnection=False)
    client.connect(
        server.url, headers={"Cookie": kiosk_cookie(server.url, link)}, transports=["websocket"]
    )
    return client


def _seek(client, at_ms, scope=None):
    ask = {"op": "seek", "at": ms_moment(at_ms).isoformat(), **({"scope": scope} if scope else {})}
    return client.call("replay", ask, timeout=60)


def test_a_wall_replays_a_past_moment_as_the_log_folded_up_to_it(
    redis_server, redis_client, prefix, tmp_path
):
    bus = Bus(redis_client, prefix=prefix)
    messages = _messages()
    with dashboard(redis_server.url, prefix, tmp_path, **FAST) as server:
        moments, positions = _publish(bus, messages)
        shelf = Shelf(tmp_path / "data" / "checkpoints", prefix, every_s=1, keep_h=72)
        last_event = int(bus.range_raw(EVENTS, "0-0", "+", 10**7)[-1][0].partition("-")[0])
        _wait("a shelved checkpoint of the whole log", lambda: last_event in shelf.moments())
        tracks = TrackReader(tmp_path / "data" / "archive")
        newest = {m.worker for _, m in positions}
        _wait(
            "the fixes kept",
            lambda: {f.message.worker for f in tracks.folded("0-0", moments[-1])} == newest,
        )
        client = _client(server, server.wall_link())
        try:
            at_ms = moments[1]
            reply = _seek(client, at_ms)
            assert reply["ok"] and reply["mode"] == "replay", reply
            _assert_like_the_log(reply, bus, at_ms, GEO.city.code)
            later = client.call(
                "replay", {"op": "advance", "at": ms_moment(moments[2]).isoformat()}, timeout=60
            )
            assert later["ok"], later
            reference = _fresh_fold(bus, moments[2])
            moment = ms_moment(moments[2])
            assert later["at"] == moment.isoformat()
            assert later["kpis"] == _json(headline(reference, GEO.city.code, moment))
            applied = {
                step.sid
                for incident in reference.incidents.values()
                for step in incident.steps.values()
                if at_ms < int(step.sid.partition("-")[0]) <= moments[2]
            }
            assert {s["sid"] for s in later["steps"]} == applied
            back = client.call(
                "replay", {"op": "advance", "at": ms_moment(at_ms).isoformat()}, timeout=30
            )
            assert back == {"ok": False, "error": "backwards", "at": moment.isoformat()}
            too_early = _seek(client, moments[0] - 3_600_000)
            assert too_early["ok"] is False and too_early["error"] == "out_of_range"
            assert client.call("replay", {"op": "stop"}, timeout=30) == {
                "ok": True,
                "scope": "330200",
            }
            gone = client.call("replay", {"op": "advance", "at": moment.isoformat()}, timeout=30)
            assert gone == {"ok": False, "error": "no_session"}
        finally:
            client.disconnect()
        _county_replays_only_itself(server, bus, moments[2])


def _assert_like_the_log(reply, bus, at_ms, scope):
    reference = _fresh_fold(bus, at_ms)
    moment = ms_moment(at_ms)
    assert reply["at"] == reply["now"] == moment.isoformat()
    assert reply["kpis"] == _json(headline(reference, scope, moment))
    assert reply["panels"] == _json(panels.build(reference, scope, moment))
    assert reply["last"] == reference.last_sid[EVENTS]
    ticker = [a.sid for a in reference.recent if contains(scope, a.message.area.town)]
    assert [s["sid"] for s in reply["steps"]] == ticker[-len(reply["steps"]) :]
    assert len(reply["steps"]) == min(len(ticker), 200)
    open_ids = {i.id for i in reference.incidents.values() if i.status == OPEN}
    assert {m["id"] for m in reply["incidents"]} == open_ids
    # workers: every one the log had, shown at one of its fixes of the last kept interval (30 s)
    shown = {row[0]: row for row in reply["positions"]}
    assert set(shown) == set(reference.positions)
    fixes = [e for e in bus.replay("positions") if int(e.sid.partition("-")[0]) <= at_ms]
    for worker, newest in reference.positions.items():
        recent = [
            position_row(e.message)
            for e in fixes
            if e.message.worker == worker and e.message.ts >= newest.ts - timedelta(seconds=30)
        ]
        assert list(shown[worker]) in [list(r) for r in recent], worker


def _county_replays_only_itself(server, bus, at_ms):
    county = sorted(GEO.counties)[0]
    other = sorted(GEO.counties)[1]
    _, link = server.add_kiosk(county, cli=False)
    client = _client(server, link)
    try:
        mine = _seek(client, at_ms)
        assert mine["ok"] and mine["scope"] == county
        assert mine["steps"] and all(s["county"] == county for s in mine["steps"])
        assert mine["kpis"] == _json(headline(_fresh_fold(bus, at_ms), county, ms_moment(at_ms)))
        refused = _seek(client, at_ms, scope=other)
        assert refused["ok"] is False, refused
    finally:
        client.disconnect()


def test_seconds_ago_is_within_reach_and_sessions_are_bounded(
    redis_server, redis_client, prefix, tmp_path
):
    """A moment just past works on a young server with no shelved checkpoint; a server holds
    at most ONEMAP_REPLAY_SESSIONS replays, and a socket that goes frees its own."""
    bus = Bus(redis_client, prefix=prefix)
    env = {"ONEMAP_CHECKPOINT_EVERY_S": "0", "ONEMAP_REPLAY_SESSIONS": "1"}
    with dashboard(redis_server.url, prefix, tmp_path, **env) as server:
        events = [m for m in _messages() if isinstance(m, EventMessage)][:400]
        moments, _ = _publish(bus, events)
        first, second = _client(server, server.wall_link()), _client(server, server.wall_link())
        try:
            reply = _seek(first, moments[-1])
            assert reply["ok"], reply
            assert datetime.fromisoformat(reply["latest"]) <= datetime.now(UTC)
            moment = ms_moment(moments[-1])
            reference = _fresh_fold(bus, moments[-1])
            assert reply["kpis"] == _json(headline(reference, GEO.city.code, moment))
            assert _seek(second, moments[-1]) == {"ok": False, "error": "busy", "retry": 30}
            first.disconnect()
            _wait("the gone socket's replay let go", lambda: _seek(second, moments[-1])["ok"])
        finally:
            first.disconnect()
            second.disconnect()
