"""A real /wall obeying operators: follow a leader's tablet, then let go (headless Chromium)."""

from __future__ import annotations

import pytest
import socketio

from tests.live import CITY, dashboard, sign_in, sign_in_wall

pytestmark = pytest.mark.browser
YINZHOU = "330212"


@pytest.fixture
def server(redis_server, prefix, tmp_path):
    with dashboard(redis_server.url, prefix, tmp_path) as running:
        yield running


def test_wall_follows_a_leaders_tablet_and_is_released(page, server, geo):
    sign_in_wall(page, server)
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)
    assert page.locator("#wall-scope").inner_text() == geo.city.name
    server.add_user("leader-city", "leader", CITY, cli=False)
    leader = socketio.Client(reconnection=False)
    leader.connect(
        server.url, headers={"Cookie": sign_in(server, "leader-city")}, transports=["websocket"]
    )
    try:
        leader.call("hello", {"scope": CITY}, timeout=30)
        assert leader.call("act", {"verb": "follow", "target": CITY, "area": YINZHOU})["ok"]
        page.wait_for_function(
            "name => document.getElementById('wall-scope').textContent === name",
            arg=geo.counties[YINZHOU].name,
            timeout=15_000,
        )
        assert page.get_attribute("#wall-root", "data-command") == "follow"
        assert "leader-city" in page.locator(".wall-follow").inner_text()
        towns = geo.children(YINZHOU)
        page.wait_for_function(  # Leaflet fades the city's labels out over 200 ms
            "n => document.querySelectorAll('.area-label').length === n", arg=len(towns)
        )
        labels = page.locator(".area-label .area-name").all_inner_texts()
        assert sorted(labels) == sorted(a.short for a in towns)

        assert leader.call("act", {"verb": "release", "target": CITY})["ok"]
        page.wait_for_function(
            "name => document.getElementById('wall-scope').textContent === name",
            arg=geo.city.name,
            timeout=15_000,
        )
        assert page.get_attribute("#wall-root", "data-command") is None
        assert page.locator(".wall-follow").is_hidden()
        assert page.js_errors == []
    finally:
        leader.disconnect()
