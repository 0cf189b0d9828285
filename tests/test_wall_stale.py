"""A wall that is not live says so across the room: real server, real Redis, real Chromium.

Stale (no new data for ONEMAP_STALE_AFTER_S): the page dims and an amber banner gives the
data's age and time; down (no socket, or the server gone): a red banner. Both clear by
themselves once the wall is live again. The state is read from the DOM (the root's
data-health, the banner's visibility and text); timings are generous deadlines only.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from feeds.bus import Bus
from feeds.schema import CHINA_TZ, decode_trusted
from tests.factories import line, position_dict
from tests.live import dashboard
from tests.test_wall_browser import _open_wall

pytestmark = pytest.mark.browser

HEALTH = "document.getElementById('wall-root').dataset.health"
BANNER = ".wall-outage"
# what must not move when the banner comes: the KPI row, the map, the side columns
BOXES = """() => ['.wall-kpis', '.wall-map-panel', '.wall-left', '.wall-right'].map((s) => {
  const r = document.querySelector(s).getBoundingClientRect();
  return [r.x, r.y, r.width, r.height];
})"""


@pytest.fixture
def bus_for(redis_client, prefix):
    return Bus(redis_client, prefix=prefix)


def _wait_health(page, state: str, timeout: float) -> None:
    page.wait_for_function(f"() => {HEALTH} === '{state}'", timeout=timeout * 1000)


def _fresh_position(bus: Bus, geo, index: int) -> datetime:
    """Publish a worker's position stamped now; returns its time (China time)."""
    ts = datetime.now(UTC).astimezone(CHINA_TZ)
    bus.publish(decode_trusted(line(position_dict(geo, index, ts=ts.isoformat()))))
    return ts


def _live(page, bus: Bus, geo, index: int) -> datetime:
    """Fresh data until the wall says it is live (it may have been stale from the start)."""
    deadline = time.monotonic() + 15
    while True:
        ts = _fresh_position(bus, geo, index)
        try:
            _wait_health(page, "ok", timeout=2.5)
            return ts
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise


def _banner(page) -> tuple[bool, str, str]:
    banner = page.locator(BANNER)
    return banner.is_visible(), banner.get_attribute("data-state") or "", banner.inner_text()


def _wait_dimmed(page, dimmed: bool, timeout: float = 5) -> None:
    """The map and panels under their veil (or uncovered once the fade is over)."""
    page.wait_for_function(
        "(want) => ['.wall-body', '.wall-kpis'].every((s) => (getComputedStyle("
        "document.querySelector(s), '::after').opacity === '1') === want)",
        arg=dimmed,
        timeout=timeout * 1000,
    )


def test_wall_stale_data_dims_the_wall_with_an_amber_banner_and_its_age(
    page, redis_server, prefix, tmp_path, geo, bus_for
):
    with dashboard(redis_server.url, prefix, tmp_path, ONEMAP_STALE_AFTER_S="3") as server:
        _open_wall(page, server)
        _live(page, bus_for, geo, 1)
        assert not page.locator(BANNER).is_visible()
        _wait_dimmed(page, False)
        live_boxes = page.evaluate(BOXES)

        last = _fresh_position(bus_for, geo, 2)  # the newest data the banner must date
        _wait_health(page, "stale", timeout=20)
        visible, tone, text = _banner(page)
        assert visible and tone == "stale"
        assert "数据延迟" in text
        assert "最新数据" in text and "秒前" in text
        assert last.strftime("%H:%M:%S") in text, text
        _wait_dimmed(page, True)
        assert page.evaluate(BOXES) == live_boxes, "the banner must not move the page"
        assert page.locator("#wall-health").get_attribute("data-state") == "stale"

        _fresh_position(bus_for, geo, 3)
        _wait_health(page, "ok", timeout=5)
        assert not page.locator(BANNER).is_visible()
        _wait_dimmed(page, False)
        assert page.js_errors == []


def test_wall_shows_a_red_banner_when_its_socket_drops_and_clears_after_reconnect(
    page, redis_server, prefix, tmp_path, geo, bus_for
):
    with dashboard(redis_server.url, prefix, tmp_path, ONEMAP_STALE_AFTER_S="3") as server:
        _open_wall(page, server)
        _live(page, bus_for, geo, 4)

        page.evaluate("window.onemap.wall.socket.disconnect()")
        _wait_health(page, "down", timeout=10)
        visible, tone, text = _banner(page)
        assert visible and tone == "down"
        assert "连接中断" in text and "最新数据" in text
        _wait_dimmed(page, True)

        page.evaluate("window.onemap.wall.socket.connect()")
        _live(page, bus_for, geo, 5)
        assert not page.locator(BANNER).is_visible()
        assert page.js_errors == []


def test_wall_shows_a_red_banner_when_its_server_stops_and_clears_when_it_is_back(
    page, redis_server, prefix, tmp_path, geo, bus_for
):
    with dashboard(redis_server.url, prefix, tmp_path, ONEMAP_STALE_AFTER_S="3") as server:
        _open_wall(page, server)
        _live(page, bus_for, geo, 6)
        port = int(server.url.rsplit(":", 1)[1])
    # the server process is stopped (terminated and waited for) on leaving the block
    _wait_health(page, "down", timeout=10)
    visible, tone, text = _banner(page)
    assert visible and tone == "down"
    assert "连接中断" in text
    assert page.locator("#wall-health").get_attribute("data-state") == "down"

    with dashboard(redis_server.url, prefix, tmp_path, port=port, ONEMAP_STALE_AFTER_S="3"):
        _live(page, bus_for, geo, 7)  # Socket.IO reconnects by itself (at most 5 s apart)
        assert not page.locator(BANNER).is_visible()


def test_wall_says_its_server_is_starting_with_how_far_not_that_the_connection_is_lost(
    page, redis_server, prefix, tmp_path, geo, bus_for
):
    """A server folding a long log answers a hello with "starting" and its progress (the
    server's side: tests/test_bridge.py). The page is given that answer as the socket would
    give it, on a wall whose server is up."""
    with dashboard(redis_server.url, prefix, tmp_path, ONEMAP_STALE_AFTER_S="3") as server:
        _open_wall(page, server)
        _live(page, bus_for, geo, 7)
        page.evaluate(
            """() => {
              const live = window.onemap.wall.live;
              live.welcome(live.scope, {ok: false, error: "starting", retry: 30,
                                        progress: {folded: 1200000, percent: 61.7, seconds: 15}});
              live.lastBeat = Date.now();
              window.onemap.wall.tick();
            }"""
        )
        visible, tone, text = _banner(page)
        assert visible and tone == "loading"
        assert "服务启动中" in text and "正在加载历史数据 61%" in text
        assert "连接中断" not in text and "数据源中断" not in text
        assert page.evaluate(HEALTH) == "loading"
        assert page.locator("#wall-health").get_attribute("data-state") == "loading"
        # the server's next beat (bridge "ok") and fresh data clear it
        _live(page, bus_for, geo, 8)
        assert not page.locator(BANNER).is_visible()
        assert page.js_errors == []
