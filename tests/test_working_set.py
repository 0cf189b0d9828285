"""The bounded working set (issue 16): closed incidents leave memory once archived, the desk
still finds and opens them from the archive, and one that comes back comes back whole.

Real parts: a redis-server (conftest), the Parquet archive through DuckDB, simulated incidents
over the last six days logged at their own times (a log's ids are arrival times, and archiving
and retention go by them).
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dashboard.access.auth import Principal
from dashboard.cold import grams, summaries
from dashboard.cold import store as store_module
from dashboard.cold.keeper import Keeper, archive_days, evict, midnight, rebuild_ids, trim_log
from dashboard.cold.store import ColdStore
from dashboard.cold.summaries import open_ids
from dashboard.live import checkpoint
from dashboard.live.actions import ActionBook
from dashboard.live.inbound import DutyRowsAsk
from dashboard.live.livestate import LiveState
from dashboard.state import State
from dashboard.views.duty_query import DutyQuery
from dashboard.views.initials import initials
from dashboard.views.search import searchable
from feeds.archive import Archive
from feeds.bus import EVENTS, Bus
from feeds.schema import CHINA_TZ, EventMessage, encode
from feeds.sim import Model, SimConfig

# No promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

HOT_DAYS = 3


def logged_at_their_time(bus: Bus, messages: list[EventMessage]) -> list[str]:
    """Append ``messages`` as if each had arrived at its own time (stream id = its ts)."""
    pipe = bus.client.pipeline(transaction=False)
    sids, last = [], (0, 0)
    for m in sorted(messages, key=lambda m: m.ts):
        ms = int(m.ts.timestamp() * 1000)
        last = (ms, 0) if ms > last[0] else (last[0], last[1] + 1)
        sid = f"{last[0]}-{last[1]}"
        pipe.xadd(bus.keys[EVENTS], {"m": encode(m)}, id=sid)
        sids.append(sid)
    pipe.execute()
    return sids


@pytest.fixture(scope="module")
def six_days(geo) -> list[EventMessage]:
    now = datetime.now(CHINA_TZ)
    start = midnight(now, 6)
    model = Model(geo, SimConfig(seed=16, events_per_day=300, workers=200), start,
                  positions=False)  # fmt: skip
    steps = [m for m in model.messages(until=now) if isinstance(m, EventMessage)]
    # an incident left open for days with no step since: a trimmed log has nothing of it
    first = next(m for m in steps if m.type == "reported")
    stale = msgspec.structs.replace(first, id="E-stale-000001")
    later = msgspec.structs.replace(
        stale, seq=2, type="dispatched", ts=stale.ts + timedelta(hours=1)
    )
    return [*steps, stale, later]


@pytest.fixture
def world(tmp_path, bus: Bus, geo, six_days):
    """A folded state, its archive (complete days copied, incidents summarised), the store."""
    logged_at_their_time(bus, six_days)
    state = State(geo)
    archive = Archive(tmp_path / "archive")
    cold = ColdStore(archive)
    state.recall = cold.recall
    state.fold_log(bus.log_batches())
    live = LiveState(state)
    live.ready.set()
    now = datetime.now(CHINA_TZ)
    run = archive_days(bus, archive, midnight(now))
    assert run is not None and run.steps
    return state, live, archive, cold, now


def closed_long_ago(state: State, now: datetime) -> list[str]:
    before = midnight(now, HOT_DAYS - 1)
    return [
        i.id
        for i in state.incidents.values()
        if i.latest is not None and i.latest.type == "closed" and i.latest.ts < before
    ]


def test_closed_archived_incidents_leave_memory_and_todays_figures_do_not_move(world):
    state, live, archive, _cold, now = world
    old = closed_long_ago(state, now)
    before_figures = state.metrics.figures(state.geo.city.code, now)
    held = len(state.incidents)
    gone = evict(live, archive, now, HOT_DAYS)
    assert gone == len(old) > 100
    assert len(state.incidents) == held - gone
    assert not set(old) & set(state.incidents)
    assert all(i not in state.metrics.facts for i in old)
    assert state.metrics.figures(state.geo.city.code, now) == before_figures
    # open incidents and those closed in the hot days stay, whatever their age
    assert all(i.status == "open" or i.latest.ts >= midnight(now, HOT_DAYS - 1)
               for i in state.incidents.values())  # fmt: skip


def test_an_incident_not_wholly_archived_stays(world, bus: Bus):
    state, live, archive, _cold, now = world
    victim = state.incidents[closed_long_ago(state, now)[0]]
    # a late step of it arrived after the archive's run: not every step is archived
    late = max(victim.steps.values(), key=lambda s: s.seq)
    victim.steps[late.seq] = msgspec.structs.replace(late, sid=f"{int(now.timestamp() * 1000)}-0")
    evict(live, archive, now, HOT_DAYS)
    assert victim.id in state.incidents


def test_the_desk_finds_and_opens_archived_incidents_as_it_did_in_memory(world):
    state, live, archive, cold, now = world
    officer = Principal("u:duty:1", "user", "duty", "duty", state.geo.city.code, "值班员", None)
    query = DutyQuery(live, cold, HOT_DAYS)
    asks = [
        {},
        {"status": "closed"},
        {"q": "井盖"},
        {"area": "330212", "status": "closed"},
        {"cat": "zf02,zz01"},
    ]
    before = {}
    for ask in asks:
        for sort, direction in (("reported", "desc"), ("deadline", "asc"), ("place", "desc")):
            key = (str(ask), sort, direction)
            before[key] = query.rows(officer, _second_block(ask, sort, direction))
    gone = evict(live, archive, now, HOT_DAYS)
    assert gone > 100
    for ask in asks:
        for sort, direction in (("reported", "desc"), ("deadline", "asc"), ("place", "desc")):
            key = (str(ask), sort, direction)
            after = query.rows(officer, _second_block(ask, sort, direction))
            assert after["total"] == before[key]["total"], key
            assert after["archived"] > 0 or not after["total"], key
            # a second block (rows 60-120): the merge of memory's and the archive's holds
            assert _in_order(after["rows"], sort) == _in_order(before[key]["rows"], sort), key
            # the map: every match, memory's and the archive's, as it was
            assert sorted(map(tuple, after["points"])) == sorted(
                map(tuple, before[key]["points"])
            ), key


def test_a_masked_role_finds_no_more_in_the_archive_than_in_memory(world):
    state, live, archive, cold, now = world
    leader = Principal("u:lead:1", "user", "lead", "leader", state.geo.city.code, "领导", None)
    assert not leader.sees_pii
    query = DutyQuery(live, cold, HOT_DAYS)
    ask = DutyRowsAsk(filter={"q": "1"}, start=0, end=500)  # digits: phone numbers are masked
    before = query.rows(leader, ask)
    evict(live, archive, now, HOT_DAYS)
    after = query.rows(leader, ask)
    assert after["total"] == before["total"]
    assert [r["title"] for r in after["rows"]] == [r["title"] for r in before["rows"]]


def test_an_archived_incident_that_reopens_comes_back_with_its_whole_history(world, bus: Bus):
    state, live, archive, _cold, now = world
    old_id = closed_long_ago(state, now)[0]
    history = {s.seq: (s.type, s.level, s.ts) for s in state.incidents[old_id].steps.values()}
    evict(live, archive, now, HOT_DAYS)
    assert old_id not in state.incidents
    open_before = state.metrics.figures(state.geo.city.code, now)["open"]
    last_seq = max(history)
    reopened = EventMessage(
        **{
            **msgspec.structs.asdict(_first_message(bus, old_id)),
            "seq": last_seq + 1,
            "type": "reopened",
            "ts": datetime.now(UTC),
            "level": 1,
        }
    )
    applied = state.apply_event("9999999999999-0", reopened)
    assert applied is not None
    back = state.incidents[old_id]
    assert back.status == "open"
    got = {s.seq: (s.type, s.level, s.ts) for s in back.steps.values()}
    assert set(got) == set(history) | {last_seq + 1}
    for seq, (kind, level, ts) in history.items():  # every earlier step, as folded
        assert got[seq][:2] == (kind, level)
        assert abs(got[seq][2] - ts) < timedelta(milliseconds=1)  # the archive keeps ms
    assert state.metrics.figures(state.geo.city.code, now)["open"] == open_before + 1
    # the same step again is a repeat, not a second reopening
    assert state.apply_event("9999999999999-1", reopened) is None


def test_trim_keeps_every_unarchived_step_and_drops_old_archived_ones(world, bus: Bus):
    _state, _live, archive, _cold, now = world
    before = bus.client.xlen(bus.keys[EVENTS])
    trimmed = trim_log(bus, archive, now, log_days=2)
    first = bus.first_id(EVENTS)
    assert trimmed > 0 and bus.client.xlen(bus.keys[EVENTS]) == before - trimmed
    ms = int(first.split("-")[0])
    assert ms >= int((now - timedelta(days=2)).timestamp() * 1000) - 1
    # the retention never passes the archive's watermark
    assert trim_log(bus, Archive(archive.root.parent / "empty"), now, log_days=0) == 0


def test_a_rebuild_on_a_trimmed_log_has_every_open_incident_whole(world, bus: Bus, geo):
    state, _live, archive, cold, now = world
    assert trim_log(bus, archive, now, log_days=1) > 0
    fresh = State(geo)
    fresh.recall = cold.recall
    fresh.fold_log(bus.log_batches())
    by_fold = len(fresh.recalled)  # a step in the log, the rest of the incident before it
    # no step left in the log at all: open, or closed and due since yesterday (the figures)
    by_open = fresh.bring_back(rebuild_ids(archive, now))
    assert by_fold > 0 and by_open > 0, (by_fold, by_open)
    opened = [i for i in state.incidents.values() if i.status == "open"]
    assert len(opened) > 20
    for incident in opened:
        back = fresh.incidents[incident.id]
        assert back.steps.keys() == incident.steps.keys()
        assert back.first.type == incident.first.type
    city = geo.city.code
    want, got = state.metrics.figures(city, now), fresh.metrics.figures(city, now)
    assert got.keys() == want.keys()
    for key, value in want.items():  # a rate with nothing to count is None (after midnight)
        assert got[key] == (value if value is None else pytest.approx(value, rel=1e-9)), key


def _second_block(ask: dict, sort: str, direction: str) -> DutyRowsAsk:
    """Rows 60-120 with the map's points: the merge of memory's and the archive's must hold
    past the first block too."""
    return DutyRowsAsk(filter=ask, sort=sort, dir=direction, start=60, end=120, points=True)


def _in_order(rows: list[dict], sort: str) -> list[tuple[str, list[dict]]]:
    """Rows as runs of equal sort values, each run's rows in id order: incidents that tie
    (same place) have no order of their own, in memory or in the archive. The last run may be
    cut by the block's end: only its length counts."""
    runs: list[tuple[str, list[dict]]] = []
    for row in rows:
        if not runs or runs[-1][0] != row[sort]:
            runs.append((row[sort], []))
        # "left" counts down from the clock: a minute can turn between the two asks
        runs[-1][1].append({k: v for k, v in row.items() if k != "left"})
    ordered = [(value, sorted(group, key=lambda r: r["id"])) for value, group in runs]
    if ordered:
        ordered[-1] = (ordered[-1][0], [{"n": len(ordered[-1][1])}])
    return ordered


