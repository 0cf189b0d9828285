"""/duty holds still under the officer: a real server and Redis, headless Chromium, and steps
published at 50 a second while the pointer rests on a row or a cell has the keyboard focus."""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from feeds.bus import Bus
from feeds.schema import CHINA_TZ, decode_trusted
from tests.factories import event_dict, line
from tests.live import PASSWORD, dashboard

pytestmark = [pytest.mark.browser, pytest.mark.parallel]
LOADED = 120  # more rows than a screen holds
RATE = 50  # steps a second
SECONDS = 10
ROWS = ".ag-center-cols-container .ag-row"
ON_TOP = f"id => document.querySelector(\"{ROWS}[row-index='0']\")?.getAttribute('row-id') === id"
# the incident whose row holds the keyboard focus
FOCUSED = "() => document.activeElement.closest('.ag-row')?.getAttribute('row-id')"


@pytest.fixture(scope="module")
def desk(redis_server, geo, tmp_path_factory):
    """A server with open incidents whose deadlines are hours apart (the default order is time
    left), none overdue: an overdue newcomer sorts above all of them."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    tmp = tmp_path_factory.mktemp("duty-stable")
    with dashboard(redis_server.url, prefix, tmp, ONEMAP_COOKIE_SECURE="0") as server:
        server.tag = uuid.uuid4().hex[:6]
        now = server.start = datetime.now(UTC).astimezone(CHINA_TZ)
        events = [
            event_dict(
                geo,
                i,
                id=f"S{server.tag}-{i:03d}",
                title=f"稳定测试{i:03d}",
                ts=(now - timedelta(minutes=30)).isoformat(),
                deadline=(now + timedelta(hours=2, minutes=10 * i)).isoformat(),
            )
            for i in range(LOADED)
        ]
        server.bus = Bus(redis_server.client(), prefix=prefix)
        server.bus.publish_many([decode_trusted(line(e)) for e in events])
        server.add_user("duty-city", "duty", "330200", cli=False)
        server.events = events
        server.fresh = 0  # new incidents published so far, numbered across tests
        yield server


def _new_overdue(desk, geo, count: int) -> list[dict]:
    """New reports already past their deadline, each further past than any before it: in the
    default order the latest goes on top."""
    made = []
    for _ in range(count):
        n = desk.fresh = desk.fresh + 1
        made.append(
            event_dict(
                geo,
                1000 + n,
                id=f"N{desk.tag}-{n:04d}",
                title=f"新上报{n:04d}",
                ts=(desk.start - timedelta(hours=2, seconds=10 * n)).isoformat(),
                deadline=(desk.start - timedelta(hours=1, seconds=10 * n)).isoformat(),
            )
        )
    return made


def _open_desk(page, desk) -> None:
    page.goto(f"{desk.url}/login")
    page.fill("input[name=username]", "duty-city")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/wall"))
    page.goto(f"{desk.url}/duty")
    page.wait_for_selector("#duty-root[data-live='1']", state="attached", timeout=30_000)
    page.wait_for_selector(f"{ROWS}[row-index='8'] .title-cell", timeout=30_000)


def _row_at(page, x: float, y: float) -> str | None:
    return page.evaluate(
        """([x, y]) => { const e = document.elementFromPoint(x, y);
                         const row = e && e.closest('.ag-row');
                         return row && row.getAttribute('row-id'); }""",
        [x, y],
    )


def _waiting(page) -> int:
    return int(page.get_attribute("#duty-root", "data-waiting") or 0)


def _first_row(page) -> str:
    return page.get_attribute(f"{ROWS}[row-index='0']", "row-id") or ""


def test_the_row_under_the_pointer_stays_while_50_steps_a_second_arrive(browser, desk, geo):
    from tests.conftest import sized_page

    with sized_page(browser, 1366, 768) as page:
        _open_desk(page, desk)
        box = page.locator(f"{ROWS}[row-index='6']").bounding_box()
        x, y = box["x"] + 300, box["y"] + box["height"] / 2  # over the title
        page.mouse.move(x, y)
        under = _row_at(page, x, y)
        assert under and under.startswith("S"), under
        loaded = page.evaluate(
            f"""() => Array.from(document.querySelectorAll("{ROWS}"))
                .sort((a, b) => a.getAttribute('row-index') - b.getAttribute('row-index'))
                .map(r => r.getAttribute('row-id'))"""
        )
        by_id = {e["id"]: e for e in desk.events}
        # Steps of loaded rows: an escalation keeps its place (updated in place, now), a closing
        # moves the row to the closed ones at the end (it waits); new overdue reports go on top.
        escalate = [by_id[i] for i in loaded[:12:2] if i != under]
        close = [by_id[i] for i in loaded[1:12:2] if i != under]
        steps = [dict(e, seq=2, type="escalated", level=2) for e in escalate]
        steps += [dict(e, seq=2, type="closed") for e in close]
        fresh = _new_overdue(desk, geo, RATE * SECONDS - len(steps))
        messages = [decode_trusted(line(m)) for m in steps + fresh]

        def publish() -> None:
            batch = RATE // 10  # every 100 ms
            for start in range(0, len(messages), batch):
                desk.bus.publish_many(messages[start : start + batch])
                time.sleep(0.1)

        sender = threading.Thread(target=publish, daemon=True)
        sender.start()
        seen, counts = set(), []
        while sender.is_alive():
            seen.add(_row_at(page, x, y))
            counts.append(_waiting(page))
            time.sleep(0.05)
        sender.join()
        assert seen == {under}, "the row under a still pointer changed"
        page.wait_for_function(
            "n => +document.getElementById('duty-root').dataset.waiting >= n",
            arg=len(fresh),
            timeout=15_000,
        )
        assert _row_at(page, x, y) == under
        assert counts[-1] > counts[0] and counts == sorted(counts), "the bar's count must grow"
        assert page.is_visible(".duty-updates")
        assert re.fullmatch(r"\d+ 条更新 · 点击刷新", page.inner_text(".duty-updates"))
        assert _first_row(page).startswith("S"), "nothing new may be shown before the click"
        # An escalation of a loaded row moves nothing: it was applied at once, in place.
        page.wait_for_function(
            "id => onemap.duty.api.getRowNode(id).data.level === '村社'", arg=escalate[0]["id"]
        )

        # The bar taken with the keyboard, the pointer still resting on the row: a mouse going
        # for it leaves the table first, and 自动 may then apply the rows before the click lands
        page.focus(".duty-updates")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => document.getElementById('duty-root').dataset.waiting === '0'", timeout=60_000
        )
        most_overdue = fresh[-1]["id"]  # the latest deadline is the earliest: the most overdue
        page.wait_for_function(
            ON_TOP,
            arg=most_overdue,
            timeout=15_000,
        )
        assert not page.is_visible(".duty-updates")
        # The closed ones left the open ones: the first closed row is after every open one.
        statuses = page.locator(f"{ROWS} .status-pill").all_inner_texts()
        assert "已办结" not in statuses[: len(statuses) // 2]
        assert page.js_errors == []


def test_the_keyboard_focus_stays_on_its_incident_across_a_refresh(browser, desk, geo):
    from tests.conftest import sized_page

    with sized_page(browser, 1920, 1080) as page:
        _open_desk(page, desk)
        page.mouse.move(5, 5)  # the pointer away from the table: only the focus holds it
        page.keyboard.press("/")
        page.keyboard.press("ArrowDown")  # into the table, first row
        for _ in range(3):
            page.keyboard.press("ArrowDown")
        third = f"() => document.querySelector(\"{ROWS}[row-index='3']\").getAttribute('row-id')"
        page.wait_for_function(f"() => ({FOCUSED})() === ({third})()")
        target = page.evaluate(FOCUSED)
        fresh = _new_overdue(desk, geo, 5)
        desk.bus.publish_many([decode_trusted(line(m)) for m in fresh])
        page.wait_for_function(
            "() => +document.getElementById('duty-root').dataset.waiting >= 5", timeout=10_000
        )
        time.sleep(1.5)  # longer than the table's own refresh pace: it must not have come
        assert page.evaluate(FOCUSED) == target
        assert _first_row(page).startswith(("S", "N")) and _first_row(page) != fresh[-1]["id"]

        page.click(".duty-updates", timeout=90_000)  # a loaded CI machine
        page.wait_for_function(
            ON_TOP,
            arg=fresh[-1]["id"],
            timeout=15_000,
        )
        # The focus is back on the same incident's cell, five rows further down.
        page.wait_for_function(f"id => ({FOCUSED})() === id", arg=target, timeout=10_000)
        index = page.evaluate(
            "() => +document.activeElement.closest('.ag-row').getAttribute('row-index')"
        )
        assert index == 3 + 5
        page.keyboard.press("Enter")  # and Enter opens that incident
        page.wait_for_selector(f"#duty-detail[data-incident='{target}']", timeout=10_000)
        assert page.js_errors == []


def test_the_desk_fits_1366x768_shows_a_clock_marks_search_words_and_signs_out(browser, desk):
    from tests.conftest import sized_page

    with sized_page(browser, 1366, 768) as page:
        _open_desk(page, desk)
        left = page.locator(".ag-header-cell[col-id='left']").bounding_box()
        grid = page.locator(".duty-grid").bounding_box()
        assert left["x"] + left["width"] <= grid["x"] + grid["width"], "剩余时限 is cut off"
        assert page.locator(".duty-head").bounding_box()["height"] <= 64  # one line
        assert page.locator(".duty-header-tools").count() == 1  # where 日报 and 交接班 go
        # The clock: China's date and a ticking time.
        date = page.inner_text(".duty-clock .clock-date")
        today = datetime.now(UTC).astimezone(CHINA_TZ)
        assert date.startswith(f"{today.year}年{today.month}月") and "星期" in date
        first = page.inner_text(".duty-clock .clock-time")
        assert re.fullmatch(r"\d\d:\d\d:\d\d", first)
        page.wait_for_function(
            "t => document.querySelector('.duty-clock .clock-time').textContent !== t", arg=first
        )
        # Search words marked in the title, as text.
        page.fill("#duty-search", "稳定测试00")
        page.wait_for_function(
            "() => document.getElementById('duty-root').dataset.total === '10'", timeout=15_000
        )
        marks = page.locator(f"{ROWS} .title-cell mark.hit").all_inner_texts()
        assert marks and set(marks) == {"稳定测试00"}
        # 退出 ends the session on the server: the desk then asks to sign in again.
        page.click(".duty-signout")
        page.wait_for_url(re.compile(r"/login"), timeout=10_000)
        page.goto(f"{desk.url}/duty")
        assert "/login" in page.url
        assert page.js_errors == []
