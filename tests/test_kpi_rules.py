"""The KPI rules live once, in ``dashboard.analytics.rules``: the live fold, the bulk rebuild,
the 10-minute rows and the duty desk's drill-down sets all ask them, and cannot drift.

(a) each rule gives the same answer on Python scalars (the live fold) as on numpy arrays (the
rebuild), element by element; (b) the drill-down sets select as many incidents as the counters
count, at the deadline's edge; (c) a rule changed in ``rules`` changes every path at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.analytics import hourly as h
from dashboard.analytics import rules
from dashboard.analytics import tally as t
from dashboard.analytics.epoch import DAY_S, OFFSET_S
from dashboard.state import State
from dashboard.views.search import SETS, Filter, Marks, SearchText, matching
from feeds.schema import CHINA_TZ, AreaRef, EventMessage
from tests.factories import a_grid

BASE = 1_773_100_800.0  # 2026-03-10 08:00 China time, in epoch seconds


# -- (a) one rule, two forms -------------------------------------------------------------------
@st.composite
def incidents(draw: st.DrawFn) -> dict:
    """An incident's facts as the counters see them, with closes often right at the deadline."""
    rep_ts = BASE + draw(st.integers(0, 3 * DAY_S * 10**6)) / 10**6
    deadline = rep_ts + draw(st.integers(-3600, 3 * DAY_S))
    edge = draw(st.sampled_from([None, -1.0, -1e-6, 0.0, 1e-6, 1.0]))
    if edge is None:  # anywhere, or still open
        close_ts = draw(st.none() | st.floats(rep_ts, rep_ts + 3 * DAY_S))
    else:
        close_ts = deadline + edge
    ever_closed = close_ts is not None or draw(st.booleans())  # closed, then reopened
    return {
        "rep_ts": rep_ts,
        "close_ts": close_ts,
        "deadline": deadline,
        "top": draw(st.integers(1, 5)),
        "closed_now": close_ts is not None,
        "ever_closed": ever_closed,
        "reopened": ever_closed and draw(st.booleans()),
        "level": draw(st.integers(1, 5)),
    }


def _rules_on(f: dict, slots: dict) -> dict:
    """Every rule asked about one incident (scalars) or many (arrays), as the paths ask them;
    ``slots``: the 10-minute slots of the report, the close and the deadline, and the first
    slot of the deadline's day."""
    close_ts, rep_slot, end_slot = f["close_ts"], slots["rep_ts"], slots["close_ts"]
    deadline_slot = slots["deadline"]
    on_time, at_grid = rules.on_time(close_ts, f["deadline"]), rules.at_grid(f["level"])
    late_slot, opened, late = rules.spells(f["closed_now"], rep_slot, end_slot, deadline_slot)
    done_slot, done = rules.due_spells(f["closed_now"], end_slot, slots["day"])
    return {
        "on_time": on_time,
        "at_grid": at_grid,
        "reach": rules.reach_mask(f["top"]),
        "cohort": rules.cohort_mask(
            rules.reach_mask(f["top"]), f["closed_now"], f["ever_closed"], f["reopened"]
        ),
        "closing": rules.closing_mask(at_grid),
        "due": rules.due_mask(f["closed_now"], on_time),
        "late_slot": late_slot,
        "opened": opened,
        "late": late,
        "done_slot": done_slot,
        "done": done,
        "report_slot": rules.report_slot_mask(opened),
        "end_slot": rules.end_slot_mask(at_grid, opened, late),
        "due_slot": rules.due_slot_mask(on_time),
    }


@settings(max_examples=300, deadline=None)
@given(st.lists(incidents(), min_size=1, max_size=40))
def test_scalar_and_array_rules_give_the_same_masks(facts):
    times = ("rep_ts", "close_ts", "deadline")
    for f in facts:  # an open incident's close is not read: any time will do
        f["close_ts"] = f["rep_ts"] if f["close_ts"] is None else f["close_ts"]
    # the live fold's way: Python floats, ints and bools, slots by hourly.slot_of
    scalars = [
        _rules_on(
            f,
            {k: h.slot_of(f[k]) for k in times} | {"day": h.day_start_slot(f["deadline"])},
        )
        for f in facts
    ]
    # the rebuild's way (settle.settle_bulk): columns, slots by floor division
    columns = {key: np.array([f[key] for f in facts]) for key in facts[0]}
    slots = {k: np.floor_divide(columns[k], h.SLOT_S).astype(np.int64) for k in times}
    day = np.floor_divide(columns["deadline"] + OFFSET_S, DAY_S).astype(np.int64)
    slots["day"] = (day * DAY_S - OFFSET_S) // h.SLOT_S
    arrays = _rules_on(columns, slots)
    for key, column in arrays.items():
        assert isinstance(column, np.ndarray), key
        for n, one in enumerate(scalars):
            # the scalar path stays on Python numbers: numpy scalars cost ~5x as much
            assert type(one[key]) in (bool, int, float), (key, type(one[key]))
            assert one[key] == column[n], (key, facts[n])


