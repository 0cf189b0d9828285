"""The wall's "vs yesterday at the same time", and patrol visits that survive a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard.analytics.hourly import SLOT_S
from dashboard.live.actions import ActionBook
from dashboard.live.rebuild import rebuild
from dashboard.state import State
from dashboard.views.kpis import yesterday
from feeds.bus import EVENTS, POSITIONS, Bus
from feeds.schema import CHINA_TZ
from tests.factories import a_grid
from tests.test_metrics import CITY, ROUTINE, fix, fold, life

NOW = datetime(2026, 3, 11, 9, 45, tzinfo=CHINA_TZ)  # a Wednesday morning
Y = datetime(2026, 3, 10, tzinfo=CHINA_TZ)  # yesterday's midnight
MARK = Y + timedelta(hours=9, minutes=40)  # the last 10-minute mark 24 hours before NOW
HEADLINE = ("reported", "patrol_workers", "patrol_visits", "open", "overdue", "closed")
RATES = ("disposal_rate", "on_time_rate", "self_closure_rate")


def a_day_and_a_half(geo) -> tuple[list, list]:
    """Steps and fixes from the day before yesterday to now, with known figures at MARK."""
    steps = [
        # A: reported 08:00, closed at the grid 08:50, before its deadline at 09:30
        *life(geo, "A", ROUTINE, start=Y + timedelta(hours=8), deadline=Y + timedelta(hours=9.5)),
        # B: reported 08:30, due 09:00, still open: overdue from the 09:10 mark on
        *life(
            geo,
            "B",
            [("reported", 0, 1)],
            start=Y + timedelta(hours=8, minutes=30),
            deadline=Y + timedelta(hours=9),
        ),
        # C: reported 10:00, after the mark
        *life(geo, "C", ROUTINE, start=Y + timedelta(hours=10)),
        # D: the day before yesterday, overdue since, closed today at 08:00
        *life(
            geo,
            "D",
            [("reported", 0, 1), ("closed", 41 * 60, 2)],
            start=Y - timedelta(hours=9),
            deadline=Y - timedelta(hours=8),
        ),
        # E: reported yesterday 09:00 and closed a day later: open at the mark
        *life(geo, "E", [("reported", 0, 1), ("closed", 24 * 60, 1)], start=Y + timedelta(hours=9)),
        # Z: the day before yesterday, just after midnight, closed within the hour: the log
        # reaches back far enough for the standing figures (open, overdue, the rates)
        *life(
            geo,
            "Z",
            [("reported", 0, 1), ("closed", 50, 1)],
            start=Y - timedelta(days=1, minutes=-5),
            deadline=Y - timedelta(hours=20),
        ),
    ]
    fixes = [
        fix(geo, "W1", Y + timedelta(hours=7), grid=0),
        fix(geo, "W1", Y + timedelta(hours=11), grid=0),  # the same visit
        fix(geo, "W2", Y + timedelta(hours=9, minutes=50), grid=1),  # after the mark
        fix(geo, "W3", Y + timedelta(hours=8), "offline", grid=1),  # not on duty
        fix(geo, "W4", Y + timedelta(hours=8), grid=0),  # a second worker in W1's grid
        fix(geo, "W1", NOW - timedelta(minutes=30), grid=0),  # today
    ]
    return steps, fixes


def fed(geo, steps, fixes, until: datetime | None = None) -> State:
    state = fold(geo, *[s for s in steps if until is None or s.ts < until])
    for n, message in enumerate(f for f in fixes if until is None or f.ts < until):
        state.apply_position(f"p{n}-0", message)
    return state


def test_yesterday_at_the_same_time_has_the_known_figures(geo):
    state = fed(geo, *a_day_and_a_half(geo))
    then = yesterday(state, CITY, NOW)
    # reported A, B, E (C is later); W1 and W4 patrolled (two visits); closed A; open B, D, E;
    # overdue B, D
    assert [then[k] for k in HEADLINE] == [3, 2, 2, 3, 2, 1]
    assert then["self_closure_rate"] == 1.0
    # due by the mark: A (due that day, closed in time), B and D (open past their deadlines);
    # not E (due later)
    assert then["disposal_rate"] == then["on_time_rate"] == 1 / 3
    assert "online" not in then  # no day-old positions to count from
    county = a_grid(geo, 0)[:6]
    assert yesterday(state, county, NOW)["reported"] == 3
    other = next(c for c in geo.counties if c != county)
    assert yesterday(state, other, NOW)["reported"] == 0


def test_yesterday_equals_the_figures_a_state_of_that_moment_showed(geo):
    steps, fixes = a_day_and_a_half(geo)
    then = fed(geo, steps, fixes, until=MARK).metrics.figures(CITY, MARK)
    now = yesterday(fed(geo, steps, fixes), CITY, NOW)
    assert {k: then[k] for k in HEADLINE + RATES} == now
    for minutes in range(0, 24 * 60, 50):  # and at every other mark of the day
        mark = Y + timedelta(minutes=minutes // 10 * 10)
        then = fed(geo, steps, fixes, until=mark).metrics.figures(CITY, mark)
        later = yesterday(fed(geo, steps, fixes), CITY, mark + timedelta(days=1, minutes=5))
        # the patrols compare once a fix is known before the mark (W1's, at 07:00)
        patrols = mark > Y + timedelta(hours=7)
        keys = [k for k in HEADLINE + RATES if patrols or not k.startswith("patrol_")]
        assert {k: then[k] for k in keys} == later, mark


def test_late_steps_move_yesterdays_figures_and_a_rebuild_agrees(geo):
    steps, fixes = a_day_and_a_half(geo)
    state = fed(geo, steps, fixes)
    late = life(
        geo,
        "B",
        [("reported", 0, 1), ("closed", 50, 1)],
        start=Y + timedelta(hours=8, minutes=30),
        deadline=Y + timedelta(hours=9),
    )[1]
    fold(geo, late, state=state)  # B was closed at 09:20, the step arrives only now
    then = yesterday(state, CITY, NOW)
    assert (then["closed"], then["open"], then["overdue"]) == (2, 2, 1)
    rebuilt = State(geo)
    rebuilt.fold((f"{n}-0", m) for n, m in enumerate([*steps, late]))
    for message in fixes:
        rebuilt.apply_position("0-0", message)
    assert yesterday(rebuilt, CITY, NOW) == then


def test_no_comparison_without_history_from_yesterdays_start(geo):
    steps, fixes = a_day_and_a_half(geo)
    patrols = {"patrol_workers", "patrol_visits"}  # the fixes reach back: those compare
    today_only = fed(geo, [s for s in steps if s.ts >= Y + timedelta(days=1)], fixes)
    assert set(yesterday(today_only, CITY, NOW)) == patrols
    assert yesterday(State(geo), CITY, NOW) == {}
    from_noon = fed(geo, [s for s in steps if s.ts >= Y + timedelta(hours=9)], fixes)
    assert set(yesterday(from_noon, CITY, NOW)) == patrols  # no half a morning's incidents
    assert SLOT_S == 600


def test_standing_figures_compare_only_with_a_day_of_history_before_yesterday(geo):
    """A log begun at yesterday's midnight (the demo's first day) holds yesterday's reports and
    closes, but not the backlog open then: "在办 ▲ 1,076" compared with a yesterday that had
    none. Open, overdue and the rates over what is due need the day before too."""
    steps, fixes = a_day_and_a_half(geo)
    steps += life(  # a report in yesterday's first 10 minutes: the day's flows are whole
        geo, "M", ROUTINE, start=Y + timedelta(minutes=5), deadline=Y + timedelta(hours=4)
    )
    from_yesterday = fed(geo, [s for s in steps if s.ts >= Y], fixes)
    then = yesterday(from_yesterday, CITY, NOW)
    assert set(then) == {"reported", "closed", "self_closure_rate"} | {
        "patrol_workers",
        "patrol_visits",
    }
    full = yesterday(fed(geo, steps, fixes), CITY, NOW)
    assert {"open", "overdue", "disposal_rate", "on_time_rate"} <= set(full)
    assert {k: full[k] for k in then} == then


def test_no_patrol_comparison_when_positions_began_after_the_mark(geo):
    """The demo's yesterday has incidents but no positions: "较昨日同时 ▲ 8,483" compared
    today's patrols with none at all. Only fixes from before the mark make a comparison."""
    steps, fixes = a_day_and_a_half(geo)
    today_fixes = [f for f in fixes if f.ts >= Y + timedelta(days=1)]
    then = yesterday(fed(geo, steps, today_fixes), CITY, NOW)
    assert "patrol_workers" not in then and "patrol_visits" not in then
    assert then["reported"] == 3  # the incidents' figures still compare
    after_mark = [f for f in fixes if f.ts >= MARK]  # W2 at 09:50, then today's
    assert "patrol_workers" not in yesterday(fed(geo, steps, after_mark), CITY, NOW)


