"""交接班 on the desk in a real headless Chromium: the incoming officer sees the pending hand-over
and the brief, whose counts are the desk's KPI tiles, confirms 接班, and the brief prints on
white A4. ``ONEMAP_SHOTS=docs`` also writes docs/handover-brief.png and docs/handover-print.png.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboard.views import shifts
from feeds.schema import CHINA_TZ, ActionMessage, decode_trusted
from tests.conftest import sized_page
from tests.factories import event_dict, line
from tests.live import PASSWORD, dashboard, sign_in
from tests.test_actions import Client

pytestmark = [pytest.mark.browser, pytest.mark.parallel]
YINZHOU = "330212"
SHOTS = os.environ.get("ONEMAP_SHOTS", "")
NOTES = (
    "1. 下应街道湾底村井盖缺失（市政设施）已通知城管，承诺今晚22点前到场，请夜班跟进回访。\n"
    "2. 陈市长批示的钟公庙占道经营件尚未反馈，明早8点前须报结果。\n"
    "3. 梅墟街道超期积压较多，已电话提醒街道值班室。"
)
TITLES = ["井盖缺失", "占道经营", "垃圾堆放未清理", "违章停车占用消防通道", "路灯不亮", "噪音扰民",
          "管道漏水", "乱贴小广告", "绿化带毁损", "油烟扰民"]  # fmt: skip
CATS = ["bm01", "zf03", "zf02", "bm03", "bm01", "zz01", "bm02", "zf02", "zf02", "zf04"]


def _grids(geo, town: str) -> list[str]:
    return [g for g in sorted(geo.grids) if geo.town_of(g) == town]


def _event(geo, n: int, town: str, reported: datetime, deadline: datetime, **more) -> dict:
    grid = _grids(geo, town)[n % len(_grids(geo, town))]
    area = {"county": YINZHOU, "town": town, "village": geo.village_of(grid), "grid": grid}
    fields = {"title": TITLES[n % 10], "category": CATS[n % 10], **more}
    return event_dict(
        geo, n, id=f"E{reported:%Y%m%d}-{n:06d}", area=area, ts=reported.isoformat(),
        deadline=deadline.isoformat(), **fields,
    )  # fmt: skip


def _then(event: dict, seq: int, kind: str, ts: datetime, level: int = 1) -> dict:
    return {**event, "seq": seq, "type": kind, "ts": ts.isoformat(), "level": level}


def _world(geo, now: datetime) -> list[dict]:
    """A county's day: a town with a backlog (red), open and due ones, closures in both shifts,
    an urgent report, an escalation to the county and a reopening in this shift."""
    start = shifts.from_env({}).at(now).start
    towns = [t.code for t in sorted(geo.children(YINZHOU), key=lambda a: a.code)]
    backlog, others = towns[2], towns[:2] + towns[3:8]
    out, n = [], 0
    for k in range(9):  # overdue in 梅墟: a red town
        n += 1
        t = now - timedelta(hours=14 + k)
        out.append(_event(geo, n, backlog, t, t + timedelta(hours=6 + k % 3)))
    for k in range(16):  # open, due later
        n += 1
        t = now - timedelta(hours=1 + k * 1.7)
        out.append(_event(geo, n, others[k % len(others)], t, t + timedelta(days=1)))
    for k in range(10):  # closed, half in the previous shift and half in this one
        n += 1
        t = start - timedelta(hours=10 - k)
        e = _event(geo, n, others[k % len(others)], t, t + timedelta(hours=20))
        closed = t + (timedelta(hours=4) if k < 5 else (start - t) + (now - start) * 0.1 * k)
        out += [e, _then(e, 2, "closed", min(closed, now - timedelta(minutes=1)))]
    since = (now - start) / 4
    urgent = _event(geo, n + 1, others[0], start + since, now + timedelta(hours=2),
                    severity="urgent", title="燃气管道泄漏异味", category="zz03")  # fmt: skip
    up = _event(geo, n + 2, others[1], start - timedelta(hours=3), now + timedelta(hours=5))
    reopened = _event(geo, n + 3, others[2], start - timedelta(hours=6), now + timedelta(hours=8))
    out += [
        urgent, up, _then(up, 2, "escalated", start + since * 2, 4),
        reopened, _then(reopened, 2, "closed", start - timedelta(hours=2)),
        _then(reopened, 3, "reopened", start + since * 3),
    ]  # fmt: skip
    return out


def _ordinary_day(geo, now: datetime, count: int = 600) -> list[dict]:
    """The rest of the city: reports over the last 20 hours closed by their grid within hours
    (so the index has a city to lean on, as on a real day)."""
    out = []
    for n in range(count):
        t = now - timedelta(hours=20 * n / count + 0.5)
        e = event_dict(geo, 1000 + n, id=f"C{t:%Y%m%d}-{n:06d}", ts=t.isoformat(),
                       deadline=(t + timedelta(days=1)).isoformat(), title=TITLES[n % 10],
                       category=CATS[n % 10])  # fmt: skip
        out += [e, _then(e, 2, "closed", min(t + timedelta(hours=1 + n % 3), now))]
    return out


def _acts(events: list[dict], now: datetime) -> list[ActionMessage]:
    ids = sorted({e["id"] for e in events})
    area = events[0]["area"]["town"]

    def act(
        n: int, verb: str, incident: str, role: str, actor: str, text: str = ""
    ) -> ActionMessage:
        return ActionMessage(
            id=f"seed{n}", ts=now - timedelta(minutes=90 - n), verb=verb, actor=actor, role=role,
            area=area, incident=incident, text=text, display={"leader-yz": "陈市长"}.get(actor, ""),
        )  # fmt: skip

    seeded = [act(n, "acknowledge", i, "duty", "duty-yz-day") for n, i in enumerate(ids[::3])]
    seeded += [act(50, "supervise", ids[1], "leader", "leader-yz"),
               act(51, "supervise", ids[10], "leader", "leader-yz"),
               act(52, "instruct", ids[12], "leader", "leader-yz", "请今日内办结，并报处置结果"),
               act(53, "instruct", ids[3], "leader", "leader-yz", "抓紧核实，注意安全"),
               act(54, "note", ids[3], "duty", "duty-yz-day", "已联系街道")]  # fmt: skip
    return seeded


@pytest.fixture(scope="module")
def desk(redis_server, geo, tmp_path_factory):
    prefix = f"t{uuid.uuid4().hex[:10]}"
    tmp = tmp_path_factory.mktemp("handover")
    with dashboard(redis_server.url, prefix, tmp, ONEMAP_COOKIE_SECURE="0") as server:
        from feeds.bus import Bus

        bus = Bus(redis_server.client(), prefix=prefix)
        now = datetime.now(UTC).astimezone(CHINA_TZ)
        events = _world(geo, now)
        day = sorted(events + _ordinary_day(geo, now), key=lambda e: e["ts"])
        bus.publish_many([decode_trusted(line(e)) for e in day])
        for action in _acts(events, now):
            bus.publish_action(action)
        store = server.store()
        store.add_user("duty-yz-day", "duty", YINZHOU, PASSWORD, "王敏")
        store.add_user("duty-yz-night", "duty", YINZHOU, PASSWORD, "李强")
        server.bus, server.events = bus, events
        yield server


def _sign_in(page, server, name: str) -> None:
    page.goto(f"{server.url}/login?next=/duty")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/duty"))


def _hand_over(server, notes: str) -> dict:
    outgoing = Client(server.url, sign_in(server, "duty-yz-day"), YINZHOU)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the server has folded the seeded day
            brief = outgoing.client.call("handover_brief", {}, timeout=10)
            if brief["ok"] and brief["counts"]["open"] >= 25:
                break
            time.sleep(0.3)
        handed = outgoing.client.call("hand_over", {"notes": notes}, timeout=30)
        assert handed["ok"], handed
        return handed
    finally:
        outgoing.close()


def _print_png(page, target: Path) -> None:
    """Page 1 of the brief printed to A4 (Chromium's print to PDF), as a picture."""
    pdf = target.with_suffix(".pdf")
    page.pdf(path=str(pdf), format="A4", print_background=True)
    subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(target.with_suffix(""))], check=True)  # fmt: skip
    pdf.unlink()