@pytest.mark.parametrize("top", [1, 2, 3, 4, 5])
def test_reach_is_every_level_up_to_the_highest(top):
    expected = sum(1 << t.REACHED[level] for level in range(2, top + 1))
    assert rules.reach_mask(top) == rules.REACH_MASK[top] == expected  # the live fold's table


def test_each_mask_sets_only_its_own_tables_bits():
    """``t.CLOSED`` and ``h.CLOSED`` are different bits: each mask keeps to its table."""
    cohort_bits = {t.REPORTED, t.REP_CLOSED, t.REP_EVER_CLOSED, t.REP_REOPENED, *t.REACHED.values()}
    masks = {
        "cohort": (rules.cohort_mask(rules.reach_mask(5), True, True, True), cohort_bits),
        "closing": (rules.closing_mask(True), {t.CLOSED, t.AT_GRID}),
        "due": (rules.due_mask(True, True), {t.DUE_CLOSED, t.DUE_ON_TIME}),
        "report_slot": (rules.report_slot_mask(True), {h.REPORTED, h.OPENED}),
        "end_slot": (
            rules.end_slot_mask(True, True, True),
            {h.CLOSED, h.AT_GRID, h.SHUT, h.LATE_DONE},
        ),
        "due_slot": (rules.due_slot_mask(True), {h.DUE_DONE, h.DUE_ON_TIME}),
    }
    for name, (mask, bits) in masks.items():
        assert mask == sum(1 << b for b in bits), name


def test_closing_at_the_deadline_is_on_time_and_not_overdue():
    deadline = datetime(2026, 3, 10, 17, 0, tzinfo=CHINA_TZ)
    assert rules.on_time(deadline, deadline) and not rules.overdue(deadline, deadline)
    later = deadline + timedelta(microseconds=1)
    assert not rules.on_time(later, deadline) and rules.overdue(deadline, later)
    assert rules.on_time(later.timestamp(), later.timestamp())  # floats as datetimes
    assert not rules.on_time(later.timestamp(), deadline.timestamp())


# -- (b) and (c): the counters, the rebuild and the drill-down sets ------------------------------
NOW = datetime(2026, 3, 10, 16, 0, tzinfo=CHINA_TZ)
DUE = NOW - timedelta(hours=1)  # the deadline the closes sit around
EARLIER = DUE - timedelta(hours=2)  # when most were reported
SECOND, MICRO = timedelta(seconds=1), timedelta(microseconds=1)
# id: (steps as (type, time, level), deadline)
CASES: dict[str, tuple[list[tuple[str, datetime, int]], datetime]] = {
    "early": ([("reported", EARLIER, 1), ("closed", DUE - 600 * SECOND, 1)], DUE),
    "at-deadline": ([("reported", EARLIER, 1), ("closed", DUE, 1)], DUE),
    "a-second-late": ([("reported", EARLIER, 1), ("closed", DUE + SECOND, 1)], DUE),
    "a-microsecond-late": ([("reported", EARLIER, 1), ("closed", DUE + MICRO, 1)], DUE),
    "at-deadline-l2": (
        [("reported", EARLIER, 1), ("escalated", DUE - 60 * SECOND, 2), ("closed", DUE, 2)],
        DUE,
    ),
    "late-l2": (
        [("reported", EARLIER, 1), ("escalated", DUE, 2), ("closed", DUE + SECOND, 2)],
        DUE,
    ),
    "due-now": ([("reported", EARLIER, 1)], NOW),  # its last moment: not overdue yet
    "overdue": ([("reported", EARLIER, 1)], NOW - MICRO),
    "closed-yesterday": (
        [("reported", NOW - timedelta(days=1, hours=3), 1), ("closed", NOW - timedelta(days=1), 1)],
        NOW - timedelta(days=1),
    ),
}


Cases = dict[str, tuple[list[tuple[str, datetime, int]], datetime]]


def _messages(geo, cases: Cases) -> list[EventMessage]:
    g = a_grid(geo, 3)
    area = AreaRef(g[:6], g[:9], g[:12], g)
    return [
        EventMessage(
            id=incident,
            seq=seq,
            type=kind,
            ts=ts,
            category="zf02",
            level=level,
            area=area,
            lon=geo.grids[g].lon,
            lat=geo.grids[g].lat,
            source="grid_worker",
            title="测试事件",
            deadline=deadline,
        )
        for incident, (steps, deadline) in cases.items()
        for seq, (kind, ts, level) in enumerate(steps, start=1)
    ]


def _live(geo, cases: Cases | None = None) -> State:
    state = State(geo)
    for n, message in enumerate(_messages(geo, cases or CASES)):
        state.apply_event(f"{n + 1}-0", message)
    return state


def _rebuilt(geo, cases: Cases | None = None) -> State:
    state = State(geo)
    state.fold((f"{n + 1}-0", m) for n, m in enumerate(_messages(geo, cases or CASES)))
    assert state.metrics.bulk == set(cases or CASES)  # counted by settle_bulk, one at a time
    return state


