"""Replay (复盘) on a real wall in headless Chromium, against a real server and Redis: /wall?at=
marked 回放 with the replayed time, figures of that moment, played at ×60, and back to live; a
registered wall put into replay by a duty officer's command and back (docs/wall.md, "Replay").

A moment of the replay is a time of the log (its stream ids), so the test writes its past into
the log before the server starts: three reports 20 minutes ago, four 10 minutes ago, with those
stream ids. 15 minutes ago the wall had seen three; live it has seen seven.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import socketio

from feeds.bus import EVENTS, Bus
from feeds.schema import CHINA_TZ, decode_trusted, encode
from tests.factories import event_dict, line
from tests.live import CITY, PASSWORD, dashboard, sign_in, sign_in_page, sign_in_wall

# beside the slow ones: the page's own clock paces the replay, so load slows it, never breaks it
pytestmark = [pytest.mark.browser, pytest.mark.parallel]
SHOTS = os.environ.get("ONEMAP_SHOTS", "")  # a folder: the pictures for docs/ are taken there
FIRST, SECOND = 3, 4  # reports 35 and 25 minutes ago: a replay at ×60 has half a minute to play
TIME_OF = "() => (document.querySelector('.replay-time') || {}).textContent"
REPORTED = "() => document.querySelector('.kpi[data-kpi=reported] .kpi-value').textContent"


def _past(bus: Bus, geo, minutes_ago: float, count: int, tag: str) -> datetime:
    """``count`` reports written into the log as if received ``minutes_ago``: their stream ids
    and their times are that moment's."""
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    ms = int(at.timestamp() * 1000)
    for n in range(count):
        ts = (at + timedelta(milliseconds=n)).astimezone(CHINA_TZ)
        event = event_dict(
            geo,
            40 + n + count * 7,
            id=f"{tag}-{n}",
            ts=ts.isoformat(),
            deadline=(ts + timedelta(days=1)).isoformat(),
            title=f"回放测试 {tag} {n}",
        )
        bus.client.xadd(
            bus.keys[EVENTS], {"m": encode(decode_trusted(line(event)))}, id=f"{ms}-{n}"
        )
    return at


@pytest.fixture
def past(bus, geo):
    """The log's past, written before the server starts (it folds the log on its start)."""
    first = _past(bus, geo, 35, FIRST, "early")
    second = _past(bus, geo, 25, SECOND, "late")
    return first, second


@pytest.fixture
def server(redis_server, prefix, tmp_path, past):
    with dashboard(redis_server.url, prefix, tmp_path) as running:
        yield running


CLEAR_OF_THE_LEGEND_AND_FITS = """() => {
  const box = (s) => document.querySelector(s).getBoundingClientRect();
  const badge = box('.replay-badge'), legend = box('.wall-legend'), bar = box('.replay-bar');
  const apart = badge.left >= legend.right || badge.top >= legend.bottom;
  const parts = [...document.querySelectorAll('.replay-bar *')];
  return apart && parts.every((n) => n.getBoundingClientRect().right <= bar.right + 1);
}"""


def _clock(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).strftime("%H:%M:%S")


def _reported(page, value: int) -> None:
    page.wait_for_function(f"() => ({REPORTED})() === '{value:,}'", timeout=15_000)


def _publish_live(bus: Bus, geo, title: str) -> None:
    bus.publish(
        decode_trusted(line(event_dict(geo, 77, id=f"L-{uuid.uuid4().hex[:8]}", title=title)))
    )


def _fps(page, seconds: float = 3.0) -> float:
    """Frames the page painted per second (requestAnimationFrame), over ``seconds``."""
    return page.evaluate(
        """(ms) => new Promise((done) => {
          let frames = 0; const start = performance.now();
          const step = (t) => { frames += 1; if (t - start < ms) requestAnimationFrame(step);
                                else done(frames * 1000 / (t - start)); };
          requestAnimationFrame(step);
        })""",
        seconds * 1000,
    )


