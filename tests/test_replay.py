"""Replay (dashboard/live/rewind.py, shelf.py, dashboard/cold/tracks.py): the state rebuilt at a
past moment from a shelved checkpoint, the log's tail and the kept worker fixes is the state a
fresh fold of the log up to that moment gives, figures, panels, ticker and positions alike."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.cold.tracks import Thinner, TrackReader, TrackWriter
from dashboard.live.actions import ActionBook
from dashboard.live.checkpoint import Checkpoints
from dashboard.live.replay import Replays, Session
from dashboard.live.rewind import Rewinder, ms_moment
from dashboard.live.shelf import Shelf
from dashboard.state import State
from dashboard.views import panels
from dashboard.views.kpis import headline
from feeds.bus import EVENTS, POSITIONS, Bus
from feeds.geo import load_geography
from feeds.messages import WorkerStatus
from feeds.schema import CHINA_TZ, EventMessage, PositionMessage
from feeds.sim import Model, SimConfig

pytestmark = pytest.mark.parallel  # its own Redis keys, no timings: beside the slow ones

GEO = load_geography()
CONFIG = SimConfig(seed=21, workers=30, duplicate_rate=0.02, reorder_rate=0.03)
CHUNKS = 4


def _messages() -> list[EventMessage | PositionMessage]:
    now = datetime.now(UTC)
    model = Model(GEO, CONFIG, now - timedelta(hours=2))
    return list(model.messages(now))


def _publish(bus: Bus, messages: list) -> tuple[list[int], list[tuple[str, PositionMessage]]]:
    """The messages in ``CHUNKS`` parts, a few ms apart; the moment (ms) each part ends, and
    every position with its stream id."""
    moments, positions = [], []
    size = len(messages) // CHUNKS + 1
    for start in range(0, len(messages), size):
        part = messages[start : start + size]
        sids = bus.publish_many(part)
        positions += [
            (s, m) for s, m in zip(sids, part, strict=True) if isinstance(m, PositionMessage)
        ]
        moments.append(int(sids[-1].partition("-")[0]))
        time.sleep(0.005)  # the next part's ids start in a later millisecond
    return moments, positions


def _fresh_fold(bus: Bus, at_ms: int) -> State:
    """The reference: every event step and every position the log received up to ``at_ms``."""
    state = State(GEO, recent_size=500)
    rows = bus.range_raw(EVENTS, "0-0", str(at_ms), 10**7)
    state.fold_log([[(s.encode(), raw) for s, raw in rows]])
    for entry in bus.replay(POSITIONS):
        if int(entry.sid.partition("-")[0]) <= at_ms:
            assert isinstance(entry.message, PositionMessage)
            state.apply_position(entry.sid, entry.message)
    return state


def _shelve(bus: Bus, shelf: Shelf, at_ms: int, prefix: str, tmp_path) -> None:
    """What the live server's forked checkpoint writer does, with the state at ``at_ms``."""
    state = _fresh_fold(bus, at_ms)
    writer = Checkpoints(tmp_path / "checkpoints", prefix, shelf)
    assert writer.write_forked(state, ActionBook())
    while not writer.reap():
        time.sleep(0.02)


def assert_same(state: State, reference: State, at_ms: int) -> None:
    moment = ms_moment(at_ms)
    for area in [GEO.city.code, *GEO.counties]:
        assert headline(state, area, moment) == headline(reference, area, moment), area
    for scope in (GEO.city.code, next(iter(GEO.counties))):
        assert panels.build(state, scope, moment) == panels.build(reference, scope, moment)
    assert state.incidents == reference.incidents
    assert [a.sid for a in state.recent] == [a.sid for a in reference.recent]
    assert state.positions == reference.positions
    assert state.last_sid[EVENTS] == reference.last_sid[EVENTS]


@pytest.fixture(scope="module")
def messages():
    return _messages()


def _setup(bus, prefix, tmp_path, messages, every_s=0.0):
    moments, positions = _publish(bus, messages)
    writer = TrackWriter(tmp_path / "archive", every_s=every_s, keep_days=4)
    for sid, message in positions:
        writer.offer(sid, message)
    writer.flush()
    shelf = Shelf(tmp_path / "checkpoints", prefix, every_s=1, keep_h=72)
    rewinder = Rewinder(
        bus, shelf, TrackReader(tmp_path / "archive"), lambda: State(GEO, recent_size=500),
        prefix, reach_h=72,
    )  # fmt: skip
    return moments, shelf, rewinder


def test_a_moment_rebuilt_from_a_shelved_checkpoint_equals_the_log_folded_up_to_it(
    bus, prefix, tmp_path, messages
):
    moments, shelf, rewinder = _setup(bus, prefix, tmp_path, messages)
    _shelve(bus, shelf, moments[0], prefix, tmp_path)
    assert shelf.moments() == [bus_last_event_ms(bus, moments[0])]
    for at_ms in moments[1:]:
        rewound = rewinder.rewind(at_ms)
        assert_same(rewound.state, _fresh_fold(bus, at_ms), at_ms)


def test_a_replay_played_forward_equals_the_log_folded_up_to_where_it_is(
    bus, prefix, tmp_path, messages
):
    moments, shelf, rewinder = _setup(bus, prefix, tmp_path, messages)
    _shelve(bus, shelf, moments[0], prefix, tmp_path)
    rewound = rewinder.rewind(moments[0] + 1)
    steps = 0
    for at_ms in moments[1:]:
        changes = rewound.advance(at_ms)
        steps += len(changes.applied)
        assert_same(rewound.state, _fresh_fold(bus, at_ms), at_ms)
    assert steps > 100  # the parts held steps: the advance applied them