def _first_message(bus: Bus, incident_id: str) -> EventMessage:
    for entry in bus.replay(EVENTS):
        if isinstance(entry.message, EventMessage) and entry.message.id == incident_id:
            return entry.message
    raise AssertionError(incident_id)


def test_a_month_of_summaries_is_one_file_with_one_row_per_incident_however_often_written(world):
    _state, _live, archive, _cold, _now = world
    parts = summaries.files(archive)
    assert len(parts) == 1 and parts[0].endswith("summaries.parquet")
    table = pq.read_table(parts[0])
    ids = table["id"].to_pylist()
    assert len(ids) == len(set(ids)) > 100
    first_ts = table["first_ts"].to_pylist()
    assert first_ts == sorted(first_ts, reverse=True)  # newest report first
    # a run repeated (a crash before its watermark moved) or a later run of the same month
    some = set(ids[:50])
    run = archive.watermark()
    assert summaries.write_summaries(archive, some, run) == 50
    again = pq.read_table(summaries.files(archive)[0])["id"].to_pylist()
    assert sorted(again) == sorted(ids)


def test_text_search_answers_the_same_through_the_index_and_by_a_scan(world):
    """The archive's text index (``dashboard.cold.grams``) against the scan it replaces, for
    both roles; an index that is gone or damaged falls back to the scan."""
    state, live, archive, cold, now = world
    evict(live, archive, now, HOT_DAYS)
    city = state.geo.city.code
    officer = Principal("u:duty:1", "user", "duty", "duty", city, "值班员", None)
    leader = Principal("u:lead:1", "user", "lead", "leader", city, "领导", None)
    asks = [
        {"q": "井盖"},
        {"q": "邻里因"},
        {"q": "jg"},
        {"q": "13"},
        {"q": "垃圾", "area": "330212"},
        {"q": "纠"},
    ]
    parts = [Path(p) for p in summaries.files(archive)]
    assert parts and all(grams.find(p, "search_plain", "井盖") is not None for p in parts)

    def answers() -> list[dict]:
        query = DutyQuery(live, ColdStore(archive), HOT_DAYS)  # nothing kept from before
        found = []
        for who in (officer, leader):
            for ask in asks:
                for sort, direction in (("reported", "desc"), ("place", "desc")):
                    reply = query.rows(who, _second_block(ask, sort, direction))
                    found.append((reply["total"], reply.get("archived"),
                                  _in_order(reply["rows"], sort),
                                  sorted(map(tuple, reply["points"]))))  # fmt: skip
        return found

    indexed = answers()
    assert any(archived for _total, archived, _rows, _points in indexed)
    for part in parts:  # damaged: the scan answers
        for folder in part.parent.glob("grams-*"):
            (folder / "search_plain.postings.npy").write_bytes(b"damaged")
            (folder / "search_masked.postings.npy").write_bytes(b"damaged")
    assert all(grams.find(p, "search_plain", "井盖") is None for p in parts)
    assert answers() == indexed
    for part in parts:  # gone
        for folder in part.parent.glob("grams-*"):
            shutil.rmtree(folder)
    assert answers() == indexed