def test_the_incoming_officer_reads_the_brief_and_takes_over(browser, desk, tmp_path):
    handed = _hand_over(desk, NOTES)
    folder = Path(SHOTS) if SHOTS else tmp_path
    with sized_page(browser, 1920, 1080) as page:
        _sign_in(page, desk, "duty-yz-night")
        page.wait_for_selector("#duty-root[data-total]", state="attached", timeout=60_000)
        page.wait_for_selector(".duty-head .handover-open", timeout=15_000)
        page.wait_for_function(
            "id => document.getElementById('duty-root').dataset.handoverPending === id",
            arg=handed["id"], timeout=15_000,
        )  # fmt: skip
        assert page.locator(".handover-badge").is_visible()
        page.click(".handover-open")
        page.wait_for_selector(".handover-overlay[data-ready]", timeout=15_000)
        assert page.locator(".handover-pending .handover-notes").inner_text() == NOTES
        tiles = page.locator(".dkpi[data-kpi] .dkpi-value")
        page.wait_for_function("() => document.querySelector('.dkpi[data-kpi=open] .dkpi-value')"
                               ".textContent !== '—'")  # fmt: skip
        for key in ("open", "overdue"):  # the brief's counts are the desk's own tiles
            tile = page.locator(f".dkpi[data-kpi={key}] .dkpi-value").inner_text()
            brief = page.locator(f".handover-tile[data-count={key}] b").inner_text()
            assert brief == tile, (key, brief, tile)
        assert tiles.count() >= 5
        for key, total in handed["counts"].items():
            if key not in ("reported", "closed"):
                shown = page.locator(f".handover-tile[data-count={key}] b").inner_text()
                assert shown == f"{total:,}", (key, shown)
        assert page.locator(".handover-section[data-section=red] tr").count() >= 1
        reasons = page.locator(".handover-section[data-section=notable] .handover-chip")
        assert {"紧急", "上报至区县", "重新打开"} <= set(reasons.all_inner_texts())
        page.screenshot(path=str(folder / "handover-brief.png"))

        _print_png(page, folder / "handover-print.png")
        page.emulate_media(media="print")
        assert page.locator(".duty-head").is_hidden()  # the desk is not printed
        assert page.locator(".handover-sign").is_visible()
        page.emulate_media(media="screen")

        page.click(".handover-take")
        page.wait_for_function(
            "() => document.querySelector('.handover-pending .handover-status')"
            ".textContent.startsWith('已接班')", timeout=10_000,
        )  # fmt: skip
        taken = [a for _s, a in desk.bus.actions(count=10_000) if a.verb == "take_over"]
        assert [(a.actor, a.target, a.ends) for a in taken] == [
            ("duty-yz-night", "duty-yz-day", handed["id"])
        ]
        page.wait_for_function(
            "() => !document.getElementById('duty-root').dataset.handoverPending", timeout=10_000
        )
        assert page.js_errors == []


