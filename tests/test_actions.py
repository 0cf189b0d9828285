"""Operators' actions over real sockets: who may do what, the audited stream, and who hears it.

A real server subprocess, real Redis, python-socketio clients signed in through the login form
(people) or a kiosk link (walls). Every action must land in the actions stream with who, role,
when and what; refused ones must not, and must still be audited.
"""

from __future__ import annotations

import threading
import time

import pytest
import socketio

from feeds.bus import Bus
from feeds.schema import decode_trusted
from tests.factories import event_dict, line
from tests.live import CITY, dashboard, fetch, sign_in

# Its own servers and Redis, no promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

YINZHOU, YUYAO = "330212", "330281"


class Client:
    def __init__(self, url: str, cookie: str, scope: str, home: str | None = None) -> None:
        self.events: list[tuple[str, dict]] = []
        self.got = threading.Event()
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", self._any)
        self.client.connect(url, headers={"Cookie": cookie}, transports=["websocket"])
        self.hello = self.client.call("hello", {"scope": scope, "home": home}, timeout=30)

    def _any(self, event: str, data: dict) -> None:
        self.events.append((event, data))
        self.got.set()

    def act(self, **data: object) -> dict:
        return self.client.call("act", data, timeout=10)

    def of(self, event: str) -> list[dict]:
        return [data for name, data in self.events if name == event]

    def wait_for(self, event: str, timeout: float = 10) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.of(event):
            time.sleep(0.05)
        return self.of(event)

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture
def server(redis_server, prefix, tmp_path):
    with dashboard(redis_server.url, prefix, tmp_path) as running:
        yield running


def _incident(bus: Bus, geo, county: str, tag: str) -> dict:
    index = next(i for i in range(5000) if event_dict(geo, i)["area"]["county"] == county)
    event = event_dict(geo, index, id=f"{tag}-{index}", title="井盖缺失 张三 13812345678")
    bus.publish(decode_trusted(line(event)))
    return event


