"""A worker's patrol track (轨迹) on the desk, in a real headless Chromium: the officer opens an
incident, asks for a nearby worker's track, and the detail's map draws the worker's kept fixes
of the last hour as one line, which stays through the detail's re-render on a new step."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.cold.tracks import TrackReader
from feeds.bus import Bus
from feeds.schema import CHINA_TZ, decode_trusted
from tests.conftest import sized_page
from tests.factories import event_dict, line, position_dict
from tests.live import dashboard, sign_in_page

pytestmark = [pytest.mark.browser, pytest.mark.parallel]
YINZHOU = "330212"
SHOTS = os.environ.get("ONEMAP_SHOTS", "")
FIXES = 24  # one every 2.5 minutes over the last hour


@pytest.fixture(scope="module")
def desk(redis_server, geo, tmp_path_factory):
    prefix = f"t{uuid.uuid4().hex[:10]}"
    tmp = tmp_path_factory.mktemp("track")
    env = {"ONEMAP_COOKIE_SECURE": "0", "ONEMAP_TRACK_FLUSH_S": "1"}
    with dashboard(redis_server.url, prefix, tmp, **env) as server:
        bus = Bus(redis_server.client(), prefix=prefix)
        index = next(i for i in range(5000) if event_dict(geo, i)["area"]["county"] == YINZHOU)
        incident = event_dict(geo, index, id=f"K{uuid.uuid4().hex[:6]}", title="窨井盖缺失")
        worker = f"W{index:06d}"
        bus.publish(decode_trusted(line(incident)))
        start = datetime.now(UTC) - timedelta(hours=1)
        for n in range(FIXES):  # a zigzag walk north-east through the incident's grid and around it
            fix = position_dict(
                geo, index, worker=worker,
                ts=(start + timedelta(seconds=150 * n)).astimezone(CHINA_TZ).isoformat(),
                lon=incident["lon"] - 0.004 + 0.0004 * n,
                lat=incident["lat"] - 0.003 + 0.00025 * n + 0.0006 * (n % 2),  # a zigzag
            )  # fmt: skip
            bus.publish(decode_trusted(line(fix)))
        reader = TrackReader(tmp / "data" / "archive")
        deadline = time.monotonic() + 30
        while len(reader.track(worker, 0, int(time.time() * 1000) + 60_000)) < FIXES:
            assert time.monotonic() < deadline, "the fixes were not kept"
            time.sleep(0.2)
        server.add_user("duty-yz", "duty", YINZHOU, cli=False)
        server.bus, server.incident, server.worker = bus, incident, worker
        yield server


def test_the_desk_draws_a_workers_patrol_track_on_the_incidents_map(browser, desk):
    incident_id = desk.incident["id"]
    with sized_page(browser) as page:
        sign_in_page(page, desk.url, "duty-yz")
        page.goto(f"{desk.url}/duty?open={incident_id}")
        page.wait_for_selector(f"#duty-detail[data-incident='{incident_id}']", timeout=30_000)
        ask = page.locator(f".detail-near .track-ask[data-worker='{desk.worker}']")
        ask.wait_for(timeout=15_000)
        ask.click()
        tip = page.locator(".leaflet-tooltip.track-tip")
        tip.wait_for(timeout=15_000)
        assert f"{desk.worker}" in tip.inner_text() and f"{FIXES} 个定位" in tip.inner_text()
        vertices = page.evaluate(_LINE_VERTICES)
        assert vertices == FIXES
        # a new step re-renders the detail (and its map): the track is drawn again
        step = {
            **desk.incident,
            "seq": 2,
            "type": "dispatched",
            "ts": datetime.now(UTC).isoformat(),
        }
        desk.bus.publish(decode_trusted(line(step)))
        page.wait_for_selector(".detail-timeline li[data-seq='2']", timeout=15_000)
        page.locator(".leaflet-tooltip.track-tip").wait_for(timeout=15_000)
        assert page.evaluate(_LINE_VERTICES) == FIXES
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/duty-track.png")
        page.locator(f".detail-near .track-ask[data-worker='{desk.worker}']").click()
        page.wait_for_selector(".leaflet-tooltip.track-tip", state="detached", timeout=10_000)


# The drawn line's vertices: Leaflet's SVG path of the detail map's polyline, "M x y L x y ...".
_LINE_VERTICES = """() => {
  const paths = [...document.querySelectorAll('.detail-minimap path.leaflet-interactive')]
    .map((p) => p.getAttribute('d') || '').filter((d) => !d.includes('a'));  // circles use arcs
  return paths.length ? paths[0].split(/[ML]/).filter((s) => s.trim()).length : 0;
}"""
