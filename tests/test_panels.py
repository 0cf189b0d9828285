"""The wall's panels: built once per scope and reused until a step arrives or they age."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard.state import State
from dashboard.views import panels
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
