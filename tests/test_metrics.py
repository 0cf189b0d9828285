"""Each formula of docs/metrics.md on hand-made incidents whose answers are known."""

from __future__ import annotations

import random
from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from dashboard.analytics import AnalyticsConfig
from dashboard.state import State
from dashboard.views.kpis import headline
from feeds.deadlines import deadline_for
from feeds.schema import CHINA_TZ, AreaRef, EventMessage, PositionMessage
from tests.factories import a_grid

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=CHINA_TZ)  # an ordinary Tuesday
CITY = "330200"


def life(
    geo,
    incident: str,
    steps: list[tuple[str, float, int]],
    *,
    start: datetime = T0,
    category: str = "zf02",
    grid: int | str = 0,
    deadline: datetime | None = None,
    source: str = "grid_worker",
    offset_m: tuple[float, float] = (0.0, 0.0),
) -> list[EventMessage]:
    """Steps of one incident: (type, minutes after ``start``, level); seq in list order."""
    g = grid if isinstance(grid, str) else a_grid(geo, grid)
    area = AreaRef(g[:6], g[:9], g[:12], g)
    lon = geo.grids[g].lon + offset_m[0] / 96_700
    lat = geo.grids[g].lat + offset_m[1] / 111_320
    due = deadline or deadline_for(category, start)
    return [
        EventMessage(
            id=incident,
            seq=seq,
            type=kind,
            ts=start + timedelta(minutes=minutes),
            category=category,
            level=level,
            area=area,
            lon=lon,
            lat=lat,
            source=source,
            title="测试事件",
            deadline=due,
        )
        for seq, (kind, minutes, level) in enumerate(steps, start=1)
    ]


def fold(geo, *messages: EventMessage, state: State | None = None) -> State:
    state = state or State(geo)
    for n, message in enumerate(messages):
        state.apply_event(f"{n + 1}-0", message)
    return state


def fix(geo, worker: str, at: datetime, status: str = "patrolling", grid: int | str = 0):
    g = grid if isinstance(grid, str) else a_grid(geo, grid)
    return PositionMessage(
        worker=worker,
        ts=at,
        lon=geo.grids[g].lon,
        lat=geo.grids[g].lat,
        grid=g,
        status=status,
    )


ROUTINE = [("reported", 0, 1), ("handled", 30, 1), ("closed", 50, 1)]


def test_zero_denominators_give_none_not_errors(geo):
    figures = State(geo).metrics.figures(CITY, T0)
    for key in (
        "disposal_rate",
        "on_time_rate",
        "self_closure_rate",
        "reopen_rate",
        "escalation_rate",
        "overdue_share",
        "median_close_min",
        "median_close_min.zf02",
    ):
        assert figures[key] is None, key
    assert figures["reported"] == figures["open"] == figures["online"] == 0
    assert figures["patrol_coverage"] == 0.0 and figures["events_per_10k"] == 0.0
    unknown = State(geo).metrics.figures("999999", T0)
    assert unknown["patrol_coverage"] is None and unknown["events_per_10k"] is None


def test_routine_incident_counts_once_in_every_area_of_its_chain(geo):
    state = fold(geo, *life(geo, "A", ROUTINE))
    due = state.incidents["A"].deadline  # zf02: working days, so not today
    g = a_grid(geo, 0)
    for area in (CITY, g[:6], g[:9], g):
        f = state.metrics.figures(area, T0 + timedelta(hours=1))
        assert (f["reported"], f["closed"], f["open"]) == (1, 1, 0), area
        assert f["self_closure_rate"] == 1.0
        # closed before its deadline's day: in that day's due cohort, not today's
        assert f["due"] == 0 and f["disposal_rate"] is None and f["on_time_rate"] is None
        assert f["median_close_min"] == f["median_close_min.zf02"] == 50.0
        on_the_day = state.metrics.figures(area, due + timedelta(hours=1))
        assert (on_the_day["due"], on_the_day["due_closed"], on_the_day["closed"]) == (1, 1, 0)
        assert on_the_day["disposal_rate"] == on_the_day["on_time_rate"] == 1.0
    other = next(c for c in geo.counties if c != g[:6])
    assert state.metrics.figures(other, T0)["reported"] == 0