def test_a_moment_before_any_shelved_checkpoint_folds_the_log_from_its_start(
    bus, prefix, tmp_path, messages
):
    moments, shelf, rewinder = _setup(bus, prefix, tmp_path, messages)
    _shelve(bus, shelf, moments[2], prefix, tmp_path)
    at_ms = moments[1]
    assert shelf.newest_before(at_ms) is None
    assert_same(rewinder.rewind(at_ms).state, _fresh_fold(bus, at_ms), at_ms)


def test_the_reach_is_bounded_by_the_log_and_the_hours(bus, prefix, tmp_path, messages):
    moments, _, rewinder = _setup(bus, prefix, tmp_path, messages)
    first = int(bus.first_id(EVENTS).partition("-")[0])
    assert rewinder.earliest_ms(moments[-1]) == first
    later = first + 73 * 3600 * 1000
    assert rewinder.earliest_ms(later) == later - 72 * 3600 * 1000


def bus_last_event_ms(bus: Bus, at_ms: int) -> int:
    rows = bus.range_raw(EVENTS, "0-0", str(at_ms), 10**7)
    return int(rows[-1][0].partition("-")[0])


# -- thinning: fewer fixes, the same patrol figures ----------------------------------------
def _fixes(draw_grids: list[int], gaps: list[int], statuses: list[int]) -> list[PositionMessage]:
    grids = sorted(GEO.grids)[:5]
    kinds: list[WorkerStatus] = ["patrolling", "handling", "idle", "offline"]
    ts = datetime(2026, 12, 5, 23, 50, tzinfo=CHINA_TZ)  # the walk crosses local midnight
    out = []
    for n, (g, gap, s) in enumerate(zip(draw_grids, gaps, statuses, strict=False)):
        ts += timedelta(seconds=gap)
        centre = GEO.grids[grids[g]]
        out.append(
            PositionMessage(
                worker=f"w{n % 3}",
                ts=ts,
                lon=centre.lon,
                lat=centre.lat,
                grid=grids[g],
                status=kinds[s],
            )  # fmt: skip
        )
    return out


@settings(max_examples=40, deadline=None)
@given(
    grids=st.lists(st.integers(0, 4), min_size=1, max_size=120),
    gaps=st.lists(st.integers(-20, 40), min_size=120, max_size=120),
    statuses=st.lists(st.sampled_from([0, 0, 0, 1, 2, 3]), min_size=120, max_size=120),
)
def test_thinned_fixes_give_the_same_patrol_figures_as_all_of_them(grids, gaps, statuses):
    fixes = _fixes(grids, gaps, statuses)
    thinner = Thinner(every_s=30)
    kept = [m for m in fixes if thinner.keep(m)]
    every, thinned = State(GEO), State(GEO)
    for n, m in enumerate(fixes):
        every.apply_position(f"{n}-0", m)
    for n, m in enumerate(kept):
        thinned.apply_position(f"{n}-0", m)
    end = fixes[-1].ts + timedelta(minutes=1)
    for area in [GEO.city.code, *sorted(GEO.grids)[:5]]:
        assert headline(thinned, area, end) == headline(every, area, end)


def test_thinning_keeps_one_fix_per_interval_on_a_still_worker():
    start = datetime(2026, 12, 5, 10, tzinfo=CHINA_TZ)
    grid = sorted(GEO.grids)[0]
    centre = GEO.grids[grid]
    thinner = Thinner(every_s=30)
    kept = [
        thinner.keep(PositionMessage(
            worker="w", ts=start + timedelta(seconds=5 * n), lon=centre.lon, lat=centre.lat,
            grid=grid, status="patrolling",
        ))
        for n in range(36)  # three minutes, a fix every 5 s
    ]  # fmt: skip
    assert sum(kept) == 6
    assert kept[0] and kept[6] and not kept[5]


def test_panels_held_back_by_their_pace_come_with_a_later_quiet_step(
    bus, prefix, tmp_path, messages
):
    """Steps that arrive while the panels are not due yet reach the panels at the next step
    they are due, even when that step brings nothing new."""
    moments, _shelf, rewinder = _setup(bus, prefix, tmp_path, messages)
    replays = Replays(rewinder, ticker_size=200, max_sessions=1)
    session = Session(
        GEO.city.code, False, rewinder.rewind(moments[0]), panels_sent=time.monotonic()
    )
    before = session.rewound.at_ms
    busy = replays._delta(session, session.rewound.advance(moments[1]), before)
    assert busy["steps"] and "panels" not in busy  # not due: sent 3 s after the last
    session.panels_sent -= 5  # five seconds later, a step of the replay with nothing new
    quiet = replays._delta(session, session.rewound.advance(moments[1] + 1), moments[1])
    assert not quiet["steps"] and "panels" in quiet
    at = ms_moment(moments[1] + 1)
    assert quiet["panels"] == panels.build(_fresh_fold(bus, moments[1] + 1), GEO.city.code, at)
    session.panels_sent -= 5
    again = replays._delta(session, session.rewound.advance(moments[1] + 2), moments[1] + 1)
    assert "panels" not in again  # shown already, nothing new since