def _wait_applied(server, count: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and server.health()["incidents"] < count:
        time.sleep(0.1)


def test_actions_are_checked_recorded_pushed_and_shown_in_the_detail(server, bus, geo):
    mine = _incident(bus, geo, YINZHOU, "act")
    foreign = _incident(bus, geo, YUYAO, "act")
    _wait_applied(server, 2)
    server.add_user("duty-yz", "duty", YINZHOU, cli=False)
    server.add_user("leader-city", "leader", CITY, cli=False)
    server.add_user("duty-yy", "duty", YUYAO, cli=False)
    _kiosk, link = server.add_kiosk(YINZHOU, "鄞州大屏", cli=False)
    duty = Client(server.url, sign_in(server, "duty-yz"), YINZHOU)
    leader = Client(server.url, sign_in(server, "leader-city"), CITY)
    other = Client(server.url, sign_in(server, "duty-yy"), YUYAO)
    wall = Client(server.url, fetch(server.url + link).cookie, YINZHOU, home=YINZHOU)
    try:
        assert duty.act(verb="acknowledge", incident=mine["id"])["ok"]
        assert duty.act(verb="note", incident=mine["id"], text="已联系城管 <b>x</b>")["ok"]
        assert leader.act(verb="supervise", incident=mine["id"])["ok"]
        assert leader.act(verb="instruct", incident=mine["id"], text="请今日办结")["ok"]

        refused = [
            wall.act(verb="note", incident=mine["id"], text="x"),  # walls never act
            leader.act(verb="acknowledge", incident=mine["id"]),  # not a leader's job
            duty.act(verb="instruct", incident=mine["id"], text="x"),  # 批示 is a leader's
            duty.act(verb="note", incident=foreign["id"], text="x"),  # outside the scope
            other.act(verb="note", incident=mine["id"], text="x"),
            duty.act(verb="note", incident=mine["id"], text="   "),  # empty
            leader.act(verb="instruct", incident=mine["id"], text="长" * 501),
            duty.act(verb="delete", incident=mine["id"]),
            duty.act(verb="note", incident="no-such-incident", text="x"),
        ]
        assert [r["ok"] for r in refused] == [False] * len(refused)
        assert refused[3] == refused[8]  # an incident elsewhere looks like no incident at all

        recorded = bus.actions()
        assert [(a.verb, a.actor, a.role) for _sid, a in recorded] == [
            ("acknowledge", "duty-yz", "duty"),
            ("note", "duty-yz", "duty"),
            ("supervise", "leader-city", "leader"),
            ("instruct", "leader-city", "leader"),
        ]
        assert all(a.incident == mine["id"] and a.area == mine["area"]["town"] for _, a in recorded)
        audit = server.store().audit_tail(50)
        outcomes = [e["outcome"] for e in audit if e.get("event") == "action"]
        assert outcomes.count("granted") == 4 and outcomes.count("refused") == len(refused)

        # Pages in scope hear every action; a page of another county hears none.
        assert len([a for d in duty.wait_for("actions") for a in d["actions"]]) >= 1
        deadline = time.monotonic() + 10
        while (
            time.monotonic() < deadline and sum(len(d["actions"]) for d in duty.of("actions")) < 4
        ):
            time.sleep(0.05)
        assert sum(len(d["actions"]) for d in duty.of("actions")) == 4
        assert other.of("actions") == []
        pushed = [a for d in wall.wait_for("actions") for a in d["actions"]]
        assert all("13812345678" not in a["text"] for a in pushed)

        # The duty table answers inside the asker's jurisdiction only, whatever it asks for.
        asked = {"filter": {"area": YINZHOU}, "start": 0, "end": 100, "points": True}
        theirs = other.client.call("duty_rows", asked, timeout=10)
        assert [r["id"] for r in theirs["rows"]] == [foreign["id"]]
        assert [p[0] for p in theirs["points"]] == [foreign["id"]]
        assert wall.client.call("duty_rows", asked, timeout=10) == {
            "ok": False,
            "error": "not allowed",
        }
        ours = duty.client.call("duty_rows", {"filter": {"q": "13812345678"}}, timeout=10)
        assert [r["id"] for r in ours["rows"]] == [mine["id"]]  # duty sees, and finds, the number
        assert "13812345678" in ours["rows"][0]["title"]
        masked = leader.client.call("duty_rows", {"filter": {"area": YINZHOU}}, timeout=10)
        assert masked["rows"] and all("13812345678" not in r["title"] for r in masked["rows"])
        probe = leader.client.call("duty_rows", {"filter": {"q": "13812345678"}}, timeout=10)
        assert probe["total"] == 0  # what a role may not read, it cannot search for either

        detail = duty.client.call("incident", {"id": mine["id"]}, timeout=10)["incident"]
        assert [a["verb"] for a in detail["actions"]] == [
            "acknowledge",
            "note",
            "supervise",
            "instruct",
        ]
        assert (
            detail["actions"][1]["text"] == "已联系城管 <b>x</b>"
        )  # kept as text, for textContent
        assert detail["acknowledged"] and detail["supervised"]
        assert [s["type"] for s in detail["steps"]] == ["reported"]
        assert detail["path"] == [1] and detail["remaining"] > 0
    finally:
        for c in (duty, leader, other, wall):
            c.close()


def test_a_cast_reaches_the_walls_it_names_only(server, bus, geo):
    mine = _incident(bus, geo, YINZHOU, "cast")
    _wait_applied(server, 1)
    server.add_user("duty-city", "duty", CITY, cli=False)
    city_id, city_link = server.add_kiosk(CITY, "市大屏", cli=False)
    yz_id, yz_link = server.add_kiosk(YINZHOU, "鄞州大屏", cli=False)
    duty = Client(server.url, sign_in(server, "duty-city"), CITY)
    city_wall = Client(server.url, fetch(server.url + city_link).cookie, CITY, home=CITY)
    # The city wall's link on a second screen, touring 余姚 right now: the same wall.
    touring = Client(server.url, fetch(server.url + city_link).cookie, YUYAO, home=CITY)
    yz_wall = Client(server.url, fetch(server.url + yz_link).cookie, YINZHOU, home=YINZHOU)
    try:
        assert duty.act(verb="cast", incident=mine["id"], walls=[city_id], seconds=5)["ok"]
        for wall in (city_wall, touring):
            (command,) = wall.wait_for("command")
            assert command["verb"] == "cast" and command["seconds"] == 10  # clamped to the minimum
            assert command["card"]["id"] == mine["id"] and command["by"] == "duty-city"
            assert "13812345678" not in command["card"]["title"]
        # The county's wall can show the incident too, but was not named: its first command is
        # the next cast, which names it.
        assert duty.act(verb="cast", incident=mine["id"], walls=[yz_id], seconds=30)["ok"]
        assert [c["seconds"] for c in yz_wall.wait_for("command")] == [30]
    finally:
        for c in (duty, city_wall, touring, yz_wall):
            c.close()


def test_follow_release_and_send_view(server, bus, geo):
    server.add_user("leader-yz", "leader", YINZHOU, cli=False)
    server.add_user("duty-yz2", "duty", YINZHOU, cli=False)
    wall_id, link = server.add_kiosk(YINZHOU, "鄞州大屏", cli=False)
    city_id, _city_link = server.add_kiosk(CITY, "市大屏", cli=False)
    town = geo.children(YINZHOU)[2].code
    leader = Client(server.url, sign_in(server, "leader-yz"), YINZHOU)
    duty = Client(server.url, sign_in(server, "duty-yz2"), YINZHOU)
    wall = Client(server.url, fetch(server.url + link).cookie, YINZHOU, home=YINZHOU)
    try:
        assert leader.act(verb="follow", walls=[city_id], area=town)["ok"] is False  # not its wall
        assert leader.act(verb="follow", walls=[wall_id], area=YUYAO)["ok"] is False
        assert leader.act(verb="follow", walls=[wall_id], area=town)["ok"]
        (command,) = wall.wait_for("command")
        assert command["verb"] == "follow" and command["area"] == town
        # A wall that (re)connects while followed is told at once.
        late = Client(server.url, fetch(server.url + link).cookie, YINZHOU, home=YINZHOU)
        assert late.hello["following"]["area"] == town
        late.close()
        assert leader.act(verb="release", walls=[wall_id])["ok"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(wall.of("command")) < 2:
            time.sleep(0.05)
        assert wall.of("command")[1]["verb"] == "release"

        assert duty.act(verb="send_view", target="duty-yz2", area=town)["ok"] is False
        assert duty.act(verb="send_view", target="leader-yz", area=town)["ok"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            c["verb"] == "send_view" for c in leader.of("command")
        ):
            time.sleep(0.05)
        sent = [c for c in leader.of("command") if c["verb"] == "send_view"]
        assert sent and sent[0]["area"] == town and sent[0]["by"] == "duty-yz2"
        # People's pages are no wall: the follow is not theirs; the release of their own
        # follow is (their tablet stops following).
        assert {c["verb"] for c in leader.of("command")} == {"send_view", "release"}
        assert duty.of("command") == []
    finally:
        for c in (leader, duty, wall):
            c.close()
