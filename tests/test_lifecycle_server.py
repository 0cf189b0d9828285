"""The closed loop run from the desk, over real sockets: a 派单 ... 重新打开 is a step of the
incident in the event log (the contract's, source command_center, the officer as actor), folded
by the server like any producer's, shown in the detail's timeline, audited; refusals are
audited and publish nothing.
"""

from __future__ import annotations

import time

import pytest

from feeds.bus import EVENTS
from feeds.catalogue import CATEGORIES, DEPARTMENTS
from feeds.log_reader import entries_of
from feeds.schema import EventMessage, decode_trusted
from tests.factories import event_dict, line
from tests.live import CITY, dashboard, sign_in
from tests.test_actions import Client

pytestmark = pytest.mark.parallel

YINZHOU, YUYAO = "330212", "330281"


@pytest.fixture
def server(redis_server, prefix, tmp_path):
    with dashboard(redis_server.url, prefix, tmp_path) as running:
        yield running


def _report(bus, geo, county: str, tag: str) -> dict:
    index = next(i for i in range(5000) if event_dict(geo, i)["area"]["county"] == county)
    event = event_dict(geo, index, id=f"{tag}-{index}")
    bus.publish(decode_trusted(line(event)))
    return event


def _steps_in_log(bus, incident_id: str) -> list[EventMessage]:
    rows = entries_of(bus.client.xrange(bus.keys[EVENTS]))
    found = [decode_trusted(fields[b"m"]) for _sid, fields in rows]
    return [m for m in found if isinstance(m, EventMessage) and m.id == incident_id]


def _detail(client: Client, incident_id: str, seqs: int) -> dict:
    """The detail once the server has folded ``seqs`` steps of the incident."""
    deadline = time.monotonic() + 10
    while True:
        reply = client.client.call("incident", {"id": incident_id}, timeout=10)
        if reply["ok"] and len(reply["incident"]["steps"]) >= seqs or time.monotonic() > deadline:
            return reply["incident"]
        time.sleep(0.1)


def handle(client: Client, **ask: object) -> dict:
    return client.client.call("handle", ask, timeout=10)


