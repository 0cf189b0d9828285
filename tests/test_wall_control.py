"""Who drives a wall (issue 19): a cast or a follow names walls the sender may drive, and a
follow ends by itself when its tablet has gone or its time is up, on every replica.

Real `onemap serve` subprocesses on a real Redis, python-socketio clients signed in through the
login form (people) or a kiosk link (walls). No clock is asserted: each test waits, with a
generous timeout, for an outcome, and checks what came in what order.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from feeds.bus import Bus
from feeds.schema import decode_trusted
from tests.factories import event_dict, line
from tests.live import CITY, PASSWORD, Dashboard, dashboard, fetch, sign_in
from tests.test_actions import Client

# Its own servers and Redis, no promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

YINZHOU, YUYAO = "330212", "330281"
WAIT_S = 30  # generous: the suite shares two cores


def _until(found: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not found():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for {what}")
        time.sleep(0.05)


def _person(server: Dashboard, name: str, role: str, scope: str, display: str) -> None:
    server.store().add_user(name, role, scope, PASSWORD, display)


def _wall(server: Dashboard, scope: str, name: str) -> tuple[str, Client]:
    kiosk, link = server.add_kiosk(scope, name, cli=False)
    return kiosk, Client(server.url, fetch(server.url + link).cookie, scope, home=scope)


def _audited(server: Dashboard, **match: str) -> list[dict[str, str]]:
    trail = server.store().audit_tail(1000)
    return [e for e in reversed(trail) if all(e.get(k) == v for k, v in match.items())]


@pytest.fixture
def server(redis_server, prefix, tmp_path):
    with dashboard(redis_server.url, prefix, tmp_path) as running:
        yield running


def test_a_county_officer_cannot_cast_to_the_city_wall_but_to_a_wall_of_their_county(
    server, bus: Bus, geo
):
    index = next(i for i in range(5000) if event_dict(geo, i)["area"]["county"] == YINZHOU)
    incident = event_dict(geo, index, id=f"wc-{index}", title="井盖缺失")
    bus.publish(decode_trusted(line(incident)))
    _until(lambda: server.health()["incidents"] >= 1, "the incident")
    _person(server, "duty-yz", "duty", YINZHOU, "鄞州值班员小王")
    _person(server, "duty-city", "duty", CITY, "市值班长老张")
    city_id, city_wall = _wall(server, CITY, "市指挥中心大屏")
    yz_id, yz_wall = _wall(server, YINZHOU, "鄞州区指挥中心大屏")
    yy_id, yy_wall = _wall(server, YUYAO, "余姚市指挥中心大屏")
    county = Client(server.url, sign_in(server, "duty-yz"), YINZHOU)
    city = Client(server.url, sign_in(server, "duty-city"), CITY)
    cast = {"verb": "cast", "incident": incident["id"]}
    try:
        # The pickers offer only what the sender may drive, by display name.
        offered = county.client.call("walls", {"verb": "cast", "incident": incident["id"]})
        assert [(w["id"], w["name"]) for w in offered["walls"]] == [(yz_id, "鄞州区指挥中心大屏")]
        offered = city.client.call("walls", {"verb": "cast", "incident": incident["id"]})
        assert [w["id"] for w in offered["walls"]] == [city_id, yz_id]  # not 余姚's: elsewhere

        assert county.act(**cast, walls=[city_id]) == {"ok": False, "error": "wall not allowed"}
        assert county.act(**cast, walls=[yz_id, city_id])["ok"] is False  # all or nothing
        assert county.act(**cast, walls=[yy_id])["ok"] is False
        assert county.act(**cast)["error"] == "choose a wall"
        assert county.act(**cast, walls=[yz_id])["ok"]
        (shown,) = yz_wall.wait_for("command")
        assert shown["verb"] == "cast" and shown["card"]["id"] == incident["id"]
        assert shown["byName"] == "鄞州值班员小王" and shown["walls"] == [yz_id]
        assert city.act(**cast, walls=[city_id])["ok"]
        # The city wall's first command is the city officer's: the refused ones never reached it.
        first = city_wall.wait_for("command")[0]
        assert (first["by"], first["byName"]) == ("duty-city", "市值班长老张")
        assert [c["by"] for c in yz_wall.of("command")] == ["duty-yz"]
        assert yy_wall.of("command") == []

        casts = [a for _sid, a in bus.actions() if a.verb == "cast"]
        assert [(a.actor, a.walls) for a in casts] == [
            ("duty-yz", (yz_id,)),
            ("duty-city", (city_id,)),
        ]
        audit = _audited(server, event="action", verb="cast")
        assert [(e["user"], e["outcome"], e.get("walls"), e.get("error")) for e in audit] == [
            ("duty-yz", "refused", city_id, "wall not allowed"),
            ("duty-yz", "refused", f"{yz_id},{city_id}", "wall not allowed"),
            ("duty-yz", "refused", yy_id, "wall not allowed"),
            ("duty-yz", "refused", None, "choose a wall"),
            ("duty-yz", "granted", yz_id, None),
            ("duty-city", "granted", city_id, None),
        ]
    finally:
        for c in (county, city, city_wall, yz_wall, yy_wall):
            c.close()


@pytest.fixture
def replicas(redis_server, prefix, tmp_path):
    """Two replicas on one Redis and prefix, releasing a follow 2 s after its tablet went."""
    short = {"ONEMAP_FOLLOW_GRACE_S": "2"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        dashboard(redis_server.url, prefix, tmp_path / "a", **short) as a,
        dashboard(redis_server.url, prefix, tmp_path / "b", **short) as b,
    ):
        yield a, b


def test_a_follow_ends_when_its_tablet_disconnects_and_its_wall_on_another_replica_hears_it(
    replicas, bus: Bus, geo
):
    a, b = replicas
    _person(a, "boss-city", "leader", CITY, "李市长")
    _person(a, "boss-yz", "leader", YINZHOU, "王区长")
    city_id, city_wall = _wall(b, CITY, "市指挥中心大屏")
    yz_id, yz_wall = _wall(b, YINZHOU, "鄞州区指挥中心大屏")
    stays = Client(b.url, sign_in(b, "boss-city"), CITY)  # a tablet that stays connected
    leaves = Client(a.url, sign_in(a, "boss-yz"), YINZHOU)  # on the other replica; it goes
    town = geo.children(YINZHOU)[0].code
    try:
        assert leaves.act(verb="follow", walls=[city_id], area=town) == {
            "ok": False,
            "error": "wall not allowed",  # a county leader never drives the city wall
        }
        assert stays.act(verb="follow", walls=[city_id], area=YUYAO)["ok"]
        assert leaves.act(verb="follow", walls=[yz_id], area=town)["ok"]
        (followed,) = yz_wall.wait_for("command")
        assert followed["verb"] == "follow" and followed["byName"] == "王区长"
        assert city_wall.wait_for("command")[0]["byName"] == "李市长"

        leaves.close()  # the tablet goes away: released after the grace, by whichever replica
        _until(lambda: len(yz_wall.of("command")) >= 2, "the release")
        release = yz_wall.of("command")[1]
        assert release["verb"] == "release" and release["ends"] == followed["id"]
        assert "平板已断开" in release["text"]
        # The connected tablet's older follow is still on: it picks it up with a new area
        # (refused if it had ended), and its wall got no release before that.
        assert stays.act(verb="follow", walls=[city_id], area=YINZHOU, resume=True)["ok"]
        _until(lambda: len(city_wall.of("command")) >= 2, "the follow's new area")
        assert [c["verb"] for c in city_wall.of("command")] == ["follow", "follow"]

        ends = [x for _sid, x in bus.actions() if x.verb == "release"]
        assert [(x.actor, x.ends, x.target, x.walls) for x in ends] == [
            ("onemap", followed["id"], "boss-yz", (yz_id,))
        ]
        (expired,) = _audited(b, event="action", outcome="expired")
        assert (expired["reason"], expired["walls"], expired["leader"]) == (
            "tablet_gone",
            yz_id,
            "boss-yz",
        )
        assert _audited(b, event="action", verb="follow", outcome="refused")[0]["walls"] == city_id
    finally:
        for c in (stays, leaves, city_wall, yz_wall):
            c.close()


def test_a_follow_ends_at_its_maximum_time_and_its_tablet_is_told(redis_server, prefix, tmp_path):
    with dashboard(redis_server.url, prefix, tmp_path, ONEMAP_FOLLOW_MAX_S="3") as server:
        _person(server, "boss", "leader", CITY, "李市长")
        wall_id, wall = _wall(server, CITY, "市指挥中心大屏")
        tablet = Client(server.url, sign_in(server, "boss"), CITY)
        try:
            assert tablet.act(verb="follow", walls=[wall_id], area=YINZHOU)["ok"]
            _until(lambda: len(wall.of("command")) >= 2, "the end of the follow")
            follow, release = wall.of("command")
            assert release["verb"] == "release" and release["ends"] == follow["id"]
            assert "已满" in release["text"]
            told = tablet.wait_for("command")
            assert [(c["verb"], c["walls"]) for c in told] == [("release", [wall_id])]
            # The tablet cannot pick the ended follow up again; only a new, confirmed one.
            again = tablet.act(verb="follow", walls=[wall_id], area=YINZHOU, resume=True)
            assert again == {"ok": False, "error": "follow ended"}
            (expired,) = _audited(server, event="action", outcome="expired")
            assert (expired["reason"], expired["follow"]) == ("max_time", follow["id"])
        finally:
            tablet.close()
            wall.close()