def test_incident_escalated_twice_then_closed(geo):
    steps = [
        ("reported", 0, 1),
        ("escalated", 20, 2),
        ("escalated", 60, 3),
        ("handled", 200, 3),
        ("closed", 240, 3),
    ]
    f = fold(geo, *life(geo, "B", steps)).metrics.figures(CITY, T0 + timedelta(hours=5))
    assert (f["escalated_l2"], f["escalated_l3"], f["escalated_l4"]) == (1, 1, 0)
    assert f["escalation_rate"] == f["escalation_rate_l3"] == 1.0
    assert f["escalation_rate_l4"] == 0.0
    assert f["self_closure_rate"] == 0.0  # closed at the town, not by the grid
    assert f["median_close_min"] == 240.0


def test_reopened_after_close_is_open_again_then_counts_one_reopen(geo):
    steps = [
        ("reported", 0, 1),
        ("handled", 10, 1),
        ("closed", 20, 1),
        ("reopened", 100, 1),
        ("handled", 130, 1),
        ("closed", 150, 1),
    ]
    messages = life(geo, "C", steps, deadline=T0 + timedelta(hours=1))
    state = fold(geo, *messages[:4])
    f = state.metrics.figures(CITY, T0 + timedelta(hours=2))
    assert (f["open"], f["closed"], f["disposal_rate"]) == (1, 0, 0.0)  # due, open again
    assert f["reopen_rate"] == 1.0
    f = fold(geo, *messages[4:], state=state).metrics.figures(CITY, T0 + timedelta(hours=3))
    assert (f["open"], f["closed"], f["disposal_rate"], f["reopen_rate"]) == (0, 1, 1.0, 1.0)
    assert f["on_time_rate"] == 0.0  # the close that counts is the last, after the deadline
    assert f["median_close_min"] == 150.0  # from the report to the final close


def test_deadline_spanning_a_weekend_and_a_public_holiday(geo):
    friday = datetime(2026, 4, 3, 14, 0, tzinfo=CHINA_TZ)  # then Sat, Sun, Mon 清明 off
    state = fold(geo, *life(geo, "D", [("reported", 0, 1)], start=friday))
    due = datetime(2026, 4, 7, 14, 0, tzinfo=CHINA_TZ)
    assert state.incidents["D"].deadline == due

    def at(moment: datetime) -> tuple[object, ...]:
        f = state.metrics.figures(CITY, moment)
        return f["open"], f["due_soon"], f["overdue"]

    assert at(datetime(2026, 4, 6, 13, 0, tzinfo=CHINA_TZ)) == (1, 0, 0)  # holiday Monday
    assert at(due - timedelta(minutes=90)) == (1, 1, 0)
    assert at(due + timedelta(minutes=1)) == (1, 0, 1)
    assert at(due - timedelta(days=1)) == (1, 0, 0)  # the clock may be asked about the past


def test_rates_are_over_what_is_due_not_over_todays_reports(geo):
    """处置率 and 按期办结率 are over what is due: the incidents due today that are closed, and
    every open one past its deadline. Not over today's reports, most of them still inside
    their time limit."""
    now = T0 + timedelta(hours=3)  # Tuesday 12:00
    monday = T0 - timedelta(days=1)

    def one(name: str, steps, start: datetime, due: datetime) -> list[EventMessage]:
        return life(geo, name, steps, start=start, deadline=due, grid=len(name))

    def minutes(m: float) -> list[tuple[str, float, int]]:
        return [("reported", 0, 1), ("closed", m, 1)]

    f = fold(
        geo,
        *one("late", minutes(26 * 60), monday, T0 + timedelta(hours=1)),  # closed 11:00
        *one("stuck", [("reported", 0, 1)], monday, T0 + timedelta(hours=1.5)),  # overdue
        *one("in-time", minutes(50), T0, T0 + timedelta(hours=2)),
        *one("early", minutes(60), T0, T0 + timedelta(hours=7)),  # due 16:00, closed
        *one("not-yet", [("reported", 0, 1)], T0, T0 + timedelta(hours=6)),  # open, due 15:00
        *one("tomorrow", minutes(60), T0, T0 + timedelta(days=1)),  # closed, due tomorrow
        *one("backlog", [("reported", 0, 1)], monday, monday + timedelta(hours=4)),  # overdue
        *one("done-late", minutes(25 * 60), monday, monday + timedelta(hours=4)),  # yesterday's
    ).metrics.figures(CITY, now)
    assert (f["due"], f["due_closed"], f["overdue"], f["closed_on_time"]) == (5, 3, 2, 2)
    assert f["disposal_rate"] == 3 / 5  # late, in-time and early; stuck and backlog are not
    assert f["on_time_rate"] == 2 / 5  # late counts against too
    assert (f["closed"], f["reported"]) == (5, 4)
    assert f["overdue_share"] == 2 / 3


