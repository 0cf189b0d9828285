"""Running the closed loop from the desk: the rule table, the level each step leaves, and the
simulated field following the desk. Pure: no server (tests/test_lifecycle_server.py has one).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import pytest

from dashboard.access.principal import Principal
from dashboard.incident import Incident, Step, put_step
from dashboard.views.lifecycle import (
    RULES,
    Handlers,
    desk_step,
    loop_options,
    next_level,
    officer_level,
    refusal,
)
from feeds.catalogue import DEPARTMENTS
from feeds.schema import CHINA_TZ, AreaRef, EventMessage, Rejection, encode, validate
from feeds.sim import Model, SimConfig

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=CHINA_TZ)
CITY, COUNTY, TOWN = "330200", "330212", "330212001"
WORKERS = Handlers(frozenset({"w-1", "w-2"}))


def who(role: str = "duty", scope: str = COUNTY) -> Principal:
    return Principal(f"u:{role}:1", "user", f"{role}-1", role, scope, role, None)


def incident(
    levels: tuple[int, ...] = (1,), closed: bool = False, category: str = "zf02"
) -> Incident:
    """An incident whose steps were held at ``levels`` in turn (then closed, if asked)."""
    found = Incident(
        "E1", category, AreaRef(COUNTY, TOWN), 121.55, 29.87, "app", "井盖缺失", "", None,
        None, NOW + timedelta(hours=8),
    )  # fmt: skip
    types = ["reported"] + ["escalated"] * (len(levels) - 1) + (["closed"] if closed else [])
    levels = levels + ((levels[-1],) if closed else ())
    for seq, (kind, level) in enumerate(zip(types, levels, strict=True), start=1):
        put_step(found, Step(seq, kind, NOW + timedelta(minutes=seq), level, f"1-{seq}"))
    return found


def ask(verb: str, case: Incident, person: Principal | None = None, assignee: str = "",
        remark: str = "理由") -> str | None:  # fmt: skip
    return refusal(person or who(), RULES[verb], case, assignee, remark, WORKERS)


def test_officers_work_at_their_jurisdictions_level():
    assert officer_level(CITY) == 5
    assert officer_level(COUNTY) == 4
    assert officer_level(TOWN) == 3
    assert officer_level("330212001001") == 0  # a village account runs no desk


@pytest.mark.parametrize("role", ["leader", "wall", "viewer"])
def test_only_duty_officers_and_admins_run_the_loop(role):
    for verb in RULES:
        case = incident(closed=verb == "reopen")
        assert ask(verb, case, who(role), "zf-zfzd" if verb != "transfer" else "sc-scjgs") == (
            "not allowed for your role"
        )


def test_each_verb_applies_to_open_incidents_and_reopen_only_to_closed_ones():
    open_case, closed_case = incident((1, 2)), incident((1, 2), closed=True)
    assert ask("reopen", open_case) == "incident is not closed"
    assert ask("reopen", closed_case) is None
    for verb in ("dispatch", "transfer", "return", "escalate", "close"):
        assert ask(verb, closed_case, assignee="w-1") == "incident already closed"


def test_an_incident_held_above_the_officers_level_is_their_superiors():
    at_county, at_city = incident((1, 3, 4)), incident((1, 3, 4, 5))
    town_desk, county_desk, city_desk = who(scope=TOWN), who(scope=COUNTY), who(scope=CITY)
    assert "above your level" in (ask("close", at_county, town_desk) or "")
    assert ask("close", at_county, county_desk) is None
    assert "above your level" in (ask("close", at_city, county_desk) or "")
    assert ask("close", at_city, city_desk) is None
    assert ask("escalate", at_city, city_desk) == "already at the city level"
    assert ask("escalate", at_county, county_desk) is None  # handing it up is always allowed


def test_return_needs_a_level_below_and_goes_back_where_it_came_from():
    assert ask("return", incident((1,))) == "already at the grid level: nothing to return it to"
    assert next_level("return", incident((1, 3))) == 1  # escalated from the grid straight to town
    assert next_level("return", incident((1, 2, 3))) == 2
    assert next_level("return", incident((3,))) == 2  # reported at the town: one down
    assert next_level("escalate", incident((1, 2))) == 3
    assert next_level("dispatch", incident((1, 2))) == 2
    assert next_level("close", incident((1, 2))) == 2


def test_reasons_and_results_are_required_where_the_table_says():
    case = incident((1, 2))
    for verb in ("transfer", "return", "escalate", "close"):
        target = "sc-scjgs" if verb == "transfer" else ""
        assert "required" in (ask(verb, case, assignee=target, remark="") or ""), verb
    assert ask("dispatch", case, assignee="w-1", remark="") is None  # a dispatch note is optional
    assert ask("reopen", incident(closed=True), remark="") == "重新打开原因 required"
    assert "longer than" in (ask("close", case, remark="长" * 501) or "")


def test_dispatch_goes_to_a_free_worker_or_a_department_of_the_incidents_platform():
    case = incident(category="zf02")  # 市容环境: 综合执法
    assert ask("dispatch", case) == "choose who handles it"
    assert ask("dispatch", case, assignee="w-1") is None
    assert ask("dispatch", case, assignee="w-9") == "unknown or unavailable handler"
    assert ask("dispatch", case, assignee="zf-zfzd") is None
    assert (
        ask("dispatch", case, assignee="sc-scjgs")
        == "that department is another platform's: 转办 it"
    )
    assert ask("dispatch", case, assignee="nowhere") == "unknown or unavailable handler"


def test_transfer_goes_to_another_platforms_department_only():
    case = incident(category="zf02")
    assert ask("transfer", case, assignee="sc-scjgs") is None
    assert ask("transfer", case, assignee="zf-zfzd") == "转办 goes to another platform's department"
    assert ask("transfer", case, assignee="w-1") == "unknown or unavailable handler"
    assert ask("close", case, assignee="w-1") == "no assignee for this action"


def test_the_desk_is_offered_what_the_table_allows_with_the_level_it_leads_to():
    offered = loop_options(who(scope=COUNTY), incident((1, 2)))
    verbs = {v["verb"]: v for v in offered["verbs"]}
    assert list(verbs) == list(RULES)
    assert {v for v, o in verbs.items() if o["allowed"]} == {
        "dispatch",
        "transfer",
        "return",
        "escalate",
        "close",
    }
    assert verbs["reopen"]["why"] == "incident is not closed"
    assert (verbs["escalate"]["levelName"], verbs["return"]["levelName"]) == ("镇街", "网格")
    own = {d["code"] for d in offered["departments"]}
    other = {d["code"] for d in offered["otherDepartments"]}
    assert own | other == set(DEPARTMENTS) and not own & other
    assert all(DEPARTMENTS[c][1] == "zf" for c in own)


def test_a_desk_step_keeps_the_contract_and_producers_cannot_forge_one(geo):
    case = incident((1, 2))
    step = desk_step(who(), RULES["escalate"], case, 3, "", "需要镇街协调", datetime.now(CHINA_TZ))
    assert (step.seq, step.type, step.level, step.source) == (3, "escalated", 3, "command_center")
    assert (step.actor, step.remark, step.title, step.deadline) == (
        "duty-1",
        "需要镇街协调",
        case.title,
        case.deadline,
    )
    checked = validate(encode(step), geo, desk=True)
    assert isinstance(checked, EventMessage) and checked == step
    forged = validate(encode(step), geo)  # what the ingest API and `onemap publish` call
    assert isinstance(forged, Rejection) and forged.reason == "reserved_source"


# -- the simulated field follows the desk -------------------------------------------------------
def _open_incident(model: Model, until: datetime) -> tuple[str, list[EventMessage]]:
    """An incident of the simulation with a step sent and later steps still planned."""
    sent: dict[str, list[EventMessage]] = defaultdict(list)
    for message in model.messages(until):
        if isinstance(message, EventMessage):
            sent[message.id].append(message)
    for incident_id, steps in sent.items():
        if incident_id in model._running and len(steps) >= 1:
            return incident_id, steps
    raise AssertionError("no incident left running")


def test_the_simulated_field_numbers_its_steps_after_the_desks(geo):
    start = datetime(2026, 3, 10, 9, tzinfo=CHINA_TZ)
    model = Model(geo, SimConfig(seed=3, events_per_day=2000, workers=0), start, positions=False,
                  arrivals_until=start + timedelta(hours=1))  # fmt: skip
    incident_id, before = _open_incident(model, start + timedelta(minutes=20))
    desk_seq = max(s.seq for s in before) + 1
    model.desk_step(incident_id, desk_seq, closed=False)
    after = [m for m in model.messages() if isinstance(m, EventMessage) and m.id == incident_id]
    assert after, "the field stopped although the desk only dispatched"
    assert min(s.seq for s in after) == desk_seq + 1
    seqs = [s.seq for s in before + after]
    assert len(seqs) == len(set(seqs)) and desk_seq not in seqs


def test_the_simulated_field_stops_once_the_desk_closed_it(geo):
    start = datetime(2026, 3, 10, 9, tzinfo=CHINA_TZ)
    model = Model(geo, SimConfig(seed=3, events_per_day=2000, workers=0), start, positions=False,
                  arrivals_until=start + timedelta(hours=1))  # fmt: skip
    incident_id, before = _open_incident(model, start + timedelta(minutes=20))
    model.desk_step(incident_id, max(s.seq for s in before) + 1, closed=True)
    rest = [m for m in model.messages() if isinstance(m, EventMessage)]
    assert [m for m in rest if m.id == incident_id] == []
    assert len({m.id for m in rest}) > 10  # the rest of the simulation went on
