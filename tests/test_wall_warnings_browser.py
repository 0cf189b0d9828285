"""Early warnings reach the wall: a real spike, found by the server's detectors from a burst of
reports in one town, is pinned at the top of the wall's ticker with its text, above the red
incidents, and a warning's text is shown as text."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from feeds.bus import Bus
from feeds.catalogue import CATEGORIES
from feeds.geo import Geography
from feeds.schema import CHINA_TZ, WarningMessage, decode_trusted
from tests.factories import event_dict, line
from tests.live import PASSWORD, dashboard
from tests.test_wall_browser import _open_wall

pytestmark = pytest.mark.browser

TOWN = "330212001"
CATEGORY = "zz03"  # 安全生产
BURST = 8  # the detector needs 5 reports in the hour; the rest of the city has none


def spike_burst(geo: Geography, tag: str) -> list[dict]:
    """Reports of one category from all over one town in the last minute: with nothing
    like it elsewhere in the city, the spike detector (dashboard/analytics/spike.py) fires."""
    grids = sorted(g for g in geo.grids if geo.town_of(g) == TOWN)
    now = datetime.now(UTC).astimezone(CHINA_TZ)
    burst = []
    for n in range(BURST):
        grid = grids[n * 3 % len(grids)]
        # seconds apart and just before now: behind a newer report of the category anywhere
        # in the city they would be late ones, which the detector does not test again
        ts = now - timedelta(seconds=5 * (BURST - n))
        burst.append(
            event_dict(
                geo,
                0,
                id=f"SP-{tag}-{n}",
                category=CATEGORY,
                title=f"企业仓库疑似燃气泄漏 {n}",
                ts=ts.isoformat(),
                deadline=(ts + timedelta(hours=8)).isoformat(),
                area={
                    "county": geo.county_of(grid),
                    "town": TOWN,
                    "village": geo.village_of(grid),
                    "grid": grid,
                },
                lon=geo.grids[grid].lon,
                lat=geo.grids[grid].lat,
            )
        )
    return burst


def publish(bus: Bus, messages: list[dict]) -> None:
    bus.publish_many([decode_trusted(line(m)) for m in messages])


def published_spike(bus: Bus) -> WarningMessage:
    spikes = [w for _, w in bus.warnings() if w.type == "spike" and w.area == TOWN]
    assert len(spikes) == 1, spikes
    return spikes[0]


def test_wall_pins_an_early_warning_the_server_found(
    page, redis_server, redis_client, prefix, tmp_path, geo
):
    bus = Bus(redis_client, prefix=prefix)
    tag = uuid.uuid4().hex[:6]
    with dashboard(redis_server.url, prefix, tmp_path) as server:
        _open_wall(page, server)
        # a red (overdue) incident pinned first: the warning must go above it
        now = datetime.now(UTC).astimezone(CHINA_TZ)
        overdue = event_dict(
            geo,
            7,
            id=f"OD-{tag}",
            title="化工厂废水直排河道",
            ts=(now - timedelta(hours=30)).isoformat(),
            deadline=(now - timedelta(hours=6)).isoformat(),
        )
        dispatched = {
            **overdue,
            "seq": 2,
            "type": "dispatched",
            "ts": (now - timedelta(minutes=5)).isoformat(),
        }
        publish(bus, [overdue, dispatched])
        page.locator(".pinned .pinned-item", has_text="化工厂废水直排河道").wait_for(timeout=10_000)

        publish(bus, spike_burst(geo, tag))
        item = page.locator(".pinned .warning-item")
        item.wait_for(timeout=15_000)
        spike = published_spike(bus)

        assert page.locator(".pinned .warning-item").count() == 1
        assert item.locator(".warning-title").inner_text() == spike.title
        assert spike.title.startswith(geo.label(TOWN))
        assert CATEGORIES[CATEGORY].name in spike.title
        assert item.get_attribute("data-warning") == spike.id
        assert "预警" in item.locator(".warning-badge").inner_text()
        assert "数量突增" in item.locator(".warning-badge").inner_text()
        assert item.locator(".warning-place").count() == 0  # the title names the place
        # pinned: at the very top of the pinned box, above the overdue incident, on screen
        order = page.evaluate(
            "[...document.querySelectorAll('#wall-pinned > li')]"
            ".map(li => li.dataset.warning ? 'warning' : li.dataset.incident)"
        )
        assert order[0] == "warning" and order[1:] == [f"OD-{tag}"]
        assert item.is_visible()
        box = item.bounding_box()
        ticker = page.locator("#wall-ticker").bounding_box()
        assert box is not None and ticker is not None and box["y"] < ticker["y"]
        # large enough to read across the room: a title of at least 20 px at 1920 × 1080
        size = page.evaluate(
            "parseFloat(getComputedStyle(document.querySelector('.warning-title')).fontSize)"
        )
        assert size >= 20

        # still pinned while the ordinary feed keeps scrolling underneath
        publish(
            bus,
            [event_dict(geo, 20 + i, id=f"N-{tag}-{i}", title=f"路灯不亮 {i}") for i in range(5)],
        )
        page.locator(".ticker-item", has_text="路灯不亮 4").wait_for(timeout=10_000)
        assert page.locator("#wall-pinned > li").first.get_attribute("data-warning") == spike.id

        # a wall reloaded (a restart, a power cut) gets it back from its hello's snapshot
        page.reload()
        again = page.locator(f".pinned .warning-item[data-warning='{spike.id}']")
        again.wait_for(timeout=15_000)
        assert again.locator(".warning-title").inner_text() == spike.title
        assert page.js_errors == []


def test_wall_shows_warning_text_as_text_and_unpins_it_in_time(
    page, redis_server, prefix, tmp_path
):
    with dashboard(redis_server.url, prefix, tmp_path) as server:
        _open_wall(page, server)
        hostile = '<img src=x onerror="window.__pwned=1">预警<script>window.__pwned=2</script>'
        page.evaluate(
            """(title) => {
              const ticker = window.onemap.wall.ticker;
              ticker.warningPinMs = 1500;
              window.onemap.wall.onWarnings([{kind: "warning", id: "w-test", type: "cluster",
                severity: "urgent", ts: new Date().toISOString(), area: "330212001",
                place: "<b>鄞州</b>", title: title, related: []}]);
              window.onemap.wall.onWarnings([{kind: "warning", id: "w-test", type: "cluster",
                ts: new Date().toISOString(), area: "330212001", place: "x", title: "again"}]);
            }""",
            hostile,
        )
        item = page.locator(".pinned .warning-item")
        assert item.count() == 1  # the same warning twice is pinned once
        assert item.locator(".warning-title").inner_text() == hostile
        assert item.locator(".warning-place").inner_text() == "<b>鄞州</b>"
        assert "warning-urgent" in (item.get_attribute("class") or "")
        assert page.locator(".pinned :is(img, script, b)").count() == 0
        assert page.evaluate("window.__pwned === undefined")
        item.wait_for(state="detached", timeout=5_000)
        assert page.locator(".pinned").get_attribute("data-more") == ""
        assert page.js_errors == []


def test_tablet_still_takes_warnings_from_the_shared_connection(
    page, redis_server, redis_client, prefix, tmp_path, geo
):
    """The ``warnings`` listener moved from the tablet's script into the shared Live
    connection (assets/onemap-10-core.js), which hands them to any view with onWarnings."""
    bus = Bus(redis_client, prefix=prefix)
    with dashboard(redis_server.url, prefix, tmp_path, ONEMAP_COOKIE_SECURE="0") as server:
        server.add_user("boss", "leader", "330200")
        page.goto(f"{server.url}/login?next=/tablet")
        page.fill("input[name=username]", "boss")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#tablet-root[data-live='1']", timeout=30_000)
        page.evaluate(
            """() => {
              const tablet = window.onemap.tablet, take = tablet.onWarnings;
              window.__pushed = [];
              tablet.onWarnings = function (warnings) {
                window.__pushed.push(...warnings.map((w) => w.id));
                return take.call(this, warnings);
              };
            }"""
        )
        publish(bus, spike_burst(geo, uuid.uuid4().hex[:6]))
        page.wait_for_function("() => window.__pushed.length > 0", timeout=15_000)
        spike = published_spike(bus)
        assert page.evaluate("window.__pushed") == [spike.id]  # once, not twice
        risk = page.locator(".risk-warning", has_text=spike.title)
        risk.wait_for(state="attached", timeout=10_000)
        assert page.js_errors == []