def test_wall_at_a_past_moment_shows_it_marked_replay_plays_and_returns_to_live(
    page, server, bus, geo, past
):
    first, second = past
    sign_in_wall(page, server)
    page.goto(f"{server.url}/wall")
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)
    _reported(page, FIRST + SECOND)
    moment = (first + timedelta(minutes=5)).replace(microsecond=0)
    local = moment.astimezone(CHINA_TZ).strftime("%Y-%m-%dT%H:%M:%S")  # China time, no offset
    page.goto(f"{server.url}/wall?at={local}")
    page.wait_for_selector("#wall-root[data-replay='paused'] .replay-badge", timeout=30_000)
    assert page.locator(".replay-word").inner_text() == "回放"
    page.wait_for_function(f"() => ({TIME_OF})() === '{_clock(moment)}'")
    _reported(page, FIRST)  # the figures of that moment, not today's
    assert page.locator("#wall-health-text").inner_text() == "回放 · 非实时"
    assert page.locator(".wall-clock").inner_text() == _clock(moment)
    assert page.locator(".ticker-item").count() == FIRST
    size = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('.replay-time')).fontSize)"
    )
    assert size >= 48  # readable from 3 m at 1080p
    assert page.locator(".replay-bar").is_visible()
    assert page.evaluate(CLEAR_OF_THE_LEGEND_AND_FITS)
    assert page.locator(".area-label").count() == len(geo.counties)  # the map is drawn

    page.click(".replay-speed[data-speed='60']")
    fps = _fps(page, 3.0)
    print(f"\nwall frames/s while replaying at ×60: {fps:.1f}")
    assert page.evaluate(TIME_OF) > _clock(moment + timedelta(minutes=2))
    # past the second batch's moment, its reports are on the wall, figures and ticker alike
    _reported(page, FIRST + SECOND)
    page.locator(".ticker-item", has_text="回放测试 late").first.wait_for(timeout=15_000)
    # and the charts with them: the panels follow the figures (at most 3 s behind)
    page.locator(".wall-left", has_text=f"综合执法 {FIRST + SECOND}").wait_for(timeout=15_000)
    page.click(".replay-play")  # pause
    page.wait_for_selector("#wall-root[data-replay='paused']")
    page.wait_for_function(  # the flow chart of the same panels: charts are drawn 5 s apart
        "(n) => document.querySelector('.wall-left').innerText.includes('办结层级流向\\n' + n)",
        arg=FIRST + SECOND,
        timeout=20_000,
    )
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/wall-replay-1920x1080.png")

    page.click(".replay-live")
    page.wait_for_function(
        "() => !document.querySelector('#wall-root').hasAttribute('data-replay')"
    )
    assert page.locator(".replay-badge").count() == 0
    assert "at=" not in page.url
    # the wall's own health again (its newest data is minutes old here: 数据延迟, said as such)
    page.wait_for_function(
        "() => !document.getElementById('wall-health-text').textContent.includes('回放')"
    )
    title = f"回到实时之后 {uuid.uuid4().hex[:6]}"
    _publish_live(bus, geo, title)
    page.locator(".ticker-item", has_text=title).wait_for(timeout=15_000)
    _reported(page, FIRST + SECOND + 1)
    stats = page.evaluate("window.onemap.replayStats")
    assert stats["seeks"] >= 1 and stats["advances"] >= 3
    assert page.js_errors == []


def test_a_duty_officer_puts_a_kiosk_wall_into_replay_and_back_to_live(
    page, server, bus, geo, past
):
    first, _second = past
    wall_id, link = server.add_kiosk(CITY, "市指挥中心大屏", cli=False)
    page.goto(server.url + link)
    page.wait_for_url(re.compile(r"/wall$"))
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)
    server.store().add_user("duty-city", "duty", CITY, PASSWORD, "张值班")
    duty = socketio.Client(reconnection=False)
    duty.connect(
        server.url, headers={"Cookie": sign_in(server, "duty-city")}, transports=["websocket"]
    )
    try:
        moment = (first + timedelta(minutes=2)).replace(microsecond=0)
        reply = duty.call(
            "act", {"verb": "replay", "walls": [wall_id], "at": moment.isoformat(), "speed": 0}
        )
        assert reply["ok"], reply
        page.wait_for_selector("#wall-root[data-replay='paused'] .replay-badge", timeout=15_000)
        page.wait_for_function(f"() => ({TIME_OF})() === '{_clock(moment)}'")
        _reported(page, FIRST)
        assert page.locator(".replay-bar").count() == 0  # a wall has no mouse: no controls
        assert "张值班" in page.locator(".replay-note").inner_text()
        # live steps of its room are not shown while it replays
        title = f"回放中到达 {uuid.uuid4().hex[:6]}"
        _publish_live(bus, geo, title)
        time.sleep(2)
        assert page.locator(".ticker-item", has_text=title).count() == 0
        _reported(page, FIRST)

        assert duty.call("act", {"verb": "live", "walls": [wall_id]})["ok"]
        page.wait_for_function(
            "() => !document.querySelector('#wall-root').hasAttribute('data-replay')",
            timeout=15_000,
        )
        page.locator(".ticker-item", has_text=title).wait_for(timeout=15_000)  # the fresh snapshot
        _reported(page, FIRST + SECOND + 1)
        later = f"实时新事件 {uuid.uuid4().hex[:6]}"
        _publish_live(bus, geo, later)
        page.locator(".ticker-item", has_text=later).wait_for(timeout=15_000)
        assert page.js_errors == []
    finally:
        duty.disconnect()


