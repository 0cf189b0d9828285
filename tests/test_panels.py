"""The wall's panels: built once per scope and reused until a step arrives or they age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard.state import State
from dashboard.views import panels, ranking
from feeds.schema import CHINA_TZ, decode_trusted
from tests.factories import event_dict, line


def _state(geo, count: int) -> State:
    state = State(geo)
    for n in range(count):
        state.apply_event(f"1-{n}", decode_trusted(line(event_dict(geo, n, id=f"P-{n}"))))
    return state


def test_panels_cache_is_reused_until_a_step_arrives(geo):
    state, now, city = _state(geo, 5), datetime.now(UTC), geo.city.code
    first = panels.cached(state, city, now)
    assert panels.cached(state, city, now) is first
    assert first == panels.build(state, city, now)
    state.apply_event("2-0", decode_trusted(line(event_dict(geo, 9, id="P-new"))))
    again = panels.cached(state, city, now)
    assert again is not first
    assert again == panels.build(state, city, now)


def test_panels_cache_expires_and_keeps_scopes_apart(geo):
    state, now, city = _state(geo, 5), datetime.now(UTC), geo.city.code
    county = next(iter(geo.counties))
    first = panels.cached(state, city, now)
    assert panels.cached(state, county, now) is not first
    assert panels.cached(state, city, now, max_age_s=0.0) is not first


def _reports_at(geo, moments: list[datetime]) -> State:
    state = State(geo)
    for n, at in enumerate(moments):
        message = event_dict(geo, n, id=f"H-{n}", ts=at.isoformat())
        state.apply_event(f"1-{n}", decode_trusted(line(message)))
    return state


def _trend(state: State, now: datetime) -> dict[str, dict]:
    city = state.geo.city.code
    figure = panels.build(state, city, now)["trend"]
    return {trace["name"]: trace for trace in figure["data"]}


def test_trend_ends_at_the_last_whole_hour_and_shows_the_hour_under_way_at_its_pace(geo):
    """At 14:44 the 14 o'clock hour holds 44 minutes of reports: drawn as a point of the line it
    read as a drop; it is a dashed step to its pace instead, labelled with what it holds."""
    now = datetime(2026, 3, 10, 14, 44, tzinfo=CHINA_TZ)
    thirteen = [now.replace(hour=13, minute=m) for m in range(0, 60, 5)]  # 12 in the hour
    fourteen = [now.replace(hour=14, minute=m) for m in range(0, 44, 4)]  # 11 so far
    traces = _trend(_reports_at(geo, thirteen + fourteen), now)
    today = traces["今日"]
    assert today["x"] == list(range(14)) and today["y"][13] == 12  # no point for 14 o'clock
    pace = traces["本小时(按当前速度)"]
    assert pace["x"] == [13, 14] and pace["line"]["dash"] == "dash"
    assert pace["y"] == [12, round(11 * 60 / 44)]  # 15: the pace, not the 11 so far
    assert pace["text"] == ["", "已11"]


def test_trend_draws_no_pace_in_the_first_minutes_of_an_hour(geo):
    now = datetime(2026, 3, 10, 14, 5, tzinfo=CHINA_TZ)
    traces = _trend(_reports_at(geo, [now.replace(minute=1), now.replace(hour=9)]), now)
    assert "本小时(按当前速度)" not in traces  # five minutes tell too little
    assert traces["今日"]["x"] == list(range(14)) and sum(traces["今日"]["y"]) == 1
    midnight_hour = datetime(2026, 3, 10, 0, 30, tzinfo=CHINA_TZ)
    traces = _trend(_reports_at(geo, [midnight_hour.replace(minute=10)]), midnight_hour)
    assert traces["今日"]["x"] == [] and traces["本小时(按当前速度)"]["x"] == [0]
    assert traces["本小时(按当前速度)"]["y"] == [2]  # one in half an hour


def _index(scores: dict[str, float]) -> dict[str, dict]:
    def colour(score: float) -> str:
        return "green" if score >= 85 else "yellow" if score >= 75 else "red"

    return {code: {"score": s, "colour": colour(s), "why": []} for code, s in scores.items()}


def test_ranking_shows_the_weakest_areas_as_well_as_the_best(geo):
    """A county's 25 towns: the wall's ten rows are the best five and the weakest five, each
    with its place among all 25; the only amber town is the last row, not left out."""
    towns = sorted(t for t in geo.towns if t.startswith("330212"))
    scores = {town: 97.0 - 0.4 * n for n, town in enumerate(towns)}
    weak = towns[7]
    scores[weak] = 78.0
    rows = ranking.ranking(State(geo), _index(scores))
    assert len(towns) == 25 and len(rows) == ranking.RANK_ROWS
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5, 21, 22, 23, 24, 25]
    assert rows[-1]["code"] == weak and rows[-1]["colour"] == "yellow"
    assert rows[0]["score"] == max(scores.values())
    assert rows[-1]["name"] == geo.towns[weak].short


def test_ranking_makes_room_for_every_weak_area_but_keeps_the_best_three(geo):
    towns = sorted(t for t in geo.towns if t.startswith("330212"))
    scores = {town: 95.0 - 0.1 * n for n, town in enumerate(towns)}
    for n, town in enumerate(towns[:6]):
        scores[town] = 70.0 + n  # six amber or red areas
    rows = ranking.ranking(State(geo), _index(scores))
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 20, 21, 22, 23, 24, 25]
    assert {r["code"] for r in rows[4:]} == set(towns[:6])
    for n, town in enumerate(towns[:8]):
        scores[town] = 60.0 + n  # eight: the weakest seven shown, and still the best three
    rows = ranking.ranking(State(geo), _index(scores))
    assert [r["rank"] for r in rows] == [1, 2, 3, 19, 20, 21, 22, 23, 24, 25]
    assert rows[-1]["code"] == towns[0]


def test_a_short_list_is_ranked_whole(geo):
    scores = {county: 90.0 + n for n, county in enumerate(sorted(geo.counties))}
    rows = ranking.ranking(State(geo), _index(scores))
    assert [r["rank"] for r in rows] == list(range(1, 11))
    assert [r["code"] for r in rows] == sorted(geo.counties, reverse=True)


def test_the_lowest_scoring_area_is_always_in_the_panels_ranking(geo):
    """On a real state: a town with a backlog of overdue incidents is the last row of its
    county's ranking, with its place among all the county's towns."""
    from tests.test_index import NOW, city_of_routine_work
    from tests.test_metrics import T0, fold, life

    state = city_of_routine_work(geo, per_town=3)
    county = "330212"
    towns = sorted(t for t in geo.towns if t.startswith(county))
    weak = towns[11]
    grid = min(g for g in geo.grids if g.startswith(weak))
    late = [
        life(geo, f"late-{n}", [("reported", 0, 1)], grid=grid, start=T0 - timedelta(days=1))
        for n in range(4)
    ]
    fold(geo, *[m for steps in late for m in steps], state=state)
    built = panels.build(state, county, NOW)
    index, rows = built["index"], built["ranking"]
    lowest = min(index, key=lambda code: (index[code]["score"], code))
    assert lowest == weak and index[weak]["colour"] != "green"
    assert rows[-1]["code"] == weak and rows[-1]["rank"] == len(towns)
    assert len(rows) == ranking.RANK_ROWS < len(towns)


def test_grid_names_carry_their_village_and_are_unique_within_a_town(geo):
    """A town's grids were ranked as "网格001" five times; each is named with its village
    ("富巷社区 网格001"), and where two villages share a short name (阳明街道's 富巷社区 and
    富巷居委会) with the village's full name."""
    town = "330281004"
    built = panels.build(State(geo), town, datetime(2026, 3, 10, 15, tzinfo=CHINA_TZ))
    names = {code: entry["name"] for code, entry in built["index"].items()}
    assert len(names) == len(set(names.values())) > 100
    for code, name in names.items():
        village = geo.villages[code[:12]]
        assert name.startswith((village.short + " ", village.name + " "))
        assert name.endswith(geo.grids[code].short)
    assert {"富巷社区 网格001", "富巷居委会 网格001"} <= set(names.values())
    ranked = [row["name"] for row in built["ranking"]]
    assert len(ranked) == len(set(ranked)) == ranking.RANK_ROWS
    assert all(row["name"] == names[row["code"]] for row in built["ranking"])