def test_officers_find_by_id_place_and_several_words_in_memory_and_in_the_archive(world):
    """The search box's words (``dashboard.views.terms``): an id or its beginning, a place at
    any level, several words that must all match, Chinese and pinyin initials together; the
    same answers before and after the incidents leave memory. The expected sets are worked
    out here from the incidents themselves."""
    state, live, archive, cold, now = world
    geo = state.geo
    officer = Principal("u:duty:1", "user", "duty", "duty", geo.city.code, "值班员", None)
    query = DutyQuery(live, cold, HOT_DAYS)
    old = state.incidents[closed_long_ago(state, now)[0]]  # it will be archived
    town, village = geo.towns[old.area.town].name, geo.villages[old.area.village].name
    word, letters = old.title[:2], initials(old.title)[:2]
    everyone = list(state.incidents.values())

    def names(i) -> list[str]:
        codes = (i.area.county, i.area.town, i.area.village, i.area.grid)
        areas = (geo.counties, geo.towns, geo.villages, geo.grids)
        return [level[c].name for level, c in zip(areas, codes, strict=True) if c]

    def expected(*tests) -> list[str]:
        return sorted(i.id for i in everyone if all(test(i) for test in tests))

    def text(w: str):
        return lambda i: w.lower() in searchable(i.title, i.detail, True)

    def place(w: str):
        return lambda i: any(w in n for n in names(i))

    every_name = [a.name for lv in (geo.counties, geo.towns, geo.villages, geo.grids)
                  for a in lv.values()]  # fmt: skip

    def either(w: str):  # the rule: a word that names a place finds it there or in the text
        if any(w in n for n in every_name):
            return lambda i: place(w)(i) or text(w)(i)
        return text(w)

    asks = {
        old.id: expected(lambda i: i.id == old.id),
        old.id[:9]: expected(lambda i: i.id.startswith(old.id[:9])),  # its day
        town: expected(either(town)),
        f"{village}　{word}": expected(either(village), either(word)),  # a full-width space
        f"{letters} {town}": expected(either(letters), either(town)),
        f"{word} 不会出现的词": [],
    }
    assert all(len(ids) < 500 for ids in asks.values())
    assert len(asks[old.id[:9]]) > 1 and asks[f"{village}　{word}"]

    def found() -> dict[str, list[str]]:
        out = {}
        for q in asks:
            reply = query.rows(officer, DutyRowsAsk(filter={"q": q}, start=0, end=500))
            assert reply["total"] == len(reply["rows"]), q
            out[q] = sorted(r["id"] for r in reply["rows"])
        return out

    assert found() == asks
    evict(live, archive, now, HOT_DAYS)
    assert old.id not in state.incidents
    after = query.rows(officer, DutyRowsAsk(filter={"q": old.id}, start=0, end=10))
    assert after["archived"] == 1
    assert found() == asks