def test_the_desks_replay_dialog_drives_a_kiosk_wall_and_previews_in_a_new_tab(
    page, browser, server, past
):
    from tests.conftest import sized_page

    first, _second = past
    tag = uuid.uuid4().hex[:4]
    wall_id, link = server.add_kiosk(CITY, f"市指挥中心大屏{tag}", cli=False)
    server.add_kiosk("330212", f"鄞州区大屏{tag}", cli=False)
    page.goto(server.url + link)
    page.wait_for_url(re.compile(r"/wall$"))
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)
    server.store().add_user("duty-desk", "duty", CITY, PASSWORD, "张值班")
    with sized_page(browser, 1600, 900) as desk:
        sign_in_page(desk, server.url, "duty-desk")
        desk.goto(f"{server.url}/duty")
        desk.click(".duty-header-tools .replay-open", timeout=30_000)
        desk.wait_for_selector(".replay-dialog .replay-dlg-wall")
        names = desk.locator(".replay-dlg-wall-name").all_inner_texts()
        assert f"市指挥中心大屏{tag}" in names and f"鄞州区大屏{tag}" in names
        moment = (first + timedelta(minutes=3)).replace(microsecond=0)
        desk.fill(".replay-dlg-time", moment.astimezone(CHINA_TZ).strftime("%Y-%m-%dT%H:%M:%S"))
        desk.click(".replay-dlg-speed[data-speed='10']")
        desk.check(f".replay-dlg-wall input[value='{wall_id}']")
        desk.click(".replay-dlg-start")
        page.wait_for_selector("#wall-root[data-replay='playing'] .replay-badge", timeout=15_000)
        assert "×10" in page.locator(".replay-state").inner_text()
        desk.click(".replay-dlg-pause")
        page.wait_for_selector("#wall-root[data-replay='paused']", timeout=15_000)
        shown = page.evaluate(TIME_OF)
        # paused where ×10 had got to: 12 s of wall time are 2 minutes (5: a loaded machine)
        assert _clock(moment) <= shown <= _clock(moment + timedelta(minutes=5))
        desk.locator(".replay-dlg-status", has_text="已暂停").wait_for()
        if SHOTS:
            desk.screenshot(path=f"{SHOTS}/duty-replay.png")
        with desk.expect_popup() as opened:
            desk.click(".replay-dlg-preview")
        preview = opened.value
        assert "at=" in preview.url and "speed=10" in preview.url and f"area={CITY}" in preview.url
        preview.close()
        desk.click(".replay-dlg-live")
        page.wait_for_function(
            "() => !document.querySelector('#wall-root').hasAttribute('data-replay')",
            timeout=15_000,
        )
        desk.locator(".replay-dlg-status", has_text="已回到实时").wait_for()
        assert desk.js_errors == []
    assert page.js_errors == []


def test_the_tablets_replay_button_opens_a_touch_sized_dialog_without_walls_for_a_leader(
    browser, server
):
    from tests.conftest import sized_page

    server.store().add_user("leader-tab", "leader", CITY, PASSWORD, "李市长")
    with sized_page(browser, 768, 1024) as tablet:
        sign_in_page(tablet, server.url, "leader-tab")
        tablet.goto(f"{server.url}/tablet")
        tablet.click(".tablet-tools .replay-open", timeout=30_000)
        tablet.wait_for_selector(".replay-overlay.is-tablet .replay-dialog")
        assert tablet.locator(".replay-dlg-walls").count() == 0  # walls: duty officers' only
        heights = tablet.locator(".replay-dialog button, .replay-dlg-time").evaluate_all(
            "(nodes) => nodes.map((n) => n.getBoundingClientRect().height)"
        )
        assert heights and min(heights) >= 44
        if SHOTS:
            tablet.screenshot(path=f"{SHOTS}/tablet-replay.png")
        tablet.keyboard.press("Escape")
        assert tablet.locator(".replay-overlay").count() == 0
        assert tablet.js_errors == []