def test_todays_cohort_excludes_yesterdays_reports_closed_today(geo):
    old = life(
        geo,
        "Y",
        [("reported", 0, 1), ("closed", 24 * 60 + 30, 1)],
        start=T0 - timedelta(days=1),
        category="zz06",
    )
    f = fold(geo, *old).metrics.figures(CITY, T0 + timedelta(hours=1))
    assert (f["reported"], f["closed"], f["disposal_rate"]) == (0, 1, None)
    yesterday = fold(geo, *old).metrics.figures(CITY, T0 - timedelta(hours=20))
    assert (yesterday["reported"], yesterday["reported_closed"]) == (1, 1)


def test_median_of_an_even_count_is_the_mean_of_the_middle_two(geo):
    messages = []
    for n, minutes in enumerate((10, 20, 40, 600)):
        messages += life(geo, f"M{n}", [("reported", 0, 1), ("closed", minutes, 1)], grid=n)
    f = fold(geo, *messages).metrics.figures(CITY, T0 + timedelta(hours=12))
    assert f["median_close_min"] == 30.0


def test_duplicates_and_shuffles_leave_every_figure_unchanged(geo):
    messages = []
    for n in range(30):
        steps = ROUTINE if n % 3 else [("reported", 0, 1), ("escalated", 9, 2)]
        messages += life(geo, f"R{n}", steps, grid=n, start=T0 + timedelta(minutes=n))
    reference = fold(geo, *messages)
    rng = random.Random(3)
    noisy = messages + rng.sample(messages, 25)
    rng.shuffle(noisy)
    state = fold(geo, *noisy)
    now = T0 + timedelta(hours=4)
    for area in (CITY, *geo.counties):
        assert state.metrics.figures(area, now) == reference.metrics.figures(area, now)


def test_events_per_10k_residents_uses_the_area_population(geo):
    g = a_grid(geo, 0)
    messages = life(geo, "P0", ROUTINE) + life(geo, "P1", ROUTINE) + life(geo, "P2", ROUTINE)
    f = fold(geo, *messages).metrics.figures(g[:9], T0 + timedelta(hours=1))
    assert f["events_per_10k"] == pytest.approx(3 * 10_000 / geo.towns[g[:9]].population)


def test_village_figures_add_its_grids_and_its_incidents_without_a_grid(geo):
    village = next(v for v in geo.villages if sum(g[:12] == v for g in geo.grids) >= 2)
    g1, g2 = sorted(g for g in geo.grids if g[:12] == village)[:2]
    elsewhere = next(g for g in geo.grids if g[:9] == village[:9] and g[:12] != village)
    gridless = [
        EventMessage(**{**msgspec.structs.asdict(m), "area": AreaRef(g1[:6], g1[:9], village)})
        for m in life(geo, "C", [("reported", 10, 1), ("closed", 100, 1)])
    ]
    state = fold(
        geo,
        *life(geo, "A", ROUTINE, grid=g1),  # closed in 50 minutes
        *life(geo, "B", [("reported", 0, 1), ("escalated", 20, 2)], grid=g2),  # open
        *gridless,  # closed in 90 minutes
        *life(geo, "D", ROUTINE, grid=elsewhere),  # the same town, another village
    )
    for n, message in enumerate([fix(geo, "W1", T0, grid=g1), fix(geo, "W2", T0, grid=g2)]):
        state.apply_position(f"p{n}-0", message)
    f = state.metrics.figures(village, T0 + timedelta(hours=2))
    assert (f["reported"], f["open"], f["closed"], f["escalated_l2"]) == (3, 1, 2, 1)
    assert f["median_close_min"] == 70.0  # of 50 and 90
    assert f["self_closure_rate"] == 1.0
    due = state.incidents["A"].deadline  # all four were reported at T0 in zf02
    on_the_day = state.metrics.figures(village, due + timedelta(hours=1))
    assert on_the_day["disposal_rate"] == pytest.approx(2 / 3)  # A and C of A, B, C
    grids = sum(g[:12] == village for g in geo.grids)
    assert (f["grids"], f["grids_visited"], f["patrol_visits"]) == (grids, 2, 2)
    assert f["patrol_workers"] == 2
    assert f["online"] == 0 and f["population"] == geo.villages[village].population
    town = state.metrics.figures(village[:9], T0 + timedelta(hours=2))
    assert (town["reported"], town["closed"]) == (4, 3)  # the grid-less one counted once
    assert state.metrics.figures(g1, T0 + timedelta(hours=2))["reported"] == 1