def test_desk_steps_go_through_the_log_to_every_view_and_are_audited(server, bus, geo):
    mine = _report(bus, geo, YINZHOU, "loop")
    foreign = _report(bus, geo, YUYAO, "loop")
    platform = CATEGORIES[mine["category"]].platform
    own = next(c for c, (_n, p) in DEPARTMENTS.items() if p == platform)
    other = next(c for c, (_n, p) in DEPARTMENTS.items() if p != platform)
    server.add_user("duty-yz", "duty", YINZHOU, cli=False)
    server.add_user("leader-city", "leader", CITY, cli=False)
    duty = Client(server.url, sign_in(server, "duty-yz"), YINZHOU)
    leader = Client(server.url, sign_in(server, "leader-city"), CITY)
    try:
        first = _detail(duty, mine["id"], 1)
        offered = {v["verb"]: v["allowed"] for v in first["loop"]["verbs"]}
        assert offered == {
            "dispatch": True, "transfer": True, "return": False, "escalate": True, "close": True,
            "reopen": False,
        }  # fmt: skip

        dispatched = handle(duty, verb="dispatch", incident=mine["id"], assignee=own,
                            remark="请当日处置")  # fmt: skip
        assert dispatched["ok"] and dispatched["seq"] == 2, dispatched
        escalated = handle(duty, verb="escalate", incident=mine["id"], remark="需镇街协调")
        assert escalated["ok"] and (escalated["seq"], escalated["level"]) == (3, 2)

        refused = [
            handle(leader, verb="close", incident=mine["id"], remark="x"),  # not a leader's
            handle(duty, verb="close", incident=foreign["id"], remark="x"),  # elsewhere
            handle(duty, verb="close", incident="no-such-incident", remark="x"),
            handle(duty, verb="close", incident=mine["id"], remark=" "),  # no result
            handle(duty, verb="dispatch", incident=mine["id"], assignee=other),  # 转办 it
            handle(duty, verb="transfer", incident=mine["id"], assignee=own, remark="x"),
            handle(duty, verb="dispatch", incident=mine["id"], assignee="w-nobody"),
            handle(duty, verb="reopen", incident=mine["id"], remark="x"),  # not closed
            handle(duty, verb="delete", incident=mine["id"]),
        ]
        assert [r["ok"] for r in refused] == [False] * len(refused)
        assert refused[1] == refused[2]  # an incident elsewhere looks like no incident at all

        closed = handle(duty, verb="close", incident=mine["id"], remark="已清理完毕")
        assert closed["ok"] and closed["seq"] == 4
        again = handle(duty, verb="close", incident=mine["id"], remark="再次")
        assert again == {"ok": False, "error": "incident already closed"}

        # The log holds each step as the contract says, the officer as its actor.
        logged = _steps_in_log(bus, mine["id"])
        assert [(s.seq, s.type, s.level) for s in logged] == [
            (1, "reported", mine["level"]), (2, "dispatched", 1), (3, "escalated", 2),
            (4, "closed", 2),
        ]  # fmt: skip
        assert all(s.source == "command_center" and s.actor == "duty-yz" for s in logged[1:])
        assert (logged[1].assignee, logged[1].remark, logged[3].remark) == (
            own,
            "请当日处置",
            "已清理完毕",
        )
        assert _steps_in_log(bus, foreign["id"])[-1].seq == 1

        # The server folded them: the detail's timeline says who, to whom and why.
        detail = _detail(duty, mine["id"], 4)
        assert detail["status"] == "closed"
        steps = {s["seq"]: s for s in detail["steps"]}
        assert steps[2]["actor"] == "duty-yz" and DEPARTMENTS[own][0] in steps[2]["assignee"]
        assert steps[4]["remark"] == "已清理完毕"
        # A leader reads the same timeline (and may not act on it).
        seen = _detail(leader, mine["id"], 4)
        assert [s["type"] for s in seen["steps"]] == [
            "reported",
            "dispatched",
            "escalated",
            "closed",
        ]
        assert not any(v["allowed"] for v in seen["loop"]["verbs"])

        # A wrong 结案 is corrected by a later step, never by rewriting: 重新打开.
        reopened = handle(duty, verb="reopen", incident=mine["id"], remark="群众反映未清理")
        assert reopened["ok"] and reopened["seq"] == 5
        assert _detail(duty, mine["id"], 5)["status"] == "open"

        # Audited: every request, granted or refused; the granted ones as actions naming steps.
        actions = [a for _sid, a in bus.actions() if a.incident == mine["id"]]
        assert [(a.verb, a.step, a.actor) for a in actions] == [
            ("dispatch", 2, "duty-yz"), ("escalate", 3, "duty-yz"), ("close", 4, "duty-yz"),
            ("reopen", 5, "duty-yz"),
        ]  # fmt: skip
        audit = [e for e in server.store().audit_tail(100) if e.get("event") == "action"]
        granted = [e for e in audit if e["outcome"] == "granted"]
        assert len(granted) == 4 and len(audit) - len(granted) == len(refused) + 1
    finally:
        duty.close()
        leader.close()


def test_a_seq_claimed_meanwhile_is_never_taken_twice(server, bus, geo):
    """Another replica's desk (or a producer through the ingest API) claimed seq 2 a moment
    ago and the server has not folded it yet: this desk's step takes seq 3, not a repeat."""
    mine = _report(bus, geo, YINZHOU, "race")
    server.add_user("duty-a", "duty", YINZHOU, cli=False)
    desk = Client(server.url, sign_in(server, "duty-a"), YINZHOU)
    try:
        _detail(desk, mine["id"], 1)
        bus.client.set(f"{bus.prefix}:accepted:{mine['id']}:2", "0-1", ex=60)
        reply = handle(desk, verb="escalate", incident=mine["id"], remark="需镇街协调")
        assert reply["ok"] and reply["seq"] == 3, reply
        assert [s.seq for s in _steps_in_log(bus, mine["id"])] == [1, 3]
    finally:
        desk.close()
