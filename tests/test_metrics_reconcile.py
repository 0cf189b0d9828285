"""Reconciliation: after a chaotic simulated day, every figure equals an independent recompute.

The day has repeated steps (3 %) and steps overtaken by the next one (5 %), positions from 40
workers, and incidents from the day before, so cohorts, backlogs and deadlines over the 清明
weekend all matter. The incremental figures are compared at two moments with
``dashboard.analytics.reference`` (plain scans over the raw stream), and with a state rebuilt
by replaying the Redis log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dashboard.analytics.reference import recompute
from dashboard.state import State
from feeds.bus import EVENTS, POSITIONS, Bus
from feeds.schema import CHINA_TZ, EventMessage, Message, PositionMessage
from feeds.sim import Model, SimConfig

DAY = datetime(2026, 4, 3, tzinfo=CHINA_TZ)  # Friday before the 清明 weekend
AFTERNOON = DAY + timedelta(hours=16)
LATE = DAY + timedelta(hours=23, minutes=59, seconds=59)
CHAOS = SimConfig(seed=21, workers=40, duplicate_rate=0.03, reorder_rate=0.05)

# pure correctness over a real Redis, no timings: beside the slow ones, off the serial path
pytestmark = pytest.mark.parallel


@pytest.fixture(scope="module")
def day(geo) -> tuple[list[Message], list[Message]]:
    """The stream until the afternoon, and the rest of the day, as the simulator emits them."""
    model = Model(geo, CHAOS, DAY - timedelta(days=1))
    return list(model.messages(AFTERNOON)), list(model.messages(LATE))


def fold(state: State, messages: list[Message], start: int = 0) -> State:
    for n, message in enumerate(messages, start=start):
        if isinstance(message, EventMessage):
            state.apply_event(f"{n}-0", message)
        else:
            state.apply_position(f"{n}-0", message)
    return state


def areas(geo, state: State) -> list[str]:
    grids = sorted({i.area.grid for i in state.incidents.values() if i.area.grid})[::40]
    villages = sorted({i.area.village for i in state.incidents.values() if i.area.village})
    workers = sorted({p.grid for p in state.positions.values()})[:20]
    return [
        geo.city.code,
        *geo.counties,
        *geo.towns,
        *villages[::40],
        *grids,
        *workers,
        *{w[:12] for w in workers},
    ]


def assert_same(incremental: dict, reference: dict, area: str) -> None:
    assert set(incremental) == set(reference), area
    for key, expected in reference.items():
        assert incremental[key] == expected, (area, key)  # exactly: same arithmetic, no drift


def test_every_figure_equals_an_independent_recompute_after_a_chaotic_day(geo, day):
    morning, evening = day
    state = fold(State(geo), morning)
    assert state.duplicates > 100
    assert _overtaken(morning) > 100
    for now, seen in ((AFTERNOON, morning), (LATE, morning + evening)):
        if now == LATE:
            fold(state, evening, start=len(morning))
        events = [m for m in seen if isinstance(m, EventMessage)]
        fixes = [m for m in seen if isinstance(m, PositionMessage)]
        codes = areas(geo, state)
        expected = recompute(geo, events, fixes, codes, now)
        for area in codes:
            assert_same(state.metrics.figures(area, now), expected[area], area)
        city = expected[geo.city.code]
        assert city["reported"] > 5000 and city["overdue"] > 0 and city["patrol_visits"] >= 30


def test_rebuild_from_the_redis_log_gives_identical_figures(geo, day, bus: Bus):
    workers = sorted({m.worker for m in day[0] if isinstance(m, PositionMessage)})[:10]
    messages = [
        m for m in day[0] + day[1] if isinstance(m, EventMessage) or m.worker in workers
    ]  # ten workers' positions are enough here, and keep Redis round trips few
    for start in range(0, len(messages), 2000):
        bus.publish_many(messages[start : start + 2000])
    live = State(geo)
    for batch in _batches(bus):
        fold_entries(live, batch)
    folded = State(geo)
    folded.fold((entry.sid, entry.message) for entry in bus.replay(EVENTS))
    rebuilt = State(geo)  # as the push bridge starts: raw batches (small, so many boundaries)
    rebuilt.fold_log(bus.log_batches(EVENTS, batch=997))
    for state in (folded, rebuilt):
        fold_entries(state, list(bus.replay(POSITIONS)))
        for area in areas(geo, live):
            assert state.metrics.figures(area, LATE) == live.metrics.figures(area, LATE), area
        for area in (geo.city.code, *geo.counties, *geo.towns):
            then = live.metrics.same_time_yesterday(area, LATE)
            assert state.metrics.same_time_yesterday(area, LATE) == then, area
        assert live.metrics.same_time_yesterday(geo.city.code, LATE)["reported"] > 1000
        assert +state.counters == +live.counters and state.duplicates == live.duplicates
        assert [(a.sid, a.message) for a in state.recent] == [
            (a.sid, a.message) for a in live.recent
        ]
        assert state.incidents == live.incidents  # every step, title and deadline
        assert state.last_sid[EVENTS] == live.last_sid[EVENTS]
        assert state.metrics.outbox.raised == live.metrics.outbox.raised


def test_a_rebuilt_state_goes_on_as_if_it_had_seen_every_step(geo, day, bus: Bus):
    """A rebuild counts its incidents in bulk and builds their facts only when a later step
    needs them (Metrics._materialize): the afternoon, folded into both, must not tell a
    rebuilt morning from a live one."""
    morning, evening = day
    bus.publish_many([m for m in morning if isinstance(m, EventMessage)])
    rebuilt = State(geo)
    rebuilt.fold_log(bus.log_batches(EVENTS, batch=997))
    for n, m in enumerate(morning):
        if isinstance(m, PositionMessage):
            rebuilt.apply_position(f"{n}-0", m)
    live = fold(State(geo), morning)
    assert len(rebuilt.metrics.bulk) == len(rebuilt.incidents) and not rebuilt.metrics.facts
    fold(rebuilt, evening, start=len(morning))
    fold(live, evening, start=len(morning))
    assert 1000 < len(rebuilt.metrics.facts) < len(rebuilt.incidents)  # some went on, not all
    for incident_id, facts in rebuilt.metrics.facts.items():
        expected = live.metrics.facts[incident_id]
        for name in type(facts).__slots__:
            assert getattr(facts, name) == getattr(expected, name), (incident_id, name)
    for area in areas(geo, live):
        assert rebuilt.metrics.figures(area, LATE) == live.metrics.figures(area, LATE), area
    for area in (geo.city.code, *geo.counties, *geo.towns):
        then = live.metrics.same_time_yesterday(area, LATE)
        assert rebuilt.metrics.same_time_yesterday(area, LATE) == then, area
    assert rebuilt.metrics.outbox.raised == live.metrics.outbox.raised


def test_a_second_fold_over_a_rebuilt_state_counts_as_live(geo, day, bus: Bus):
    """A fold into metrics that hold incidents counted in bulk: those it touches are taken
    back as they were before it (Metrics._materialize with the fold's steps left out)."""
    morning, evening = day
    bus.publish_many([m for m in morning if isinstance(m, EventMessage)])
    rebuilt = State(geo)
    rebuilt.fold_log(bus.log_batches(EVENTS))
    rebuilt.fold(
        (f"{n}-0", m)
        for n, m in enumerate(evening, start=len(morning))
        if isinstance(m, EventMessage)
    )
    live = fold(State(geo), [m for m in morning + evening if isinstance(m, EventMessage)])
    assert rebuilt.metrics.bulk and rebuilt.metrics.facts  # both kinds are in play
    for area in areas(geo, live):
        assert rebuilt.metrics.figures(area, LATE) == live.metrics.figures(area, LATE), area
    for area in (geo.city.code, *geo.counties, *geo.towns):
        then = live.metrics.same_time_yesterday(area, LATE)
        assert rebuilt.metrics.same_time_yesterday(area, LATE) == then, area


def fold_entries(state: State, entries) -> None:
    for entry in entries:
        if isinstance(entry.message, EventMessage):
            state.apply_event(entry.sid, entry.message)
        else:
            state.apply_position(entry.sid, entry.message)


def _batches(bus: Bus):
    """What the push bridge sees: both streams interleaved, in batches, until the end."""
    after = {EVENTS: "0-0", POSITIONS: "0-0"}
    while batch := bus.read(after, count=1000):
        for entry in batch:
            after[entry.stream] = entry.sid
        yield batch


def _overtaken(messages: list[Message]) -> int:
    """Steps that arrived after a later step of the same incident."""
    highest: dict[str, int] = {}
    late = 0
    for m in messages:
        if isinstance(m, EventMessage):
            late += m.seq < highest.get(m.id, 0)
            highest[m.id] = max(highest.get(m.id, 0), m.seq)
    return late
