"""The duty table's filter, search and KPI sets, on hand-made incidents with known answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.state import State
from dashboard.views.initials import initials
from dashboard.views.search import SETS, Filter, Marks, SearchText, matching, sort
from dashboard.views.table import countdown, row
from feeds.schema import CHINA_TZ, decode_trusted
from tests.factories import event_dict, line

# a fixed local afternoon: the steps lie in the hour before it, and "today" must hold them
# whenever the suite runs (just after local midnight the hour before now is yesterday)
NOW = datetime(2026, 12, 5, 15, 0, tzinfo=CHINA_TZ).astimezone(UTC)


def _fold(geo, events: list[dict]) -> State:
    state = State(geo)
    for n, e in enumerate(events):
        state.apply_event(f"{n + 1}-0", decode_trusted(line(e)))
    return state


def _at(minutes: float) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat()


def _incident(geo, index: int, **overrides) -> dict:
    return event_dict(geo, index, id=f"Q-{index}", **overrides)


def _steps(geo, index: int, types: list[tuple[str, int, float]], **overrides) -> list[dict]:
    """The steps of one incident: (type, level, minutes from now) each."""
    return [
        _incident(geo, index, seq=n + 1, type=t, level=level, ts=_at(m), **overrides)
        for n, (t, level, m) in enumerate(types)
    ]


@pytest.fixture
def state(geo) -> State:
    events = []
    events += _steps(
        geo, 1, [("reported", 1, -60)], title="井盖缺失", detail="幸福路12号井盖不见了"
    )
    events += _steps(  # closed in time, due later today: in today's due cohort
        geo, 2, [("reported", 1, -50), ("closed", 1, -10)], category="sc01", deadline=_at(60)
    )
    events += _steps(
        geo,
        3,
        [("reported", 1, -40), ("escalated", 2, -30), ("escalated", 3, -20)],
        deadline=_at(-5),  # overdue now
    )
    events += _steps(geo, 4, [("reported", 1, -30), ("closed", 2, -1)], deadline=_at(-3))  # late
    events += _steps(geo, 5, [("reported", 1, -20)], deadline=_at(60), source="hotline_12345")
    return _fold(geo, events)


def _find(state: State, raw: dict, marks: Marks | None = None) -> list[str]:
    found = matching(
        state.incidents.values(),
        Filter.parse(raw),
        state.geo.city.code,
        state.geo.city.code,
        NOW,
        marks or Marks(),
        SearchText(),
    )
    return sorted(i.id for i in found)


def test_parse_keeps_only_known_values():
    f = Filter.parse(
        {"cat": "zf02,xx99", "level": "1,9", "status": "bogus", "flag": "overdue", "q": " 井盖 "}
    )
    assert f.cat == ("zf02",) and f.level == (1,) and f.status == "" and f.flag == "overdue"
    assert f.q == "井盖"
    assert Filter.parse(f.query()) == f  # the URL form round-trips


def test_pinyin_initials():
    assert initials("井盖缺失") == "jgqs"
    assert initials("12345热线") == "12345rx"


def test_search_by_substring_detail_and_pinyin(state):
    assert _find(state, {"q": "井盖"}) == ["Q-1"]
    assert _find(state, {"q": "幸福路"}) == ["Q-1"]  # a word of the detail only
    assert _find(state, {"q": "JGQS"}) == ["Q-1"]
    assert _find(state, {"q": "nothing-like-this"}) == []


def test_filters_combine(state, geo):
    assert _find(state, {"status": "closed"}) == ["Q-2", "Q-4"]
    assert _find(state, {"cat": "sc01"}) == ["Q-2"]
    assert _find(state, {"platform": "sc"}) == ["Q-2"]
    assert _find(state, {"level": "3"}) == ["Q-3"]
    assert _find(state, {"source": "hotline_12345"}) == ["Q-5"]
    assert _find(state, {"flag": "overdue"}) == ["Q-3"]
    assert _find(state, {"flag": "due_soon"}) == ["Q-5"]
    county = state.incidents["Q-1"].area.county
    in_county = sorted(i.id for i in state.incidents.values() if i.area.county == county)
    assert _find(state, {"area": county}) == in_county
    grid = state.incidents["Q-1"].area.grid
    assert _find(state, {"area": grid}) == ["Q-1"]
    marks = Marks(acknowledged={"Q-1"}, supervised={"Q-5"})
    assert _find(state, {"flag": "supervised"}, marks) == ["Q-5"]
    assert _find(state, {"flag": "unacknowledged"}, marks) == ["Q-3", "Q-5"]


def test_an_area_outside_the_scope_falls_back_to_the_scope(state):
    county = state.incidents["Q-1"].area.county
    other = next(c for c in state.geo.counties if c != county)
    found = matching(
        state.incidents.values(),
        Filter(area=other),
        county,
        state.geo.city.code,
        NOW,
        Marks(),
        SearchText(),
    )
    assert {i.area.county for i in found} == {county}


def test_kpi_sets_match_the_figures(state):
    """Each KPI's incidents, as the table lists them, number what the KPI says."""
    figures = state.metrics.figures(state.geo.city.code, NOW)
    for key in SETS:
        if key in figures:
            assert len(_find(state, {"set": key})) == figures[key], key
    assert _find(state, {"set": "closed_on_time"}) == ["Q-2"]
    assert _find(state, {"set": "due_closed"}) == ["Q-2", "Q-4"]  # Q-4 late
    assert _find(state, {"set": "due"}) == ["Q-2", "Q-3", "Q-4"]  # and Q-3 overdue; not Q-5


def test_sort_and_row(state, geo):
    found = sort(list(state.incidents.values()), "reported", True, geo)
    assert [i.id for i in found] == ["Q-5", "Q-4", "Q-3", "Q-2", "Q-1"]
    by_deadline = sort(list(state.incidents.values()), "deadline", False, geo)
    assert by_deadline[0].id == "Q-3"
    r = row(state.incidents["Q-3"], geo, NOW, Marks(supervised={"Q-3"}), reveal=False)
    assert r["status"] == "已超期" and r["overdue"] and r["supervised"] and r["level"] == "镇街"
    assert r["left"] == "超 5分"
    assert countdown(3 * 3600 + 12 * 60) == "剩 3小时12分"
