"""派单 from the desk in a real headless Chromium: the officer picks the nearest free worker,
confirms, and the step is in the event log and in the incident's timeline on the desk and on
a leader's tablet (issue 20's acceptance)."""

from __future__ import annotations

import os
import re
import time
import uuid

import pytest

from feeds.bus import EVENTS
from feeds.directory import Directory, WorkerCard
from feeds.log_reader import entries_of
from feeds.schema import EventMessage, decode_trusted
from tests.conftest import sized_page
from tests.factories import event_dict, line, position_dict
from tests.live import PASSWORD, dashboard

pytestmark = [pytest.mark.browser, pytest.mark.parallel]
YINZHOU = "330212"
SHOTS = os.environ.get("ONEMAP_SHOTS", "")


@pytest.fixture(scope="module")
def desk(redis_server, geo, tmp_path_factory):
    prefix = f"t{uuid.uuid4().hex[:10]}"
    tmp = tmp_path_factory.mktemp("loop")
    with dashboard(redis_server.url, prefix, tmp, ONEMAP_COOKIE_SECURE="0") as server:
        from feeds.bus import Bus

        bus = Bus(redis_server.client(), prefix=prefix)
        index = next(i for i in range(5000) if event_dict(geo, i)["area"]["county"] == YINZHOU)
        incident = event_dict(geo, index, id=f"L{uuid.uuid4().hex[:6]}", title="窨井盖缺失")
        worker = f"W{index:06d}"
        Directory(bus.client, prefix).put(
            [WorkerCard(worker, "王建国", "13812345678", incident["area"]["grid"])]
        )
        bus.publish(decode_trusted(line(incident)))
        bus.publish(decode_trusted(line(position_dict(geo, index, worker=worker))))
        server.add_user("duty-yz", "duty", YINZHOU, cli=False)
        server.add_user("leader-yz", "leader", YINZHOU, cli=False)
        server.bus, server.incident, server.worker = bus, incident, worker
        yield server


def _sign_in(page, server, name: str, then: str) -> None:
    page.goto(f"{server.url}/login?next={then}")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def _logged(bus, incident_id: str) -> list[EventMessage]:
    found = [decode_trusted(f[b"m"]) for _s, f in entries_of(bus.client.xrange(bus.keys[EVENTS]))]
    return [m for m in found if isinstance(m, EventMessage) and m.id == incident_id]


def test_a_dispatch_from_the_desk_is_a_step_on_every_view(browser, desk):
    incident_id = desk.incident["id"]
    with sized_page(browser) as page:
        _sign_in(page, desk, "duty-yz", f"/duty?open={incident_id}")
        page.goto(f"{desk.url}/duty?open={incident_id}")
        page.wait_for_selector(f"#duty-detail[data-incident='{incident_id}']", timeout=30_000)
        page.click("button[data-loop='dispatch']")
        page.wait_for_selector(".loop-form[data-verb='dispatch']")
        # the nearest free worker is offered by name; the officer picks them
        choice = page.locator(f"input[data-assignee='{desk.worker}']")
        choice.wait_for(timeout=15_000)
        assert "王建国" in page.locator(".loop-choice").first.inner_text()
        assert page.is_disabled(".loop-confirm")  # nobody chosen yet
        choice.check()
        page.wait_for_selector(".loop-confirm:not([disabled])")  # a dispatch note is optional
        page.fill(".loop-remark", "请到场核实并设置警示")
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/duty-dispatch-form.png")
        page.click(".loop-confirm")
        step = page.locator(".detail-timeline li[data-seq='2']")
        step.wait_for(timeout=15_000)
        text = step.inner_text()
        assert "分派" in text and "王建国" in text and "请到场核实并设置警示" in text, text
        assert page.locator(".detail-status").inner_text().startswith("已派单")
        if (
            SHOTS
        ):  # docs/duty-dispatch.png: ONEMAP_SHOTS=docs pytest tests/test_lifecycle_browser.py
            page.screenshot(path=f"{SHOTS}/duty-dispatch.png")
        assert page.js_errors == []

    logged = _logged(desk.bus, incident_id)
    assert [(s.seq, s.type, s.source, s.actor, s.assignee) for s in logged] == [
        (1, "reported", "grid_worker", None, None),
        (2, "dispatched", "command_center", "duty-yz", desk.worker),
    ]

    with sized_page(browser, 1024, 768) as tablet:
        _sign_in(tablet, desk, "leader-yz", "/tablet")
        tablet.wait_for_url(re.compile(r"/tablet"), timeout=30_000)
        tablet.wait_for_selector("#tablet-root[data-live='1']", timeout=30_000)
        tablet.click("button.tab-feed")
        deadline = time.monotonic() + 15
        while not tablet.locator(".feed-item", has_text="窨井盖缺失").count():
            assert time.monotonic() < deadline, "the incident is not in the tablet's feed"
            time.sleep(0.2)
        tablet.locator(".feed-item", has_text="窨井盖缺失").first.click()
        steps = tablet.locator("#tablet-card .card-steps li")
        steps.nth(1).wait_for(timeout=15_000)
        assert "分派" in steps.nth(1).inner_text()
        assert "王" in steps.nth(1).inner_text()  # the worker, masked for a leader (王*国)
        assert tablet.js_errors == []
