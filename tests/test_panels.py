"""The wall's panels: built once per scope and reused until a step arrives or they age."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard.state import State
from dashboard.views import panels
from feeds.schema import decode_trusted
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
