"""Folding steps into the state: repeats and late arrivals change nothing they should not."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from dashboard.state import CLOSED, OPEN, State
from feeds.bus import EVENTS
from feeds.schema import EventMessage, decode_trusted
from tests.factories import event_dict, line

LIFE = ["reported", "dispatched", "accepted", "escalated", "handled", "feedback", "closed"]


def _lifecycle(geo, index: int, types: list[str] = LIFE) -> list[EventMessage]:
    base = event_dict(geo, index, id=f"S-{index}")
    start = datetime.fromisoformat(base["ts"]) - timedelta(hours=2)
    steps = []
    escalated_at = types.index("escalated") + 1 if "escalated" in types else len(types) + 1
    for seq, kind in enumerate(types, start=1):
        level = 2 if seq >= escalated_at else 1
        ts = (start + timedelta(minutes=10 * seq)).isoformat()
        steps.append(
            decode_trusted(line({**base, "seq": seq, "type": kind, "ts": ts, "level": level}))
        )
    return steps


def _fold(geo, steps: list[EventMessage]) -> State:
    state = State(geo)
    for n, step in enumerate(steps):
        state.apply_event(f"1-{n}", step)
    return state


def test_in_order_lifecycle_ends_closed_at_the_level_that_closed_it(geo):
    state = _fold(geo, _lifecycle(geo, 1))
    incident = state.incidents["S-1"]
    assert incident.status == CLOSED
    assert incident.level == 2
    assert len(incident.steps) == len(LIFE)
    assert state.count(status=CLOSED) == 1 and state.count(status=OPEN) == 0


def test_duplicates_and_shuffled_steps_fold_to_the_same_state(geo):
    steps = [s for i in range(20) for s in _lifecycle(geo, i)]
    reference = _fold(geo, steps)
    rng = random.Random(7)
    for _ in range(5):
        noisy = steps + rng.sample(steps, 40)
        rng.shuffle(noisy)
        state = _fold(geo, noisy)
        assert state.duplicates == 40
        assert state.counters == +reference.counters
        for key, incident in reference.incidents.items():
            other = state.incidents[key]
            assert other.status == incident.status
            assert other.level == incident.level
            assert sorted(other.steps) == sorted(incident.steps)


def test_late_earlier_step_does_not_reopen_a_closed_incident(geo):
    steps = _lifecycle(geo, 3)
    state = _fold(geo, [steps[-1], *steps[:-1]])
    assert state.incidents["S-3"].status == CLOSED
    assert state.count(status=OPEN) == 0


def test_reopened_incident_is_open_until_closed_again(geo):
    steps = _lifecycle(geo, 4, ["reported", "handled", "closed", "reopened"])
    state = _fold(geo, steps)
    assert state.incidents["S-4"].status == OPEN
    more = _lifecycle(geo, 4, ["reported", "handled", "closed", "reopened", "handled", "closed"])
    state.apply_event("2-0", more[4])
    state.apply_event("2-1", more[5])
    assert state.incidents["S-4"].status == CLOSED


def test_counts_by_area_add_up(geo):
    steps = [s for i in range(30) for s in _lifecycle(geo, i, ["reported"])]
    state = _fold(geo, steps)
    counties = {s.area.county for s in steps}
    assert sum(state.count(area=c) for c in counties) == 30
    assert state.count(area=geo.city.code) == 30
    town = steps[0].area.town
    assert state.count(area=town) == sum(1 for s in steps if s.area.town == town)


def test_stream_replay_rebuilds_the_same_state(bus, geo):
    steps = [s for i in range(10) for s in _lifecycle(geo, i)]
    bus.publish_many(steps + steps[:5])
    rebuilt = State(geo)
    for entry in bus.replay(EVENTS):
        rebuilt.apply_event(entry.sid, entry.message)
    assert rebuilt.duplicates == 5
    assert rebuilt.counters == +_fold(geo, steps).counters


def test_log_batches_read_everything_after_an_id_in_order(bus, geo):
    steps = [s for i in range(10) for s in _lifecycle(geo, i)]
    sids = bus.publish_many(steps)
    batches = list(bus.log_batches(EVENTS, after=sids[9], batch=7))
    assert [len(b) for b in batches] == [7] * 8 + [4]  # a short last batch ends the read
    assert [sid.decode() for b in batches for sid, _ in b] == sids[10:]
    assert [decode_trusted(p) for b in batches for _, p in b] == steps[10:]


def test_log_batches_stop_cleanly_when_the_reader_leaves_early(bus, geo):
    bus.publish_many([s for i in range(10) for s in _lifecycle(geo, i)])
    batches = bus.log_batches(EVENTS, batch=3)
    assert len(next(batches)) == 3
    batches.close()  # joins the reader thread; the connection goes back to the pool usable
    assert sum(len(b) for b in bus.log_batches(EVENTS, batch=1000)) == bus.client.xlen(
        bus.keys[EVENTS]
    )


def test_fold_log_builds_the_same_state_as_applying_each_step(bus, geo):
    steps = [s for i in range(10) for s in _lifecycle(geo, i)]
    bus.publish_many(steps + steps[:5])  # five repeats
    rebuilt = State(geo)
    assert rebuilt.fold_log(bus.log_batches(EVENTS, batch=4)) == len(steps)
    stepwise = State(geo)
    for entry in bus.replay(EVENTS):
        stepwise.apply_event(entry.sid, entry.message)
    assert rebuilt.incidents == stepwise.incidents and rebuilt.duplicates == 5
    assert +rebuilt.counters == +stepwise.counters
    assert [a.message for a in rebuilt.recent] == [a.message for a in stepwise.recent]
