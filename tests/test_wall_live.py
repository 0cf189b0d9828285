"""The wall's live behaviour in a real Chromium: workers move, health reacts, the ticker paces
itself under bursts and pins red items, the tour drills on its own."""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from feeds.bus import Bus
from feeds.schema import CHINA_TZ, decode_trusted
from tests.factories import a_grid, event_dict, line, position_dict
from tests.live import dashboard
from tests.test_wall_browser import _open_wall

pytestmark = pytest.mark.browser


@pytest.fixture
def bus_for(redis_client, prefix):
    return Bus(redis_client, prefix=prefix)


def _wait(page, script: str, timeout: float = 10.0, arg=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(script, arg)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {script}")


def _worker_at(page, worker: str):
    found = page.evaluate("(w) => window.onemap.wall.map.workerAt(w)", worker)
    return found[:2] if found else None


def test_wall_moves_a_worker_when_its_position_changes(page, redis_server, prefix, tmp_path,
                                                       geo, bus_for):
    with dashboard(redis_server.url, prefix, tmp_path) as server:
        _open_wall(page, server)
        worker = f"W{uuid.uuid4().hex[:8]}"
        grid = a_grid(geo, 3)
        first = position_dict(geo, 3, worker=worker)
        bus_for.publish(decode_trusted(line(first)))
        _wait(page, "(w) => !!window.onemap.wall.map.workerAt(w)", arg=worker)
        assert _worker_at(page, worker) == pytest.approx([first["lon"], first["lat"]], abs=1e-5)
        lon, lat = geo.random_point(grid, random.Random(99))
        later = (datetime.now(UTC) + timedelta(seconds=1)).astimezone(CHINA_TZ).isoformat()
        bus_for.publish(decode_trusted(line({**first, "lon": lon, "lat": lat, "ts": later,
                                             "status": "handling"})))
        _wait(page, "([w, lon]) => Math.abs(window.onemap.wall.map.workerAt(w)[0] - lon) < 1e-5",
              arg=[worker, lon])
        assert _worker_at(page, worker) == pytest.approx([lon, lat], abs=1e-5)
        assert page.evaluate("(w) => window.onemap.wall.map.workerAt(w)[2]", worker) == 1
        nodes = page.evaluate("document.querySelectorAll('.leaflet-pane *').length")
        assert nodes < 400, "workers must be drawn on a canvas, not as DOM nodes"


def test_wall_health_turns_amber_when_the_feed_stops_and_red_when_the_server_goes(
    page, redis_server, prefix, tmp_path, geo, bus_for
):
    with dashboard(redis_server.url, prefix, tmp_path, ONEMAP_STALE_AFTER_S="5") as server:
        _open_wall(page, server)
        bus_for.publish(decode_trusted(line(position_dict(geo, 4))))
        health = page.locator("#wall-health")
        _wait(page, "document.getElementById('wall-health').dataset.state === 'ok'")
        _wait(page, "document.getElementById('wall-health').dataset.state === 'stale'",
              timeout=20)
        assert "数据延迟" in health.inner_text()
        bus_for.publish(decode_trusted(line(position_dict(geo, 5))))
        _wait(page, "document.getElementById('wall-health').dataset.state === 'ok'")
    _wait(page, "document.getElementById('wall-health').dataset.state === 'down'", timeout=15)
    assert "连接中断" in page.locator("#wall-health").inner_text()


def test_wall_ticker_paces_a_burst_and_keeps_the_dom_bounded(page, redis_server, prefix,
                                                              tmp_path, geo, bus_for):
    with dashboard(redis_server.url, prefix, tmp_path) as server:
        _open_wall(page, server)
        burst = [
            decode_trusted(line(event_dict(geo, i, id=f"Q-{i}", title=f"突发事件 {i}")))
            for i in range(400)
        ]
        bus_for.publish_many(burst)
        _wait(page, "window.onemap.stats.steps >= 400")
        shown_at_once = page.locator(".ticker-item").count()
        assert shown_at_once < 20, "a burst must scroll in at a readable pace, not all at once"
        time.sleep(4)
        later = page.locator(".ticker-item").count()
        assert later > shown_at_once, "the queue must keep draining"
        assert later <= 40
        fold = page.locator(".ticker-fold")
        fold.wait_for(timeout=10_000)
        assert "条事件已汇总" in fold.inner_text()
        assert page.js_errors == []


def test_wall_pins_an_overdue_incident_until_it_closes(page, redis_server, prefix, tmp_path,
                                                       geo, bus_for):
    with dashboard(redis_server.url, prefix, tmp_path) as server:
        _open_wall(page, server)
        now = datetime.now(UTC).astimezone(CHINA_TZ)
        reported = event_dict(geo, 7, id="OD-1", title="化工厂废水直排河道",
                              ts=(now - timedelta(hours=30)).isoformat(),
                              deadline=(now - timedelta(hours=6)).isoformat())
        bus_for.publish(decode_trusted(line(reported)))
        bus_for.publish(decode_trusted(line({**reported, "seq": 2, "type": "dispatched",
                                             "ts": (now - timedelta(minutes=5)).isoformat()})))
        pinned = page.locator(".pinned .pinned-item", has_text="化工厂废水直排河道")
        pinned.wait_for(timeout=10_000)
        assert "超期" in pinned.inner_text()
        bus_for.publish(decode_trusted(line({**reported, "seq": 3, "type": "closed",
                                             "ts": now.isoformat()})))
        pinned.wait_for(state="detached", timeout=10_000)


def test_wall_tour_drills_into_counties_on_its_own(page, redis_server, prefix, tmp_path, geo):
    with dashboard(redis_server.url, prefix, tmp_path, ONEMAP_TOUR_DWELL_S="2") as server:
        _open_wall(page, server, "?tour=1")
        _wait(page, "document.getElementById('wall-root').dataset.scope.length === 6 && "
                    "document.getElementById('wall-root').dataset.scope !== '330200'", timeout=10)
        county = page.locator("#wall-root").get_attribute("data-scope")
        _wait(page, "(n) => document.querySelectorAll('.area-label .area-name').length === n",
              arg=len(geo.children(county)))
        labels = page.locator(".area-label .area-name").all_text_contents()  # some may be hidden
        assert sorted(labels) == sorted(a.short for a in geo.children(county))
        assert page.locator("#wall-scope").inner_text() == geo.counties[county].name


def test_wall_fills_the_ten_counties_with_their_index_colours(page, redis_server, prefix,
                                                             tmp_path, geo, bus_for):
    bus_for.publish_many(
        [decode_trusted(line(event_dict(geo, i, id=f"IX-{i}"))) for i in range(30)]
    )
    with dashboard(redis_server.url, prefix, tmp_path) as server:
        _open_wall(page, server)
        _wait(page, "Object.keys(window.onemap.wall.map.index).length === 10")
        colours = page.evaluate(
            "() => Object.entries(window.onemap.wall.map.areas).map(([code, layer]) => "
            "[code, window.onemap.wall.map.index[code].colour, layer.options.fillColor])"
        )
        fills = {"green": "#1f9d5c", "yellow": "#c9a227", "red": "#c23b3b"}
        assert sorted(code for code, _, _ in colours) == sorted(geo.counties)
        for code, colour, fill in colours:
            assert fill == fills[colour], code
        ranking = page.locator(".ranking-row .ranking-name").all_inner_texts()
        assert sorted(ranking) == sorted(a.short for a in geo.counties.values())
        scores = page.locator(".area-label .area-score").all_inner_texts()
        assert len([s for s in scores if s.strip().isdigit()]) == 10
