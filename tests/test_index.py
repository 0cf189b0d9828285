"""The governance index: scores, colours, components that explain them, configurable bounds."""

from __future__ import annotations

from datetime import timedelta

from dashboard.analytics import IndexConfig, explain, index_for
from dashboard.analytics.index import COMPONENTS
from dashboard.state import State
from tests.test_metrics import ROUTINE, T0, fold, life

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
    index = index_for(city_of_routine_work(geo), "county", None, NOW)
    assert set(index) == set(geo.counties)
    for entry in index.values():
        assert entry["score"] == 100.0 and entry["colour"] == "green"
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
    assert any("超期占比" in r for r in reasons) and any("按期办结率" in r for r in reasons)
    parts = entry["components"]
    assert parts["overdue_share"]["value"] == 6 / 7 and parts["overdue_share"]["normalised"] == 0
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
    disposal = entry["components"]["disposal_rate"]
    assert disposal["value"] is None  # inside its time limit: not due, nothing to measure
    assert disposal["adjusted"] == disposal["reference"]
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
    assert sorted(r[:4] for r in explain(entry, limit=2)) == ["按期办结", "超期占比"]


def test_area_with_nothing_to_measure_scores_like_the_city(geo):
    state = State(geo)
    index = index_for(state, "grid", sorted(geo.towns)[0], NOW)
    assert index and all(e["score"] == 100.0 for e in index.values())
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
    assert entry["components"]["on_time_rate"]["reference"] == 0.99
    assert entry["components"]["patrol_coverage"]["normalised"] < 100  # nobody patrolled
