"""Checkpoints (dashboard/live/checkpoint.py): a checkpoint plus the log's tail is the same state
as the whole log folded, wherever the cut falls; one that must not be trusted is ignored."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.live import checkpoint
from dashboard.live.actions import ActionBook
from dashboard.live.checkpoint import Checkpoints, Unusable, dump, load
from dashboard.state import State
from feeds.geo import load_geography
from feeds.schema import CHINA_TZ, ActionMessage, EventMessage
from feeds.sim import Model, SimConfig

GEO = load_geography()
DAY = datetime(2026, 4, 3, tzinfo=CHINA_TZ)
LATE = DAY + timedelta(hours=23, minutes=59, seconds=59)
CHAOS = SimConfig(seed=33, workers=40, duplicate_rate=0.03, reorder_rate=0.05)


def _entries() -> list[tuple[str, EventMessage]]:
    model = Model(GEO, CHAOS, DAY - timedelta(days=1), positions=False)
    events = [m for m in model.messages(LATE) if isinstance(m, EventMessage)]
    return [(f"{1_700_000_000_000 + n}-0", m) for n, m in enumerate(events)]


ENTRIES = _entries()
AREAS = [GEO.city.code, *GEO.counties, *list(GEO.towns)[::8]]


def _book(upto: int) -> ActionBook:
    book = ActionBook()
    for n, (sid, m) in enumerate(ENTRIES[:upto:500]):
        verb = "acknowledge" if n % 2 else "supervise"
        action = ActionMessage(
            id=f"a{n}", ts=m.ts, verb=verb, actor="duty1", role="duty", area=m.area.town,
            incident=m.id, target=None, text="", seconds=None,
        )  # fmt: skip
        book.apply(sid, action)
    return book


@pytest.fixture(scope="module")
def whole() -> State:
    state = State(GEO)
    state.fold(ENTRIES)
    return state


def assert_same_state(state: State, reference: State) -> None:
    for area in AREAS:
        assert state.metrics.figures(area, LATE) == reference.metrics.figures(area, LATE), area
        then = reference.metrics.same_time_yesterday(area, LATE)
        assert state.metrics.same_time_yesterday(area, LATE) == then, area
    assert +state.counters == +reference.counters
    assert state.duplicates == reference.duplicates
    assert state.incidents == reference.incidents  # every step, title, deadline
    assert [(a.sid, a.message) for a in state.recent] == [
        (a.sid, a.message) for a in reference.recent
    ]
    assert state.last_sid == reference.last_sid
    assert state.metrics.outbox.raised == reference.metrics.outbox.raised


@pytest.mark.parallel  # pure correctness, 15 s of one core: beside the slow ones
@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=0, max_value=len(ENTRIES)), live_tail=st.booleans())
def test_a_checkpoint_and_the_tail_give_the_state_of_the_whole_log(whole, cut, live_tail):
    before = State(GEO)
    before.fold(ENTRIES[:cut])
    blob = dump(before, _book(cut), "onemap")
    restored, book = State(GEO), ActionBook()
    header = load(blob, restored, book, "onemap")
    assert header.last["events"] == (ENTRIES[cut - 1][0] if cut else "0-0")
    if live_tail:  # a restored server, live: step by step
        for sid, message in ENTRIES[cut:]:
            restored.apply_event(sid, message)
    else:  # the restart's fold of the tail
        restored.fold(ENTRIES[cut:])
    assert_same_state(restored, whole)
    assert book.acknowledged == _book(cut).acknowledged
    assert book.supervised == _book(cut).supervised
    assert restored.geo is GEO  # bound to the running server's geography, not a copy


def _checkpoint_blob(cut: int = 2000) -> bytes:
    state = State(GEO)
    state.fold(ENTRIES[:cut])
    return dump(state, _book(cut), "onemap")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda b: b[: len(b) // 2], "truncated"),
        (lambda b: b[:-100] + bytes(x ^ 0xFF for x in b[-100:]), "damaged"),
        (lambda b: b"not a checkpoint", "no readable header"),
        (lambda b: b.replace(b'"prefix": "onemap"', b'"prefix": "other"', 1), "another prefix"),
        (
            lambda b: b.replace(b'"format": %d' % checkpoint.FORMAT, b'"format": 0', 1),
            "another format",
        ),
    ],
)
def test_a_damaged_or_foreign_checkpoint_is_refused_and_changes_nothing(damage, reason):
    state, book = State(GEO), ActionBook()
    with pytest.raises(Unusable, match=reason):
        load(damage(_checkpoint_blob()), state, book, "onemap")
    assert not state.incidents and state.last_sid["events"] == "0-0"
    assert not book.acknowledged


def test_a_checkpoint_of_other_code_is_refused(monkeypatch):
    blob = _checkpoint_blob()
    monkeypatch.setattr(checkpoint, "code_fingerprint", lambda: "0123456789abcdef")
    with pytest.raises(Unusable, match="another code"):
        load(blob, State(GEO), ActionBook(), "onemap")


def test_a_refused_checkpoint_file_is_ignored_with_a_warning(tmp_path, caplog):
    store = Checkpoints(tmp_path, "onemap")
    store.path.write_bytes(_checkpoint_blob()[:-1])
    state = State(GEO)
    with caplog.at_level(logging.WARNING, logger="dashboard.live.checkpoint"):
        assert store.restore(state, ActionBook()) is None
    assert "ignored: truncated" in caplog.text and "folding the whole log" in caplog.text
    assert not state.incidents


def test_a_forked_writer_leaves_a_checkpoint_that_loads(tmp_path, whole):
    store = Checkpoints(tmp_path, "onemap")
    assert store.write_forked(whole, _book(len(ENTRIES)))
    for _ in range(600):
        if store.reap():
            break
        time.sleep(0.05)
    assert store.child is None and store.written == 1
    restored = State(GEO)
    assert store.restore(restored, ActionBook()) is not None
    assert_same_state(restored, whole)
    assert list(tmp_path.iterdir()) == [store.path]  # no partial file left behind
    assert store.path.stat().st_mode & 0o077 == 0  # the service's user's alone


def test_a_stop_waits_for_its_checkpoint_only_so_long_and_keeps_the_last_one(
    tmp_path, whole, monkeypatch
):
    store = Checkpoints(tmp_path, "onemap")
    lock = threading.Lock()
    assert store.write_within(whole, ActionBook(), lock, seconds=60)
    kept = store.path.read_bytes()

    def slow_dump(*args, **kwargs):  # runs in the forked child
        time.sleep(30)
        return b"never"

    monkeypatch.setattr(checkpoint, "dump", slow_dump)
    started = time.monotonic()
    assert not store.write_within(whole, ActionBook(), lock, seconds=0.5)
    assert time.monotonic() - started < 5
    assert store.child is None
    assert store.path.read_bytes() == kept  # the last good one stays
    assert list(tmp_path.iterdir()) == [store.path]  # the stopped writer's partial file is gone


def test_the_code_fingerprint_is_the_running_codes_not_the_files_on_disk_now(monkeypatch, tmp_path):
    """An upgrade in place changes the files under a running server: its checkpoint at stop
    must still say which code wrote it (read at import), or the new server would load a
    checkpoint folded by the old rules."""
    running = checkpoint.code_fingerprint()
    monkeypatch.setattr(checkpoint, "ROOT", tmp_path)  # as if every source had changed
    assert checkpoint.code_fingerprint() == running
