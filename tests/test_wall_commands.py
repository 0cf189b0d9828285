"""A real /wall obeying operators: follow a leader's tablet, then let go; show a cast incident
(headless Chromium)."""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest
import socketio

from feeds.schema import CHINA_TZ, decode_trusted
from tests.factories import event_dict, line
from tests.live import CITY, PASSWORD, dashboard, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.parallel]
YINZHOU = "330212"


@pytest.fixture
def server(redis_server, prefix, tmp_path):
    with dashboard(redis_server.url, prefix, tmp_path) as running:
        yield running


def _open_wall(page, server, name: str = "市指挥中心大屏") -> str:
    """A registered city wall in the browser, through its kiosk link: its id."""
    wall_id, link = server.add_kiosk(CITY, name, cli=False)
    page.goto(server.url + link)
    page.wait_for_url(re.compile(r"/wall$"))
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)
    return wall_id


def test_wall_follows_a_leaders_tablet_and_is_released(page, server, geo):
    wall_id = _open_wall(page, server)
    assert page.locator("#wall-scope").inner_text() == geo.city.name
    server.store().add_user("leader-city", "leader", CITY, PASSWORD, "李市长")
    leader = socketio.Client(reconnection=False)
    leader.connect(
        server.url, headers={"Cookie": sign_in(server, "leader-city")}, transports=["websocket"]
    )
    try:
        leader.call("hello", {"scope": CITY}, timeout=30)
        follow = {"verb": "follow", "walls": [wall_id], "area": YINZHOU}
        assert leader.call("act", follow)["ok"]
        page.wait_for_function(
            "name => document.getElementById('wall-scope').textContent === name",
            arg=geo.counties[YINZHOU].name,
            timeout=15_000,
        )
        assert page.get_attribute("#wall-root", "data-command") == "follow"
        badge = page.locator(".wall-follow").inner_text()
        assert "李市长" in badge and "leader-city" not in badge  # the display name
        towns = geo.children(YINZHOU)
        page.wait_for_function(  # Leaflet fades the city's labels out over 200 ms
            "n => document.querySelectorAll('.area-label').length === n", arg=len(towns)
        )
        labels = page.locator(".area-label .area-name").all_text_contents()  # some may be hidden
        assert sorted(labels) == sorted(a.short for a in towns)

        assert leader.call("act", {"verb": "release", "walls": [wall_id]})["ok"]
        page.wait_for_function(
            "name => document.getElementById('wall-scope').textContent === name",
            arg=geo.city.name,
            timeout=15_000,
        )
        assert page.get_attribute("#wall-root", "data-command") is None
        assert page.locator(".wall-follow").is_hidden()
        assert "已回到本屏视图" in page.locator(".wall-notice").inner_text()  # said briefly
        assert page.js_errors == []
    finally:
        leader.disconnect()


def test_wall_shows_a_cast_with_who_cast_it_and_the_deadlines_date(page, server, bus, geo):
    wall_id = _open_wall(page, server)
    incident = event_dict(geo, 3, id="wall-cast-1", title="窨井盖缺失 需尽快处置")
    bus.publish(decode_trusted(line(incident)))
    server.store().add_user("duty-city", "duty", CITY, PASSWORD, "张值班")
    duty = socketio.Client(reconnection=False)
    duty.connect(
        server.url, headers={"Cookie": sign_in(server, "duty-city")}, transports=["websocket"]
    )
    try:
        duty.call("hello", {"scope": CITY}, timeout=30)
        cast = {"verb": "cast", "incident": incident["id"], "walls": [wall_id]}
        deadline = time.monotonic() + 30
        while not (reply := duty.call("act", cast))["ok"] and time.monotonic() < deadline:
            time.sleep(0.2)  # until the server has applied the incident
        assert reply["ok"], reply
        card = page.locator(f".wall-cast[data-incident='{incident['id']}']")
        card.wait_for(timeout=15_000)
        assert page.locator(".wall-cast .cast-by").inner_text() == "投屏 · 张值班"
        due = datetime.fromisoformat(incident["deadline"]).astimezone(CHINA_TZ)
        facts = page.locator(".wall-cast .cast-facts dd").all_inner_texts()
        assert facts[-1] == f"{due.month}月{due.day}日 {due:%H:%M}"  # 时限, with its date
        assert page.get_attribute("#wall-root", "data-command") == "cast"
        assert page.js_errors == []
    finally:
        duty.disconnect()