def test_field_text_in_the_brief_stays_text(browser, desk):
    hostile = '<img src=x onerror="window.__pwned=1">交班<script>window.__pwned=2</script>'
    now = datetime.now(UTC).astimezone(CHINA_TZ)
    geo_event = desk.events[-1]
    event = {**geo_event, "id": f"X{uuid.uuid4().hex[:8]}", "seq": 1, "type": "reported",
             "ts": now.isoformat(), "severity": "urgent", "title": hostile}  # fmt: skip
    desk.bus.publish(decode_trusted(line(event)))
    _hand_over(desk, hostile)
    with sized_page(browser, 1920, 1080) as page:
        _sign_in(page, desk, "duty-yz-night")
        page.wait_for_selector(".duty-head .handover-open", timeout=60_000)
        page.click(".handover-open")
        page.wait_for_selector(".handover-overlay[data-ready]", timeout=15_000)
        page.wait_for_selector(f"tr[data-id='{event['id']}']", timeout=15_000)
        assert page.locator(".handover-pending .handover-notes").inner_text() == hostile
        assert hostile in page.locator(f"tr[data-id='{event['id']}'] .title").first.inner_text()
        assert page.evaluate("window.__pwned") is None
        assert page.locator(".handover-overlay img, .handover-overlay script").count() == 0
        assert page.js_errors == []