def test_patrol_visits_and_coverage_survive_a_restart(geo, bus: Bus):
    now = datetime.now(UTC)
    g = [a_grid(geo, n) for n in range(4)]
    fixes = [  # within the last minute: today in China (bar 50 s after midnight)
        fix(geo, "W1", now - timedelta(seconds=50), grid=g[0]),
        fix(geo, "W1", now - timedelta(seconds=40), grid=g[1]),
        fix(geo, "W2", now - timedelta(seconds=35), grid=g[1]),
        fix(geo, "W2", now - timedelta(seconds=30), "offline", grid=g[2]),  # not a visit
        fix(geo, "W3", now - timedelta(seconds=20), grid=g[3]),
        fix(geo, "W1", now - timedelta(seconds=45), grid=g[0]),  # late: an earlier fix
        fix(geo, "W1", now - timedelta(seconds=5), grid=g[2]),
    ]
    bus.publish_many(fixes)
    live = State(geo)
    for entry in bus.replay(POSITIONS):
        live.apply_position(entry.sid, entry.message)
    bus.client.delete(bus.keys[POSITIONS])  # the stream keeps only the last half hour anyway
    restarted = State(geo)
    rebuild(bus, restarted, ActionBook())
    areas = [CITY, g[0][:6], g[0][:9], *g, *{x[:12] for x in g}]
    keys = ("patrol_visits", "grids_visited", "patrol_coverage", "online")
    for area in areas:
        before, after = live.metrics.figures(area, now), restarted.metrics.figures(area, now)
        assert [after[k] for k in keys] == [before[k] for k in keys], area
    assert live.metrics.figures(CITY, now)["patrol_visits"] == 5  # W1×3 grids, W2, W3
    at = now + timedelta(days=1)  # and tomorrow's "same time yesterday" agrees too
    assert yesterday(restarted, CITY, at).get("patrol_visits") == yesterday(live, CITY, at).get(
        "patrol_visits"
    )
    assert bus.client.ttl(bus._visits_key(now.astimezone(CHINA_TZ).date())) > 86_400
    assert restarted.last_sid[EVENTS] == "0-0"
