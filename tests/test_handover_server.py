"""Shift hand-over over real sockets against a real server: 交班 then 接班, each in the actions
stream and the audit; a county's officers take over their own county's hand-over only."""

from __future__ import annotations

import time

import pytest

from feeds.schema import decode_trusted
from tests.factories import event_dict, line
from tests.live import dashboard, sign_in
from tests.test_actions import Client

pytestmark = pytest.mark.parallel

YINZHOU, YUYAO = "330212", "330281"
NOTES = "东湖路井盖已报修，联系人 张三 13812345678。<b>夜班请跟进</b>"


@pytest.fixture
def server(redis_server, prefix, tmp_path):
    with dashboard(redis_server.url, prefix, tmp_path) as running:
        yield running


def _report(bus, geo, county: str, tag: str) -> dict:
    index = next(i for i in range(5000) if event_dict(geo, i)["area"]["county"] == county)
    event = event_dict(geo, index, id=f"{tag}-{index}")
    bus.publish(decode_trusted(line(event)))
    return event


def _brief_when_folded(client: Client, open_: int) -> dict:
    deadline = time.monotonic() + 15
    while True:
        brief = client.client.call("handover_brief", {}, timeout=10)
        if brief.get("ok") and brief["counts"]["open"] >= open_ or time.monotonic() > deadline:
            return brief
        time.sleep(0.2)


def test_hand_over_then_take_over_are_recorded_audited_and_kept_in_the_county(server, bus, geo):
    mine = _report(bus, geo, YINZHOU, "ho")
    _report(bus, geo, YUYAO, "ho")
    for name, scope in (("day-yz", YINZHOU), ("night-yz", YINZHOU), ("night-yy", YUYAO)):
        server.add_user(name, "duty", scope, cli=False)
    server.add_user("leader-yz", "leader", YINZHOU, cli=False)
    day = Client(server.url, sign_in(server, "day-yz"), YINZHOU)
    night = Client(server.url, sign_in(server, "night-yz"), YINZHOU)
    other = Client(server.url, sign_in(server, "night-yy"), YUYAO)
    leader = Client(server.url, sign_in(server, "leader-yz"), YINZHOU)
    try:
        brief = _brief_when_folded(day, 1)
        assert brief["scope"] == YINZHOU and brief["pending"] is None
        assert brief["counts"]["open"] == brief["kpis"]["open"] == 1  # 余姚's is not ours
        assert brief["sections"]["open"]["rows"][0]["id"] == mine["id"]
        assert brief["shift"]["label"] and brief["previous"]["label"]

        long_notes = day.client.call("hand_over", {"notes": "长" * 2001}, timeout=10)
        assert long_notes == {"ok": False, "error": "notes longer than 2000 characters"}
        handed = day.client.call("hand_over", {"notes": NOTES}, timeout=30)
        assert handed["ok"], handed
        assert handed["counts"]["open"] == 1 and handed["counts"]["unacknowledged"] == 1

        waiting = night.client.call("handover_brief", {"pending_only": True}, timeout=10)
        assert waiting["pending"]["id"] == handed["id"]
        assert waiting["pending"]["notes"] == NOTES  # as written, for the page's textContent
        assert waiting["pending"]["byName"] == "day-yz" and not waiting["pending"]["mine"]
        assert other.client.call("handover_brief", {"pending_only": True})["pending"] is None

        refused = [
            other.client.call("take_over", {"id": handed["id"]}, timeout=10),  # not 余姚's
            other.client.call("take_over", {}, timeout=10),
            day.client.call("take_over", {"id": handed["id"]}, timeout=10),  # not one's own
            leader.client.call("take_over", {"id": handed["id"]}, timeout=10),  # not a leader's
            night.client.call("take_over", {"id": "not-that-one"}, timeout=10),
        ]
        assert [r.get("error") for r in refused] == [
            "hand-over not found",
            "no hand-over pending",
            "you handed this over",
            "not allowed",
            "hand-over not found",
        ]
        taken = night.client.call("take_over", {"id": handed["id"], "text": "收到"}, timeout=10)
        assert taken["ok"], taken
        again = night.client.call("take_over", {"id": handed["id"]}, timeout=10)
        assert again == {"ok": False, "error": "hand-over not found"}
        nothing = night.client.call("take_over", {}, timeout=10)
        assert nothing == {"ok": False, "error": "no hand-over pending"}

        recorded = [a for _sid, a in bus.actions() if a.verb in ("hand_over", "take_over")]
        assert [(a.verb, a.actor, a.area) for a in recorded] == [
            ("hand_over", "day-yz", YINZHOU),
            ("take_over", "night-yz", YINZHOU),
        ]
        out, back = recorded
        assert out.text == NOTES and out.counts == handed["counts"]
        assert (back.target, back.ends, back.text) == ("day-yz", out.id, "收到")

        audit = [e for e in server.store().audit_tail(100) if e.get("event") == "action"]
        granted = [(e["verb"], e["user"]) for e in audit if e["outcome"] == "granted"]
        assert sorted(granted) == [("hand_over", "day-yz"), ("take_over", "night-yz")]
        said = sorted(e.get("error", "") for e in audit if e["outcome"] == "refused")
        assert said == sorted([
            "notes longer than 2000 characters", "hand-over not found", "no hand-over pending",
            "you handed this over", "not allowed", "hand-over not found", "hand-over not found",
            "no hand-over pending",
        ])  # fmt: skip

        # The county's pages hear the hand-over as an action of their area; 余姚's do not.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(_heard(night)) < 2:
            time.sleep(0.05)
        assert [a["verb"] for a in _heard(night)] == ["hand_over", "take_over"]
        assert _heard(other) == []
    finally:
        for client in (day, night, other, leader):
            client.close()


def _heard(client: Client) -> list[dict]:
    return [
        a
        for d in client.of("actions")
        for a in d["actions"]
        if a["verb"] in ("hand_over", "take_over")
    ]