def test_kept_answers_are_the_archives_as_it_is_now(world, monkeypatch):
    """A count or a text search's matches are kept for the next officer who asks the same,
    until the archive's files change: a rewritten month answers anew."""
    state, live, archive, cold, now = world
    evict(live, archive, now, HOT_DAYS)
    officer = Principal("u:duty:1", "user", "duty", "duty", state.geo.city.code, "值班员", None)
    query = DutyQuery(live, cold, HOT_DAYS)
    scans: list[str] = []
    real = store_module._text_matches
    monkeypatch.setattr(store_module, "_text_matches", lambda *a: scans.append("text") or real(*a))
    asks = [DutyRowsAsk(filter={"q": "井盖"}, start=0, end=100), DutyRowsAsk(start=0, end=100)]
    first = [query.rows(officer, ask) for ask in asks]
    again = [query.rows(officer, ask) for ask in asks]
    assert [a["total"] for a in again] == [f["total"] for f in first]
    assert [a["rows"] for a in again] == [f["rows"] for f in first]
    assert scans == ["text"]  # the second search was answered from what was kept
    assert first[0]["archived"] > 0 and first[1]["archived"] > 0
    # the month rewritten without its 井盖 reports and half of the rest: answered anew
    for part in summaries.files(archive):
        table = pq.read_table(part)
        keep = pc.invert(pc.match_substring(table["search_plain"], "井盖"))
        keep = pc.and_(keep, pc.equal(pc.bit_wise_and(pa.array(range(table.num_rows)), 1), 0))
        # without the stamp naming the month's text index: that index is of the old rows
        pq.write_table(table.filter(keep).replace_schema_metadata(None), part + ".new")
        os.replace(part + ".new", part)
    later = [query.rows(officer, ask) for ask in asks]
    assert later[0].get("archived", 0) == 0
    assert 0 < later[1]["archived"] < first[1]["archived"]
    assert scans == ["text", "text"]


def test_a_restart_from_a_checkpoint_takes_back_no_closed_incident(world, bus: Bus):
    """Incidents closed days ago but due since yesterday left memory with their contribution
    kept: a checkpoint holds it, so a restart from one does not read them back from the
    archive (on a 60-day history: 4,400 incidents, 0.6 s and 80 MB, to let them go again);
    a fold without one does (the test above)."""
    state, live, archive, cold, now = world
    evict(live, archive, now, HOT_DAYS)
    city = state.geo.city.code
    due = rebuild_ids(archive, now) - open_ids(archive) - state.incidents.keys()
    assert due, "no closed incident due since yesterday left memory: the case is missing"
    blob = checkpoint.dump(state, live.actions, bus.prefix)
    fresh, book = State(state.geo), ActionBook()
    asked: set[str] = set()  # what the restart reads back from the archive
    fresh.recall = lambda ids: asked.update(ids) or cold.recall(ids)
    checkpoint.load(blob, fresh, book, bus.prefix)
    Keeper(LiveState(fresh), bus, archive, 0, HOT_DAYS, 7).after_rebuild(restored=True)
    assert not due & asked and not due & fresh.incidents.keys()
    assert fresh.metrics.figures(city, now) == state.metrics.figures(city, now)
