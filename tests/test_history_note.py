"""A trimmed log is not passed off as the whole story: the state knows where its history
begins, and every view says so (issue 14: the city wall once went from 290,322 reported to
975 after a restart on a trimmed log, with nothing on any screen to say history was missing).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from dashboard.state import State
from feeds.bus import Bus
from feeds.schema import decode_trusted
from tests.factories import event_dict, line
from tests.live import PASSWORD, dashboard, sign_in_wall

# Its own servers and Redis, no promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel


def _step(geo, index: int, seq: int, kind: str, minutes_ago: float):
    message = event_dict(geo, index, id=f"H-{index}", seq=seq, type=kind)
    reported = event_dict(geo, index)["ts"]
    ts = datetime.fromisoformat(reported) - timedelta(minutes=minutes_ago)
    message["ts"] = ts.isoformat()
    message["deadline"] = (ts + timedelta(days=1)).isoformat()
    return decode_trusted(line(message))


def _trimmed(geo):
    """A log that begins mid-incident: H-1 and H-2 are known only from later steps."""
    return [
        _step(geo, 1, 2, "dispatched", 30),
        _step(geo, 2, 3, "handled", 29),
        _step(geo, 3, 1, "reported", 28),
        _step(geo, 3, 2, "dispatched", 27),
    ]


def test_state_says_where_a_trimmed_log_begins_whether_folded_or_applied(geo):
    steps = _trimmed(geo)
    folded = State(geo)
    folded.fold([(f"{n + 1}-0", m) for n, m in enumerate(steps)])
    assert folded.history() == {"since": steps[0].ts.isoformat(), "partial": 2}
    live = State(geo)
    for n, m in enumerate(steps):
        live.apply_event(f"{n + 1}-0", m)
    assert live.history() == folded.history()
    # the report of H-1 turns up after all (out of order): H-1's story is whole again
    live.apply_event("9-0", _step(geo, 1, 1, "reported", 31))
    assert live.history() == {"since": live.incidents["H-1"].first.ts.isoformat(), "partial": 1}


def test_a_whole_log_has_no_history_note(geo):
    state = State(geo)
    state.fold(
        [("1-0", _step(geo, 3, 1, "reported", 5)), ("2-0", _step(geo, 3, 2, "dispatched", 4))]
    )
    assert state.history() is None


@pytest.mark.browser
def test_wall_duty_desk_and_tablet_say_where_history_begins_on_a_trimmed_log(
    browser, redis_server, redis_client, prefix, tmp_path, geo
):
    Bus(redis_client, prefix=prefix).publish_many(_trimmed(geo))
    with dashboard(redis_server.url, prefix, tmp_path, ONEMAP_COOKIE_SECURE="0") as server:
        server.add_user("duty-city", "duty", "330200", cli=False)
        server.add_user("leader-city", "leader", "330200", cli=False)
        views = {}
        for view, person in (("wall", ""), ("duty", "duty-city"), ("tablet", "leader-city")):
            context = browser.new_context(
                viewport={"width": 1920, "height": 1080},
                locale="zh-CN",
                timezone_id="Asia/Shanghai",
            )
            page = context.new_page()
            if view == "wall":
                sign_in_wall(page, server)
            else:
                page.goto(f"{server.url}/login")
                page.fill("input[name=username]", person)
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(re.compile(r"/wall"))
                page.goto(f"{server.url}/{view}")
            note = page.locator(f".{view}-history")
            note.wait_for(state="visible", timeout=30_000)
            views[view] = note.inner_text()
            context.close()
    for view, text in views.items():
        assert "历史数据始于" in text, (view, text)
        assert "2 件事件缺上报记录" in text, (view, text)