def test_patrol_visits_coverage_and_online_from_positions(geo):
    state = State(geo)
    g0, g1 = a_grid(geo, 0), a_grid(geo, 1)
    fixes = [
        fix(geo, "W1", T0, grid=0),
        fix(geo, "W1", T0 + timedelta(minutes=1), grid=0),
        fix(geo, "W2", T0, grid=1),
        fix(geo, "W2", T0 + timedelta(minutes=2), "offline", grid=1),
        fix(geo, "W3", T0 - timedelta(days=1), grid=1),  # yesterday: not today's visit
        fix(geo, "W4", T0 + timedelta(minutes=3), "offline", grid=0),  # never on duty today
    ]
    for n, message in enumerate(fixes):
        state.apply_position(f"{n}-0", message)
    state.apply_position("9-0", fix(geo, "W1", T0 - timedelta(minutes=5), grid=1))  # late
    f = state.metrics.figures(CITY, T0 + timedelta(minutes=4))
    assert f["patrol_visits"] == 3  # W1@g0, W2@g1, and W1's late fix @g1
    assert f["patrol_workers"] == 2  # W1 and W2 patrolled today ...
    assert f["online"] == 1  # ... but only W1 is online: W2 signed off; W3 is a day old
    assert f["grids_visited"] == 2
    assert f["patrol_coverage"] == pytest.approx(2 / len(geo.grids))
    assert state.metrics.figures(g1, T0 + timedelta(minutes=4))["patrol_workers"] == 2
    assert state.metrics.figures(g0, T0 + timedelta(minutes=4))["patrol_coverage"] == 1.0
    assert state.metrics.figures(CITY, T0 + timedelta(minutes=7))["online"] == 0
    assert state.metrics.figures(g1, T0 + timedelta(minutes=4))["online"] == 0


def test_headline_keeps_the_walls_five_counters(geo):
    state = fold(geo, *life(geo, "H", ROUTINE), *life(geo, "H2", ROUTINE[:1], grid=3))
    kpis = headline(state, CITY, T0 + timedelta(hours=1))
    assert {k: kpis[k] for k in ("reported", "open", "closed", "overdue", "online")} == {
        "reported": 2,
        "open": 1,
        "closed": 1,
        "overdue": 0,
        "online": 0,
    }


def test_fold_on_top_of_a_live_state_equals_applying_one_by_one(geo):
    messages = []
    for n in range(40):
        steps = ROUTINE if n % 4 else [("reported", 0, 1), ("escalated", 5, 2), ("closed", 9, 2)]
        messages += life(geo, f"F{n}", steps, grid=n, start=T0 + timedelta(minutes=n))
    random.Random(5).shuffle(messages)
    stepwise = fold(geo, *messages, *messages[:7])
    folded = fold(geo, *messages[:30])
    folded.fold((f"{n + 31}-0", m) for n, m in enumerate(messages[30:] + messages[:7]))
    now = T0 + timedelta(hours=2)
    for area in (CITY, *geo.counties):
        assert folded.metrics.figures(area, now) == stepwise.metrics.figures(area, now)
    assert +folded.counters == +stepwise.counters and folded.duplicates == 7
    assert [a.message.id for a in folded.recent] == [a.message.id for a in stepwise.recent]


def test_every_figure_and_setting_is_documented(geo):
    doc = (Path(__file__).parent.parent / "docs" / "metrics.md").read_text()
    keys = {key.split(".")[0] for key in State(geo).metrics.figures(CITY, T0)}
    missing = sorted(k for k in keys if f"`{k}`" not in doc)
    assert not missing, f"figures missing from docs/metrics.md: {missing}"
    undocumented = [f.name for f in fields(AnalyticsConfig) if f"`{f.name}`" not in doc]
    assert not undocumented, f"settings missing from docs/metrics.md: {undocumented}"
