"""The governance index: scores, colours, components that explain them, configurable bounds,
and how it spreads areas on simulated days."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime, timedelta

import pytest

from dashboard.analytics import IndexConfig, explain, index_for
from dashboard.analytics.index import COMPONENTS, AreaIndex, points
from dashboard.state import State
from feeds.schema import CHINA_TZ, EventMessage, PositionMessage
from feeds.sim import Model, SimConfig
from tests.test_metrics import ROUTINE, T0, fold, life

# No promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

NOW = T0 + timedelta(hours=3)


def city_of_routine_work(geo, per_town: int = 1) -> State:
    """In every town, incidents due today closed on time by the grid and one in hand (due
    tomorrow), none late."""
    messages = []
    due = T0 + timedelta(hours=2)
    for town in sorted(geo.towns):
        grids = [g for g in geo.grids if g.startswith(town)]
        for n in range(per_town):
            messages += life(geo, f"{town}-{n}", ROUTINE, grid=grids[n % len(grids)], deadline=due)
        messages += life(geo, f"{town}-open", ROUTINE[:1], grid=grids[-1])
    return fold(geo, *messages)


def grids_of(geo, town: str) -> list[str]:
    return sorted(g for g in geo.grids if g.startswith(town))


def test_county_index_has_every_county_with_score_colour_and_components(geo):
    """Routine work, all on time: every county green and above the standards' 90, none at
    100 (that takes no failure of any kind, and nobody patrolled here)."""
    index = index_for(city_of_routine_work(geo), "county", None, NOW)
    assert set(index) == set(geo.counties)
    for entry in index.values():
        assert 90 < entry["score"] < 100 and entry["colour"] == "green"
        assert set(entry["components"]) == {c.name for c in COMPONENTS}
        for part in entry["components"].values():
            assert {"value", "normalised", "weight"} <= set(part)


def test_town_with_a_backlog_of_overdue_incidents_turns_red_and_says_why(geo):
    state = city_of_routine_work(geo, per_town=3)
    town = sorted(geo.towns)[40]
    late = []
    for n, grid in enumerate(grids_of(geo, town)[:6]):
        late += life(
            geo,
            f"late-{n}",
            [("reported", 0, 1)],
            grid=grid,
            start=T0 - timedelta(days=1),
            category="zz04",
        )  # 4 hours: long overdue
    fold(geo, *late, state=state)
    county = town[:6]
    entry = index_for(state, "town", county, NOW)[town]
    assert entry["colour"] == "red", entry
    reasons = explain(entry)
    assert reasons[0].startswith("超期积压 1000.0‰（参照 5.0‰）扣")
    backlog = entry["components"]["overdue_backlog"]
    assert backlog["value"] == 6 / 6  # six overdue for a day's six reports (yesterday's)
    assert backlog["normalised"] < 50
    others = [e for code, e in index_for(state, "town", county, NOW).items() if code != town]
    assert all(e["colour"] == "green" for e in others)


def test_grid_whose_only_report_today_is_in_hand_stays_green(geo):
    state = city_of_routine_work(geo, per_town=3)
    grid = grids_of(geo, sorted(geo.towns)[7])[5]
    fold(
        geo,
        *life(geo, "g-new", ROUTINE[:1], grid=grid, start=NOW - timedelta(minutes=5)),
        state=state,
    )
    entry = index_for(state, "grid", grid[:9], NOW)[grid]
    on_time = entry["components"]["closed_on_time"]
    assert on_time["value"] is None  # inside its time limit: not due, nothing to measure
    city = index_for(state, "city", None, NOW)[geo.city.code]
    assert on_time["adjusted"] == city["components"]["closed_on_time"]["adjusted"]
    assert entry["colour"] == "green"


def test_grid_with_an_overdue_incident_is_no_longer_green_and_says_why(geo):
    state = city_of_routine_work(geo, per_town=3)
    grid = grids_of(geo, sorted(geo.towns)[7])[0]
    fold(
        geo,
        *life(
            geo,
            "g-late",
            [("reported", 0, 1)],
            grid=grid,
            category="zz04",
            start=T0 - timedelta(days=1),
        ),
        state=state,
    )
    entry = index_for(state, "grid", grid[:9], NOW)[grid]
    assert entry["colour"] == "yellow"  # one case: a warning sign, not yet proof
    assert explain(entry, limit=1)[0].startswith("超期积压")


def test_area_with_nothing_to_measure_scores_like_the_city(geo):
    state = State(geo)
    index = index_for(state, "grid", sorted(geo.towns)[0], NOW)
    city = index_for(state, "city", None, NOW)[geo.city.code]
    assert index and all(e["score"] == city["score"] for e in index.values())
    assert all(
        p["value"] is None
        for e in index.values()
        for name, p in e["components"].items()
        if name != "patrol_coverage"
    )


def test_grid_index_covers_exactly_the_grids_of_the_parent_town(geo):
    town = sorted(geo.towns)[3]
    assert set(index_for(State(geo), "grid", town, NOW)) == set(grids_of(geo, town))


def test_thresholds_are_configurable(geo):
    state = city_of_routine_work(geo)
    strict = IndexConfig(green=100.5, yellow=50)
    colours = {e["colour"] for e in index_for(state, "county", None, NOW, strict).values()}
    assert colours == {"yellow"}


def test_city_is_scored_against_the_targets(geo):
    state = city_of_routine_work(geo)
    fold(
        geo,
        *life(geo, "x", [("reported", 0, 1)], category="zz04", start=T0 - timedelta(days=1)),
        state=state,
    )
    entry = index_for(state, "city", None, NOW)[geo.city.code]
    assert entry["components"]["closed_on_time"]["reference"] == 0.99
    backlog = entry["components"]["overdue_backlog"]  # one overdue for a day's 324 reports:
    assert 90 < backlog["normalised"] < 100  # better than the standard's 5 per 1,000, not perfect
    assert entry["components"]["patrol_coverage"]["normalised"] < 100  # nobody patrolled


def test_points_are_90_at_the_standard_and_do_not_saturate():
    standard = 0.005
    assert points(0.0, standard) == 100.0
    assert points(standard, standard) == 90.0
    assert points(3 * standard, standard) == 80.0 and points(7 * standard, standard) == 70.0
    better = [points(f * standard, standard) for f in (0.1, 0.25, 0.5, 0.75)]
    assert better == sorted(better, reverse=True) and len(set(better)) == 4  # all above 90
    assert points(1.0, standard) > 0  # a town whose every case is late is not off the scale


# -- on simulated days ------------------------------------------------------------------------
THURSDAY = datetime(2026, 3, 12, tzinfo=CHINA_TZ)
DAYS = 4  # Thursday fills the backlog a real day starts with; Friday to Sunday are scored
MARKS = (10, 15, 20)  # hours of the day the indices are read

Scores = dict[str, dict[str, AreaIndex]]  # level -> area -> index


def first_fixes(model: Model, days: int) -> list[PositionMessage]:
    """Each worker's first on-duty fix of every day (at its shift's start, or at midnight for a
    night shift running over it): what patrol coverage counts, without 10 million positions."""
    fixes = []
    for day in range(days):
        midnight = THURSDAY + timedelta(days=day)
        for worker in model.roster.workers:
            for start in (midnight, midnight - timedelta(days=1)):
                begins = start + timedelta(minutes=worker.shift_start)
                at = max(begins, midnight)
                if at < begins + timedelta(minutes=worker.shift_minutes):
                    grid = model.roster.geo.grids[worker.grid]
                    fixes.append(
                        PositionMessage(
                            worker=worker.id,
                            ts=at,
                            lon=grid.lon,
                            lat=grid.lat,
                            grid=worker.grid,
                            status="patrolling",
                        )
                    )
                    break
    return sorted(fixes, key=lambda fix: fix.ts)


@pytest.fixture(scope="module")
def simulated_days(geo) -> dict[datetime, Scores]:
    """Four simulated days from a Thursday (seed 7: 10,000 workers, 8,000 incidents a day),
    folded as they happen; the city's, counties' and towns' indices at each mark from Friday
    on (Saturday and Sunday have few deadlines: working-day limits fall on weekdays)."""
    end = THURSDAY + timedelta(days=DAYS)
    model = Model(
        geo, SimConfig(seed=7, workers=10_000), THURSDAY, positions=False, arrivals_until=end
    )
    steps = [m for m in model.messages(end) if isinstance(m, EventMessage)]
    fixes = first_fixes(model, DAYS)
    state, marks, done, seen = State(geo), {}, 0, 0
    for day in range(1, DAYS):
        for hour in MARKS:
            mark = THURSDAY + timedelta(days=day, hours=hour)
            upto = next((n for n in range(done, len(steps)) if steps[n].ts > mark), len(steps))
            state.fold((f"{n + 1}-0", steps[n]) for n in range(done, upto))
            done = upto
            while seen < len(fixes) and fixes[seen].ts <= mark:
                state.apply_position(f"{seen + 1}-1", fixes[seen])
                seen += 1
            marks[mark] = {
                lv: index_for(state, lv, None, mark) for lv in ("city", "county", "town")
            }
    return marks


def _scores(entries: dict[str, AreaIndex]) -> list[float]:
    return [entry["score"] for entry in entries.values()]


def test_index_tells_counties_and_towns_apart_on_ordinary_days(simulated_days):
    """Four counties tied at 100 and every county green was the saturated index: on every
    mark the counties' scores now spread, and no area is at exactly 100."""
    for mark, scores in simulated_days.items():
        counties, towns = _scores(scores["county"]), _scores(scores["town"])
        assert statistics.pstdev(counties) >= 0.6, mark
        assert max(counties) - min(counties) >= 2.0, mark
        assert statistics.pstdev(towns) >= 1.5, mark
        assert sum(score == 100 for score in counties + towns) <= 1, mark


