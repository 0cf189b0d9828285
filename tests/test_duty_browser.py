"""/duty in a real headless Chromium against a real server and Redis: find, drill, act, cast."""

from __future__ import annotations

import csv
import io
import re
import uuid

import pytest

from feeds.schema import decode_trusted
from tests.factories import event_dict, line
from tests.live import PASSWORD, dashboard, fetch, sign_in, sign_in_wall

pytestmark = [pytest.mark.browser, pytest.mark.parallel]
YINZHOU = "330212"
COUNT = 60


@pytest.fixture(scope="module")
def desk(redis_server, geo, tmp_path_factory):
    """One server for the module, with incidents in several counties and categories."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    tmp = tmp_path_factory.mktemp("duty")
    with dashboard(redis_server.url, prefix, tmp, ONEMAP_COOKIE_SECURE="0") as server:
        tag = uuid.uuid4().hex[:6]
        events = [
            event_dict(
                geo,
                i,
                id=f"D{tag}-{i:03d}",
                category=("zf02", "sc01", "bm03")[i % 3],
                title=f"测试事件{i:03d}",
                detail="巷口垃圾桶满溢，已影响通行。",
            )
            for i in range(COUNT)
        ]
        events[7]["detail"] = "居民反映凤凰山脚水渠堵塞"  # a word found only in one detail
        events[13]["title"] = (
            '<img src=x onerror="window.__pwned=1">投诉<script>window.__pwned=2</script>'
        )
        events[13]["detail"] = '<b onmouseover="window.__pwned=3">详情</b>'
        events[13]["category"] = "zf02"
        from feeds.bus import Bus

        bus = Bus(redis_server.client(), prefix=prefix)
        bus.publish_many([decode_trusted(line(e)) for e in events])
        server.add_user("duty-city", "duty", "330200", cli=False)
        server.add_user("leader-yz", "leader", YINZHOU, cli=False, password=PASSWORD)
        server.bus = bus
        server.events = events
        yield server


def _sign_in(page, server, name: str = "duty-city") -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/wall"))


def _open(page, server, query: str = "") -> int:
    _sign_in(page, server)
    page.goto(f"{server.url}/duty{query}")
    page.wait_for_selector("#duty-root[data-total]", state="attached", timeout=30_000)
    return _total(page)


def _total(page) -> int:
    return int(page.get_attribute("#duty-root", "data-total") or -1)


def _wait_total(page, expected: int) -> None:
    try:
        page.wait_for_function(
            "n => document.getElementById('duty-root').getAttribute('data-total') === String(n)",
            arg=expected,
            timeout=15_000,
        )
    except Exception:
        state = page.evaluate("JSON.stringify([onemap.duty.filter, onemap.duty.stats])")
        raise AssertionError(f"total {_total(page)} != {expected}; page {state}") from None


def _row_titles(page) -> list[str]:
    page.wait_for_selector(".ag-row .title-cell", timeout=15_000)
    return page.locator(".ag-center-cols-container .ag-row .title-cell").all_inner_texts()


def test_filter_by_county_and_category_narrows_table_and_map(page, desk, geo):
    total = _open(page, desk)
    assert total >= COUNT
    assert int(page.get_attribute("#duty-root", "data-points") or 0) == total
    # Drill on the map: click 鄞州 (the county polygon's centre).
    page.wait_for_function(
        "() => onemap.duty && onemap.duty.map && onemap.duty.map.layers"
        " && onemap.duty.map.layers['330212']",
        timeout=15_000,
    )
    box = page.locator("#duty-map").bounding_box()
    x, y = page.evaluate(
        """() => { const m = onemap.duty.map; const c = m.layers['330212'].getCenter();
                   const p = m.map.latLngToContainerPoint(c); return [p.x, p.y]; }"""
    )
    page.mouse.click(box["x"] + x, box["y"] + y)
    in_county = [e for e in desk.events if e["area"]["county"] == YINZHOU]
    _wait_total(page, len(in_county))
    # Then a category through its dropdown, as a person would.
    page.click("#duty-category")
    page.keyboard.type("市容环境")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    expected = [e for e in in_county if e["category"] == "zf02"]
    assert expected, "the test data has no such incident: it proves nothing"
    _wait_total(page, len(expected))
    assert sorted(_row_titles(page)) == sorted(e["title"] for e in expected)
    page.wait_for_function(
        "n => document.getElementById('duty-root').getAttribute('data-points') === String(n)",
        arg=len(expected),
        timeout=10_000,
    )
    assert "area=330212" in page.url and "cat=zf02" in page.url
    # The URL is the view: opening it again shows the same rows.
    page.goto(page.url)
    page.wait_for_selector("#duty-root[data-total]", state="attached", timeout=30_000)
    assert _total(page) == len(expected)
    assert page.js_errors == []


def test_search_finds_a_word_in_the_detail_and_by_pinyin(page, desk):
    _open(page, desk)
    page.keyboard.press("/")  # keyboard-first: "/" goes to the search box
    assert page.evaluate("document.activeElement.id") == "duty-search"
    page.keyboard.type("凤凰山")
    _wait_total(page, 1)
    assert _row_titles(page) == [desk.events[7]["title"]]
    page.fill("#duty-search", "cssj")  # 测试事件 (ce shi shi jian): pinyin initials
    _wait_total(page, len([e for e in desk.events if e["title"].startswith("测试事件")]))


def test_detail_live_step_actions_and_cast_to_wall(page, browser, desk, geo):
    target = desk.events[10]
    later = [
        dict(target, seq=2, type="dispatched", ts=target["ts"]),
        dict(target, seq=3, type="escalated", level=2, ts=target["ts"]),
    ]
    desk.bus.publish_many([decode_trusted(line(e)) for e in later])
    # An open wall, signed in through its kiosk link.
    wall_context = browser.new_context(viewport={"width": 1920, "height": 1080})
    wall = wall_context.new_page()
    try:
        sign_in_wall(wall, desk)
        wall.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)

        _open(page, desk, f"?q={target['title']}")
        _wait_total(page, 1)
        page.locator(".ag-center-cols-container .ag-row .title-cell").first.click()
        page.wait_for_selector(f"#duty-detail[data-incident='{target['id']}'] .detail-timeline li")
        steps = page.locator("#duty-detail .detail-timeline li")
        assert steps.evaluate_all("els => els.map(e => e.dataset.seq)") == ["1", "2", "3"]
        assert f"open={target['id']}" in page.url
        # A new step arrives live in the open detail.
        desk.bus.publish(decode_trusted(line(dict(target, seq=4, type="escalated", level=3))))
        page.wait_for_selector("#duty-detail .detail-timeline li[data-seq='4']", timeout=10_000)
        # ... and in its row, which keeps the officer's selection.
        page.wait_for_function(
            "id => onemap.duty.api.getRowNode(id).data.level === '镇街'", arg=target["id"]
        )
        assert page.evaluate("onemap.duty.api.getSelectedRows().map(r => r.id)") == [target["id"]]

        before = len(desk.bus.actions(count=1000))
        page.click("#duty-detail button[data-verb='acknowledge']")
        page.wait_for_selector("#duty-detail .mark-ack", timeout=10_000)
        page.click("#duty-detail button[data-verb='supervise']")
        page.wait_for_selector("#duty-detail .detail-cat .mark-supervised", timeout=10_000)
        page.fill("#duty-detail .detail-note", "已通知城管中队 <script>x</script>")
        page.click("#duty-detail button[data-verb='note']")
        page.wait_for_selector("#duty-detail .action-note .action-text", timeout=10_000)
        assert page.locator("#duty-detail .action-note .action-text").inner_text() == (
            "已通知城管中队 <script>x</script>"
        )
        (wall_id,) = [k.id for k in desk.store().list_kiosks() if k.name == "测试大屏"]
        page.click("#duty-detail button[data-verb='cast']")
        page.check(f".cast-walls input[data-wall='{wall_id}']")
        page.click(".cast-walls .cast-next")
        page.click(".cast-walls .cast-confirm")
        card = wall.locator(f".wall-cast[data-incident='{target['id']}']")
        card.wait_for(timeout=10_000)
        assert target["title"][:4] in card.inner_text()

        actions = desk.bus.actions(count=1000)[before:]
        assert [(a.verb, a.actor, a.incident) for _sid, a in actions] == [
            (verb, "duty-city", target["id"])
            for verb in ("acknowledge", "supervise", "note", "cast")
        ]
        page.keyboard.press("Escape")
        page.wait_for_selector("#duty-detail", state="hidden")
        assert page.js_errors == [] and wall.evaluate("window.__pwned === undefined")
    finally:
        wall_context.close()


def test_the_cast_picker_offers_only_walls_the_officer_may_drive_and_asks_first(page, desk):
    """A county officer sees their county's walls by name (not the city's, not a neighbour's),
    picks one, and nothing is cast until they confirm."""
    tag = uuid.uuid4().hex[:4]
    if desk.store().get_user("duty-yz") is None:
        desk.add_user("duty-yz", "duty", YINZHOU, cli=False)
    mine, _ = desk.add_kiosk(YINZHOU, f"鄞州区指挥中心大屏{tag}", cli=False)
    desk.add_kiosk("330200", f"市指挥中心大屏{tag}", cli=False)
    desk.add_kiosk("330281", f"余姚市指挥中心大屏{tag}", cli=False)
    target = next(e for e in desk.events if e["area"]["county"] == YINZHOU)
    _sign_in(page, desk, "duty-yz")
    page.goto(f"{desk.url}/duty?open={target['id']}")
    page.wait_for_selector(f"#duty-detail[data-incident='{target['id']}'] .detail-timeline li")
    casts = len([a for _sid, a in desk.bus.actions(count=10_000) if a.verb == "cast"])
    page.click("#duty-detail button[data-verb='cast']")
    page.wait_for_selector(".cast-walls[data-step='pick'] .cast-wall")
    offered = page.locator(".cast-walls .cast-wall b").all_inner_texts()
    assert [name for name in offered if tag in name] == [f"鄞州区指挥中心大屏{tag}"]
    assert page.is_disabled(".cast-walls .cast-next")  # nothing picked yet
    page.check(f".cast-walls input[data-wall='{mine}']")
    page.click(".cast-walls .cast-next")
    question = page.locator(".cast-walls[data-step='confirm'] .cast-question").inner_text()
    assert f"鄞州区指挥中心大屏{tag}" in question
    page.click(".cast-walls .cast-back")  # second thoughts: back to the list, then on again
    page.click(".cast-walls .cast-next")
    page.click(".cast-walls .cast-confirm")
    page.locator("#duty-detail .detail-status", has_text="已投屏到").wait_for(timeout=10_000)
    cast = [a for _sid, a in desk.bus.actions(count=10_000) if a.verb == "cast"]
    assert len(cast) == casts + 1  # one cast, on the confirmation (none on "投屏…")
    assert (cast[-1].actor, cast[-1].walls, cast[-1].incident) == ("duty-yz", (mine,), target["id"])
    assert page.js_errors == []


def test_keyboard_enter_opens_the_focused_row(page, desk):
    _open(page, desk)
    page.keyboard.press("/")
    page.keyboard.press("ArrowDown")  # from the search box into the table
    page.keyboard.press("Enter")
    page.wait_for_selector("#duty-detail:not([hidden]) .detail-title", timeout=10_000)


def test_kpi_drill_through_lists_the_incidents_behind_a_figure(page, desk):
    _open(page, desk)
    tile = page.locator(".dkpi[data-kpi='open']")
    page.wait_for_function(
        "() => document.querySelector(\".dkpi[data-kpi='open']\").dataset.value", timeout=15_000
    )
    tile.click()
    _wait_total(page, int(tile.get_attribute("data-value") or -1))
    assert "set=open" in page.url
    page.click(".dkpi[data-kpi='disposal_rate']")
    page.wait_for_selector(".duty-explain:not([hidden]) .explain-part", timeout=10_000)
    parts = page.locator(".duty-explain .explain-part").all_inner_texts()
    assert parts[0].startswith("分子") and parts[1].startswith("分母")
    assert "set=due_closed" in page.url  # the numerator: due today and handled
    page.locator(".duty-explain .explain-part").nth(1).click()  # the denominator: what is due
    page.wait_for_function("() => new URLSearchParams(location.search).get('set') === 'due'")


def test_export_csv_holds_the_filtered_rows_and_walls_cannot_open_the_desk(desk):
    cookie = sign_in(desk, "duty-city")
    got = fetch(f"{desk.url}/api/duty/export.csv?area={YINZHOU}", cookie=cookie)
    assert got.status == 200 and got.body.startswith("\ufeff事件编号")
    lines = list(csv.reader(io.StringIO(got.body.lstrip("\ufeff"))))  # details may hold breaks
    assert len(lines) - 1 == len([e for e in desk.events if e["area"]["county"] == YINZHOU])
    xlsx = fetch(f"{desk.url}/api/duty/export.xlsx?cat=zf02", cookie=cookie)
    assert xlsx.status == 200 and xlsx.headers["Content-Type"].startswith("application/vnd")
    wall_cookie = fetch(desk.url + desk.wall_link()).cookie
    assert fetch(f"{desk.url}/api/duty/export.csv", cookie=wall_cookie).status == 403
    assert fetch(f"{desk.url}/duty", cookie=wall_cookie).status == 403


def test_send_to_a_leader_and_see_a_leaders_instruction(page, desk):
    import socketio

    target = next(e for e in desk.events if e["area"]["county"] == YINZHOU)
    _open(page, desk, f"?q={target['title']}&open={target['id']}")
    page.wait_for_selector(f"#duty-detail[data-incident='{target['id']}']")
    page.click("#duty-detail button[data-verb='send_view']")
    page.click("#duty-detail .leader-choice[data-leader='leader-yz']")
    page.wait_for_selector("#duty-detail .detail-status[data-ok='1']")
    ((_sid, sent),) = desk.bus.actions(count=1000)[-1:]
    assert (sent.verb, sent.target, sent.incident) == ("send_view", "leader-yz", target["id"])
    # The leader's 批示, made on the tablet, appears on the desk at once.
    leader = socketio.Client(reconnection=False)
    leader.connect(
        desk.url, headers={"Cookie": sign_in(desk, "leader-yz")}, transports=["websocket"]
    )
    try:
        leader.call("hello", {"scope": YINZHOU}, timeout=30)
        reply = leader.call(
            "act", {"verb": "instruct", "incident": target["id"], "text": "请今日办结"}, timeout=10
        )
        assert reply["ok"]
        toast = page.locator(f".duty-toast[data-incident='{target['id']}']")
        toast.wait_for(timeout=10_000)
        assert "请今日办结" in toast.inner_text() and "leader-yz" in toast.inner_text()
    finally:
        leader.disconnect()


def test_hostile_field_text_stays_text_in_the_table_and_the_detail(page, desk):
    hostile = desk.events[13]
    _open(page, desk, "?q=投诉&open=" + hostile["id"])
    _wait_total(page, 1)
    assert _row_titles(page) == [hostile["title"]]
    page.wait_for_selector(f"#duty-detail[data-incident='{hostile['id']}'] .detail-text")
    assert page.locator("#duty-detail .detail-title").inner_text() == hostile["title"]
    assert page.locator("#duty-detail .detail-text").inner_text() == hostile["detail"]
    assert (
        page.locator("#duty-root img, #duty-root script, #duty-detail b[onmouseover]").count() == 0
    )
    assert page.evaluate("window.__pwned === undefined")
