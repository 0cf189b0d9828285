"""A wall's snapshot, in process (Flask-SocketIO's test client, the app as the server builds
it, a real Redis): its incident markers carry category, report time and deadline, and a hello
asked with a density window (docs/wall.md) also carries the closed incidents reported in it,
scoped exactly as the open markers are.

The incidents, in 鄞州 and 余姚: open ones (one overdue, one known only from a later step: the
log was trimmed past its report), ones reported and closed in the last hours, one reported and
closed 30 hours ago.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboard.live.hello import window_start
from feeds.geo import contains, load_geography
from feeds.schema import CHINA_TZ, decode_trusted
from tests.factories import event_dict, line

GEO = load_geography()
CITY = GEO.city.code
YINZHOU, YUYAO = "330212", "330281"
TOWN = sorted(a.code for a in GEO.children(YINZHOU))[0]
FAR_TOWN = sorted(a.code for a in GEO.children(YUYAO))[0]
NOW = datetime.now(UTC).astimezone(CHINA_TZ).replace(microsecond=0)
# id → (town, reported how long ago, closed how long ago or None, deadline after the report)
INCIDENTS = {
    "S-OPEN": (TOWN, timedelta(hours=2), None, timedelta(days=1)),
    "S-LATE": (TOWN, timedelta(hours=5), None, timedelta(hours=1)),  # overdue
    "S-SHUT": (TOWN, timedelta(hours=3), timedelta(hours=1), timedelta(days=1)),
    "S-OLD": (TOWN, timedelta(hours=30), timedelta(hours=29), timedelta(days=1)),
    "S-FAR-OPEN": (FAR_TOWN, timedelta(hours=2), None, timedelta(days=1)),
    "S-FAR-SHUT": (FAR_TOWN, timedelta(hours=3), timedelta(hours=1), timedelta(days=1)),
}
TRIMMED = "S-TRIMMED"  # open, its report no longer in the log: only its second step


def _step(incident: str, town: str, n: int, **extra: Any) -> dict[str, Any]:
    grid = next(g for g in sorted(GEO.grids) if contains(town, g))
    lon, lat = GEO.random_point(grid, random.Random(n))
    area = {"county": GEO.county_of(grid), "town": town, "village": GEO.village_of(grid),
            "grid": grid}  # fmt: skip
    return event_dict(GEO, n, id=incident, area=area, lon=lon, lat=lat, category="sc01", **extra)


def _steps() -> list[dict[str, Any]]:
    out = []
    for n, (incident, (town, ago, closed, limit)) in enumerate(INCIDENTS.items()):
        ts = NOW - ago
        report = _step(incident, town, n, ts=ts.isoformat(), deadline=(ts + limit).isoformat())
        out.append(report)
        if closed is not None:
            out.append({**report, "seq": 2, "type": "closed", "ts": (NOW - closed).isoformat()})
    ts = NOW - timedelta(hours=1)
    out.append(_step(TRIMMED, TOWN, 99, seq=2, type="dispatched", ts=ts.isoformat(),
                     deadline=(ts + timedelta(days=1)).isoformat()))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def walls(redis_server) -> Iterator[tuple[Any, dict[str, Any]]]:
    """The app (its state folded from the log) and a kiosk wall of the city and of 鄞州."""
    from dashboard.config import Settings
    from onemap.app import create_app

    settings = Settings(redis_url=redis_server.url, prefix="snapshot", cookie_secure=False)
    app = create_app(settings)
    for step in _steps():
        app.bus.publish(decode_trusted(line(step)))
    app.hub.bridge.rebuild()
    clients = {}
    for scope in (CITY, YINZHOU):
        http = app.server.test_client()
        _kiosk, token = app.access.store.add_kiosk(scope, f"wall-{scope}")
        assert http.get(f"/wall?kiosk={token}").status_code in (200, 302)
        clients[scope] = http
    yield app, clients


def _hello(walls: tuple[Any, dict[str, Any]], wall: str, **ask: Any) -> dict[str, Any]:
    app, clients = walls
    socket = app.socketio.test_client(app.server, flask_test_client=clients[wall])
    try:
        reply = socket.emit("hello", ask, callback=True)
    finally:
        socket.disconnect()
    assert reply["ok"] and reply["mode"] == "snapshot", reply
    return reply


def _reported(incident: str) -> str:
    return (NOW - INCIDENTS[incident][1]).isoformat()


def test_wall_snapshot_markers_carry_category_report_time_and_deadline(walls):
    markers = {m["id"]: m for m in _hello(walls, CITY)["incidents"]}
    assert set(markers) == {"S-OPEN", "S-LATE", "S-FAR-OPEN", TRIMMED}  # open ones only
    late = markers["S-LATE"]
    assert late["cat"] == "sc01" and late["overdue"] is True and late["status"] == "open"
    assert late["reported"] == _reported("S-LATE")  # as its report step's ts says it
    assert late["deadline"] == (NOW - timedelta(hours=4)).isoformat()
    fresh = markers["S-OPEN"]
    assert fresh["overdue"] is False
    assert datetime.fromisoformat(fresh["deadline"]) == NOW - timedelta(hours=2) + timedelta(days=1)
    # known from a later step only: its report time is not known, and not made up
    assert markers[TRIMMED]["reported"] is None
    assert markers[TRIMMED]["deadline"] is not None


def test_wall_snapshot_with_a_window_carries_the_closed_incidents_reported_in_it(walls):
    reply = _hello(walls, CITY, window="24h")
    closed = {row[0]: row for row in reply["closed"]}
    assert set(closed) == {"S-SHUT", "S-FAR-SHUT"}  # S-OLD was reported 30 hours ago
    assert "S-OLD" in walls[0].hub.live.state.incidents  # in memory all the same
    ident, lon, lat, cat, reported = closed["S-SHUT"]
    assert (cat, reported) == ("sc01", _reported("S-SHUT"))
    assert isinstance(lon, float) and isinstance(lat, float)
    # markers stay open-only
    assert {m["id"] for m in reply["incidents"]} == {"S-OPEN", "S-LATE", "S-FAR-OPEN", TRIMMED}
    assert set(r[0] for r in _hello(walls, CITY, window="1h")["closed"]) == set()
    assert set(r[0] for r in _hello(walls, CITY, window="4h")["closed"]) == closed.keys()


def test_wall_snapshot_gives_a_county_wall_no_other_countys_closed_incidents(walls):
    reply = _hello(walls, YINZHOU, window="24h")
    assert [row[0] for row in reply["closed"]] == ["S-SHUT"]
    assert {m["id"] for m in reply["incidents"]} == {"S-OPEN", "S-LATE", TRIMMED}
    # nor when it asks for the city or the other county: refused as every scoped hello is
    app, clients = walls
    socket = app.socketio.test_client(app.server, flask_test_client=clients[YINZHOU])
    try:
        for scope in (CITY, YUYAO, FAR_TOWN):
            refused = socket.emit("hello", {"scope": scope, "window": "24h"}, callback=True)
            assert refused == {"ok": False, "error": "scope not allowed"}
    finally:
        socket.disconnect()


@pytest.mark.parametrize("window", [None, "open", "25h", "0h", "48h", "week", "-3h"])
def test_wall_snapshot_without_a_window_of_at_most_24_hours_has_no_closed_incidents(walls, window):
    reply = _hello(walls, CITY, **({} if window is None else {"window": window}))
    assert "closed" not in reply


def test_wall_snapshot_for_a_tablet_has_neither_markers_nor_closed_incidents(walls):
    reply = _hello(walls, CITY, window="24h", lite=True)
    assert reply["incidents"] == [] and "closed" not in reply


def test_density_window_starts_at_china_midnight_or_n_hours_back():
    now = datetime(2026, 12, 5, 17, 30, tzinfo=UTC)  # 01:30 on the 6th in Ningbo
    assert window_start("today", now) == datetime(2026, 12, 6, tzinfo=CHINA_TZ)
    assert window_start("1h", now) == now - timedelta(hours=1)
    assert window_start("24h", now) == now - timedelta(hours=24)
    for other in (None, "", "open", "25h", "0h", "1.5h", "24"):
        assert window_start(other, now) is None