def test_index_colours_on_ordinary_days_most_green_some_amber_red_rare(simulated_days):
    towns_amber = []
    for mark, scores in simulated_days.items():
        towns = Counter(entry["colour"] for entry in scores["town"].values())
        counties = Counter(entry["colour"] for entry in scores["county"].values())
        assert towns["green"] >= 0.9 * 162 and counties["green"] >= 8, mark
        assert towns["red"] <= 2 and counties["red"] == 0, mark
        towns_amber.append(towns["yellow"])
    assert sum(n > 0 for n in towns_amber) >= len(towns_amber) // 2  # some amber, most marks


def test_index_is_stable_from_day_to_day_weekend_included(simulated_days):
    """A Saturday's few deadlines (working-day limits fall on weekdays) must not lower the
    index: the backlog is set against a day's reports, not against today's deadlines."""
    city = {mark: scores["city"]["330200"]["score"] for mark, scores in simulated_days.items()}
    assert max(city.values()) - min(city.values()) <= 4.0, city
    by_day: dict[int, list[float]] = {}
    for mark, scores in simulated_days.items():
        by_day.setdefault(mark.day, []).append(statistics.mean(_scores(scores["town"])))
    means = [statistics.mean(values) for _, values in sorted(by_day.items())]
    assert max(means) - min(means) <= 2.0, means
    assert all(
        entry["colour"] == "green"
        for scores in simulated_days.values()
        for entry in scores["city"].values()
    )