def _selected(state: State, key: str, now: datetime = NOW) -> list[str]:
    city = state.geo.city.code
    found = matching(
        state.incidents.values(), Filter.parse({"set": key}), city, city, now, Marks(), SearchText()
    )
    return sorted(i.id for i in found)


def _on_time_at_the_mark(state: State) -> int:
    """Due today and closed on time before ``NOW``'s 10-minute mark, from the 10-minute
    rows."""
    return state.metrics.hourly.at(state.geo.city.code, NOW.timestamp())[h.DUE_ON_TIME]


@pytest.mark.parametrize("build", [_live, _rebuilt], ids=["live", "rebuilt"])
def test_drill_down_sets_select_what_the_counters_count(geo, build):
    state = build(geo)
    figures = state.metrics.figures(geo.city.code, NOW)
    for key in SETS:
        if key in figures:
            assert len(_selected(state, key)) == figures[key], key
    assert _selected(state, "closed_on_time") == ["at-deadline", "at-deadline-l2", "early"]
    assert _selected(state, "closed_at_grid") == [
        "a-microsecond-late",
        "a-second-late",
        "at-deadline",
        "early",
    ]
    assert _selected(state, "overdue") == ["overdue"]
    assert _selected(state, "due_soon") == ["due-now"]
    assert _on_time_at_the_mark(state) == figures["closed_on_time"] == 3


# a changed rule, and the incidents each path must then select
CHANGED = {
    "on_time, strictly before": (
        "on_time",
        lambda close_ts, deadline: close_ts < deadline,
        "closed_on_time",
        ["early"],
    ),
    "at_grid, up to level 2": (
        "at_grid",
        lambda level: level <= 2,
        "closed_at_grid",
        sorted(i for i in CASES if i not in ("due-now", "overdue", "closed-yesterday")),
    ),
}


@pytest.mark.parametrize("case", CHANGED, ids=list(CHANGED))
def test_a_rule_changed_in_rules_changes_the_fold_the_rebuild_and_the_sets(geo, monkeypatch, case):
    name, rule, key, expected = CHANGED[case]
    monkeypatch.setattr(rules, name, rule)
    live, rebuilt = _live(geo), _rebuilt(geo)
    for state in (live, rebuilt):
        figures = state.metrics.figures(geo.city.code, NOW)
        assert figures[key] == len(expected), key
        assert _selected(state, key) == expected
    if name == "on_time":
        assert _on_time_at_the_mark(live) == _on_time_at_the_mark(rebuilt) == 1
    for area in (geo.city.code, a_grid(geo, 3)):
        assert live.metrics.figures(area, NOW) == rebuilt.metrics.figures(area, NOW), area


# -- what is due, at midnight: today's deadlines closed, and every incident open past its own ----
MIDNIGHT = datetime(2026, 3, 10, tzinfo=CHINA_TZ)
JUST_AFTER = MIDNIGHT + timedelta(minutes=30)
BEFORE = MIDNIGHT - timedelta(hours=5)  # when they were reported
EDGE_CASES: Cases = {
    "due-at-midnight": ([("reported", BEFORE, 1)], MIDNIGHT),  # open: overdue
    "due-a-microsecond-before": ([("reported", BEFORE, 1)], MIDNIGHT - MICRO),  # overdue
    "closed-today-due-yesterday": (  # handled yesterday's due late: not today's
        [("reported", BEFORE, 1), ("closed", MIDNIGHT + 600 * SECOND, 1)],
        MIDNIGHT - 3600 * SECOND,
    ),
    "closed-yesterday-due-tonight": (  # handled early: today's
        [("reported", BEFORE, 1), ("closed", BEFORE + 600 * SECOND, 1)],
        MIDNIGHT + timedelta(days=1) - MICRO,
    ),
    "closed-due-tomorrow": (
        [("reported", BEFORE, 1), ("closed", BEFORE + 600 * SECOND, 1)],
        MIDNIGHT + timedelta(days=1),
    ),
    "due-later-today": ([("reported", BEFORE, 1)], MIDNIGHT + timedelta(hours=9)),  # not yet
}


@pytest.mark.parametrize("build", [_live, _rebuilt], ids=["live", "rebuilt"])
def test_what_is_due_at_midnight_is_the_same_on_every_path(geo, build):
    state = build(geo, EDGE_CASES)
    f = state.metrics.figures(geo.city.code, JUST_AFTER)
    assert (f["due"], f["due_closed"], f["overdue"], f["closed_on_time"]) == (3, 1, 2, 1)
    assert f["closed"] == 1
    for key in ("due", "due_closed", "closed_on_time"):
        assert len(_selected(state, key, JUST_AFTER)) == f[key], key
    due = _selected(state, "due", JUST_AFTER)
    assert due == ["closed-yesterday-due-tonight", "due-a-microsecond-before", "due-at-midnight"]
    at_mark = state.metrics.hourly.at(geo.city.code, JUST_AFTER.timestamp())
    assert (
        at_mark[h.DUE_DONE],
        at_mark[h.DUE_ON_TIME],
        at_mark[h.LATE] - at_mark[h.LATE_DONE],
    ) == (
        1,
        1,
        2,
    )
