"""Putting a registered wall into replay (复盘) and back to live, over real sockets: who may, which
walls, what moment and how fast (docs/wall.md, "Replay"; docs/duty.md).

A real server subprocess, real Redis, python-socketio clients signed in through the login form
(people) or a kiosk link (walls). Every request is checked like a cast: the role, the wall inside
the sender's jurisdiction; and a replay's moment must not lie in the future, its speed 0 to 60.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.views.act import REPLAY_MAX_S
from feeds.schema import CHINA_TZ
from tests.live import CITY, dashboard, fetch, sign_in
from tests.test_actions import Client

pytestmark = pytest.mark.parallel

YINZHOU, YUYAO = "330212", "330281"


@pytest.fixture
def server(redis_server, prefix, tmp_path):
    with dashboard(redis_server.url, prefix, tmp_path) as running:
        yield running


def _ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def test_a_duty_officer_puts_a_wall_into_replay_and_back_to_live(server):
    server.add_user("duty-yz", "duty", YINZHOU, cli=False)
    wall_id, link = server.add_kiosk(YINZHOU, "鄞州大屏", cli=False)
    duty = Client(server.url, sign_in(server, "duty-yz"), YINZHOU)
    wall = Client(server.url, fetch(server.url + link).cookie, YINZHOU, home=YINZHOU)
    try:
        at = _ago(30)
        assert duty.act(verb="replay", walls=[wall_id], at=at, speed=60)["ok"]
        (command,) = wall.wait_for("command")
        assert command["verb"] == "replay" and command["walls"] == [wall_id]
        assert datetime.fromisoformat(command["at"]) == datetime.fromisoformat(at)
        assert command["speed"] == 60 and command["seconds"] == REPLAY_MAX_S
        assert command["scope"] == YINZHOU and command["by"] == "duty-yz"
        # A moment without an offset is China time; no speed: paused there.
        china = (datetime.now(CHINA_TZ) - timedelta(hours=1)).replace(tzinfo=None, microsecond=0)
        assert duty.act(verb="replay", walls=[wall_id], at=china.isoformat())["ok"]
        assert duty.act(verb="live", walls=[wall_id])["ok"]
        commands = _wait_commands(wall, 3)
        paused = commands[1]
        assert datetime.fromisoformat(paused["at"]) == china.replace(tzinfo=CHINA_TZ)
        assert paused["speed"] == 0
        assert commands[2]["verb"] == "live" and commands[2]["at"] is None
        # A wall that reloads is live: a replay is never repeated on a hello.
        again = Client(server.url, fetch(server.url + link).cookie, YINZHOU, home=YINZHOU)
        assert again.hello["following"] is None
        again.close()
        assert duty.of("command") == []  # people's pages are no wall
    finally:
        for c in (duty, wall):
            c.close()


def _wait_commands(wall: Client, count: int) -> list[dict]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(wall.of("command")) < count:
        time.sleep(0.05)
    return wall.of("command")


@pytest.mark.parametrize(
    ("who", "wall", "asked", "error"),
    [
        ("leader-city", "city", {"verb": "replay", "speed": 1}, "not allowed for your role"),
        ("leader-city", "city", {"verb": "live"}, "not allowed for your role"),
        ("duty-yz", "city", {"verb": "replay", "speed": 1}, "wall not allowed"),
        ("duty-yz", "yuyao", {"verb": "live"}, "wall not allowed"),
        ("duty-yz", "none", {"verb": "replay"}, "choose a wall"),
        ("duty-yz", "yinzhou", {"verb": "replay", "speed": 61}, "speed must be 0 to 60"),
        ("duty-yz", "yinzhou", {"verb": "replay", "speed": -1}, "speed must be 0 to 60"),
        ("duty-yz", "yinzhou", {"verb": "replay", "at": None}, "choose a time"),
        ("duty-yz", "yinzhou", {"verb": "replay", "at": "yesterday"}, "not a time"),
        ("duty-yz", "yinzhou", {"verb": "replay", "at": "future"}, "time in the future"),
    ],
)
def test_a_replay_is_refused_for_the_wrong_role_wall_speed_or_time(
    refusing, who, wall, asked, error
):
    server, walls = refusing
    sender = Client(server.url, sign_in(server, who), CITY if who == "leader-city" else YINZHOU)
    try:
        request = {"at": _ago(10), **asked, "walls": [walls[wall]] if wall in walls else []}
        if request["at"] == "future":
            request["at"] = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        reply = sender.act(**request)
        assert reply == {"ok": False, "error": error}
    finally:
        sender.close()


@pytest.fixture(scope="module")
def refusing(redis_server, tmp_path_factory):
    """One server for every refusal (none changes anything): its officers and walls."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    with dashboard(redis_server.url, prefix, tmp_path_factory.mktemp("refusing")) as server:
        server.add_user("duty-yz", "duty", YINZHOU, cli=False)
        server.add_user("leader-city", "leader", CITY, cli=False)
        walls = {
            "city": server.add_kiosk(CITY, "市大屏", cli=False)[0],
            "yinzhou": server.add_kiosk(YINZHOU, "鄞州大屏", cli=False)[0],
            "yuyao": server.add_kiosk(YUYAO, "余姚大屏", cli=False)[0],
        }
        yield server, walls


def test_the_replay_wall_picker_lists_the_walls_a_duty_officer_may_drive(server):
    server.add_user("duty-yz", "duty", YINZHOU, cli=False)
    server.add_user("leader-yz", "leader", YINZHOU, cli=False)
    server.add_kiosk(CITY, "市大屏", cli=False)
    yinzhou, _link = server.add_kiosk(YINZHOU, "鄞州大屏", cli=False)
    server.add_kiosk(YUYAO, "余姚大屏", cli=False)
    duty = Client(server.url, sign_in(server, "duty-yz"), YINZHOU)
    leader = Client(server.url, sign_in(server, "leader-yz"), YINZHOU)
    try:
        reply = duty.client.call("walls", {"verb": "replay"}, timeout=10)
        assert [w["id"] for w in reply["walls"]] == [yinzhou]
        refused = leader.client.call("walls", {"verb": "replay"}, timeout=10)
        assert refused == {"ok": False, "error": "not allowed for your role"}
    finally:
        for c in (duty, leader):
            c.close()
