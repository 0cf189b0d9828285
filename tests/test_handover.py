"""Shift hand-over, pure: which shift a moment is in (the midnight shift, the boundary instant),
and the brief's counts reconciled with the live KPIs of the same state, to the digit."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from dashboard.analytics import hourly as h
from dashboard.config import SettingError
from dashboard.live.actions import ActionBook
from dashboard.state import CLOSED, OPEN, Incident, State
from dashboard.views import shifts
from dashboard.views.handover_brief import build, counts_of, take
from dashboard.views.ranking import governance
from feeds.schema import CHINA_TZ, ActionMessage, AreaRef, EventMessage, WarningMessage

NOW = datetime(2026, 12, 9, 15, 0, tzinfo=CHINA_TZ)  # a Wednesday afternoon
YINZHOU = "330212"
DEFAULT = shifts.parse(shifts.DEFAULT)  # 08:00, 20:00
THREE = shifts.parse("08:00,16:00,00:00")


def at(day: int, hour: int, minute: int = 0, second: float = 0) -> datetime:
    whole = int(second)
    micro = round((second - whole) * 1_000_000)
    return datetime(2026, 12, day, hour, minute, whole, micro, tzinfo=CHINA_TZ)


# -- the roster --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("roster", "moment", "start", "end"),
    [
        (DEFAULT, at(9, 15), at(9, 8), at(9, 20)),
        (DEFAULT, at(9, 8), at(9, 8), at(9, 20)),  # the boundary instant starts the new shift
        (DEFAULT, at(9, 7, 59, 59.999999), at(8, 20), at(9, 8)),  # a microsecond before: not
        (DEFAULT, at(9, 2), at(8, 20), at(9, 8)),  # the night shift, after midnight
        (DEFAULT, at(9, 23, 30), at(9, 20), at(10, 8)),  # ... and before it
        (THREE, at(9, 0), at(9, 0), at(9, 8)),  # the midnight shift begins at midnight
        (THREE, at(8, 23, 59, 59.999999), at(8, 16), at(9, 0)),
        (THREE, at(9, 16), at(9, 16), at(10, 0)),  # ends at the next day's midnight
        (shifts.parse("07:30"), at(9, 7, 20), at(8, 7, 30), at(9, 7, 30)),  # one 24-hour shift
    ],
)
def test_the_shift_of_a_moment(roster, moment, start, end):
    shift = roster.at(moment)
    assert (shift.start, shift.end) == (start, end)
    assert shift.holds(moment)


def test_the_previous_shift_is_the_one_that_handed_over():
    assert DEFAULT.before(DEFAULT.at(at(9, 15))).start == at(8, 20)
    assert DEFAULT.before(DEFAULT.at(at(9, 3))).start == at(8, 8)
    midnight = THREE.at(at(9, 1))
    assert (THREE.before(midnight).start, THREE.before(midnight).end) == (at(8, 16), at(9, 0))
    assert THREE.before(THREE.at(at(9, 9))).start == at(9, 0)


def test_a_shift_says_when_it_runs_on_into_the_next_day():
    assert DEFAULT.at(at(9, 22)).label == "12月9日 20:00–次日08:00"
    assert DEFAULT.at(at(9, 9)).label == "12月9日 08:00–20:00"


def test_the_roster_is_read_from_the_environment_with_two_12_hour_shifts_by_default():
    assert shifts.from_env({}).starts == (8 * 60, 20 * 60)
    assert shifts.from_env({"ONEMAP_SHIFTS": " 16:00, 00:00,08:00 "}).starts == (0, 480, 960)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("8", "not a time of day"),
        ("24:00", "not a time of day"),
        ("08:00,", "not a time of day"),
        ("08:05", "10-minute mark"),
        ("08:00,08:00", "given twice"),
    ],
)
def test_a_roster_that_cannot_work_is_refused_saying_why(text, said):
    with pytest.raises(SettingError, match=said):
        shifts.parse(text)


# -- a day of incidents -------------------------------------------------------------------------
def _world(geo, count: int = 600, seed: int = 20) -> list[EventMessage]:
    """Incidents reported over the last 40 hours across the city: escalated, closed (on time
    or late), reopened, of every severity; their steps in time order."""
    rng = random.Random(seed)
    grids = sorted(geo.grids)[::29]
    out = []
    for n in range(count):
        grid = rng.choice(grids)
        area = AreaRef(geo.county_of(grid), geo.town_of(grid), geo.village_of(grid), grid)
        t = NOW - timedelta(minutes=rng.uniform(1, 40 * 60))
        deadline = t + timedelta(hours=rng.choice((1, 4, 10, 24)))
        level, steps = 1, [("reported", t, 1)]
        for _ in range(rng.randint(0, 4)):
            t += timedelta(minutes=rng.uniform(5, 400))
            if t >= NOW:
                break
            last = steps[-1][0]
            if last == "closed":
                kind = "reopened" if rng.random() < 0.4 else ""
            else:
                kind = rng.choice(("dispatched", "escalated", "closed", "closed"))
            if not kind:
                break
            if kind == "escalated":
                level = min(5, level + rng.randint(1, 3))
            steps.append((kind, t, level))
        severity = rng.choice(("normal",) * 6 + ("major", "urgent"))
        for seq, (kind, ts, lvl) in enumerate(steps, 1):
            out.append(_step(geo, f"H{n:04d}", seq, kind, ts, lvl, area, deadline, severity))
    return sorted(out, key=lambda m: m.ts)


def _step(geo, incident, seq, kind, ts, level, area, deadline, severity="normal"):
    point = geo.grids[area.grid]
    return EventMessage(
        id=incident, seq=seq, type=kind, ts=ts, category="zf02", level=level, area=area,
        lon=point.lon, lat=point.lat, source="grid_worker", title=f"事件{incident} 13812345678",
        deadline=deadline, severity=severity,
    )  # fmt: skip


def _action(n: int, verb, incident, role="duty", ts=None, area="") -> ActionMessage:
    return ActionMessage(
        id=f"a{n}", ts=ts or NOW - timedelta(hours=1), verb=verb, actor=f"{role}-1", role=role,
        area=area, incident=incident, text=f"{verb} {n} 13812345678",
    )  # fmt: skip


def _marks(state: State, seed: int = 3) -> ActionBook:
    """签收 about half the incidents, 督办 a tenth."""
    rng = random.Random(seed)
    book = ActionBook()
    for n, incident in enumerate(sorted(state.incidents)):
        if rng.random() < 0.5:
            book.apply(f"{n}-1", _action(n, "acknowledge", incident))
        if rng.random() < 0.1:
            book.apply(f"{n}-2", _action(n, "supervise", incident, role="leader"))
    return book


@pytest.fixture(scope="module", params=["live", "rebuilt"])
def world(request, geo):
    state = State(geo)
    messages = _world(geo)
    entries = [(f"{n + 1}-0", m) for n, m in enumerate(messages)]
    if request.param == "live":
        for sid, m in entries:
            state.apply_event(sid, m)
    else:
        state.fold(entries)
    return state, _marks(state)


def _brief(state, book, scope, roster=DEFAULT, now=NOW, reveal=True):
    shift = roster.at(now)
    taken = take(state, book, scope, shift, roster.before(shift), now)
    return build(taken, state.geo, shift, now, reveal)


def _in(state: State, scope: str) -> list[Incident]:
    city = state.geo.city.code
    return [i for i in state.incidents.values() if scope in (city, i.area.county, i.area.town)]


def _scopes(state: State) -> list[str]:
    town = max(state.geo.children(YINZHOU), key=lambda t: len(_in(state, t.code))).code
    return [state.geo.city.code, YINZHOU, town]


# -- the brief against the live figures ---------------------------------------------------------
def test_the_briefs_open_and_overdue_are_the_kpi_tiles_to_the_digit(world):
    state, book = world
    for scope in _scopes(state):
        figures = state.metrics.figures(scope, NOW)
        brief = _brief(state, book, scope)
        assert figures["overdue"] > 0, "proves nothing"
        assert brief["counts"]["open"] == figures["open"], scope
        assert brief["counts"]["overdue"] == figures["overdue"], scope
        assert brief["shift"]["overdue"] == figures["overdue"], scope
        assert brief["kpis"] == {k: figures[k] for k in ("open", "overdue", "reported", "closed")}
        assert len(brief["sections"]["overdue"]["rows"]) == min(30, figures["overdue"])
    city = state.metrics.figures(state.geo.city.code, NOW)
    assert city["open"] > city["overdue"]  # the two sets differ: each is its own rule


def test_the_days_shifts_add_up_to_todays_reported_and_closed(world):
    """00:00-08:00 and 08:00-now are today: their counts are 今日上报 and 今日办结."""
    state, book = world
    for scope in _scopes(state):
        figures = state.metrics.figures(scope, NOW)
        brief = _brief(state, book, scope, roster=THREE)
        assert brief["previous"]["start"] == at(9, 0).isoformat()
        for key in ("reported", "closed"):
            assert brief["previous"][key] + brief["shift"][key] == figures[key], (scope, key)
        assert brief["shift"]["complete"] and brief["previous"]["complete"]


def _closed_at(i: Incident) -> datetime | None:
    latest = i.latest
    return latest.ts if latest is not None and latest.type == "closed" else None


def test_shift_counts_are_what_happened_in_the_shift(world):
    """Counted by hand from the incidents: reported in the shift, closed in it (and still
    closed), and overdue at the previous shift's end (the night shift, across midnight)."""
    state, book = world
    for scope in _scopes(state):
        brief = _brief(state, book, scope)
        mine = _in(state, scope)
        for name, begin, end in (("shift", at(9, 8), at(9, 20)), ("previous", at(8, 20), at(9, 8))):
            reported = sum(1 for i in mine if begin <= i.first.ts < end)
            closed = sum(1 for i in mine if (c := _closed_at(i)) and begin <= c < end)
            assert (brief[name]["reported"], brief[name]["closed"]) == (reported, closed), name
        handed = at(9, 8)
        overdue = sum(
            1
            for i in mine
            if i.first.ts < handed and i.deadline < handed
            and ((c := _closed_at(i)) is None or c >= handed)
        )  # fmt: skip
        assert brief["previous"]["overdue"] == overdue > 0


def test_supervised_and_unacknowledged_are_the_open_ones_so_marked(world):
    state, book = world
    for scope in _scopes(state):
        brief = _brief(state, book, scope)
        open_ = [i for i in _in(state, scope) if i.status == OPEN]
        supervised = {i.id for i in open_ if i.id in book.supervised}
        unacked = {i.id for i in open_ if i.id not in book.acknowledged}
        assert supervised and unacked
        assert brief["counts"]["supervised"] == len(supervised)
        assert brief["counts"]["unacknowledged"] == len(unacked)
        shown = brief["sections"]["supervised"]["rows"]
        assert {r["id"] for r in shown} <= supervised and all(r["supervised"] for r in shown)


def test_the_red_areas_are_the_index_maps_red_ones(geo):
    """With the colour thresholds set among the towns' scores (the test day is rough on every
    town: all of them red by the standard ones), so that some are red, some yellow, some green."""
    state = State(geo)
    for n, m in enumerate(_world(geo)):
        state.apply_event(f"{n + 1}-0", m)
    scores = sorted(e["score"] for e in governance(state, YINZHOU, NOW).values())
    index = replace(state.metrics.config.index, yellow=scores[len(scores) // 3],
                    green=scores[2 * len(scores) // 3])  # fmt: skip
    state.metrics.config = replace(state.metrics.config, index=index)
    colours = {c: e["colour"] for c, e in governance(state, YINZHOU, NOW).items()}
    assert set(colours.values()) == {"red", "yellow", "green"}, "proves nothing"
    brief = _brief(state, ActionBook(), YINZHOU)
    red = {c for c, colour in colours.items() if colour == "red"}
    assert {r["code"] for r in brief["sections"]["red"]["rows"]} == red
    assert brief["counts"]["red"] == len(red)


def test_counts_recorded_at_a_hand_over_are_the_briefs(world):
    state, book = world
    brief = _brief(state, book, YINZHOU)
    counts = counts_of(brief)
    assert counts["open"] == state.metrics.figures(YINZHOU, NOW)["open"]
    assert counts["reported"] == brief["shift"]["reported"]
    assert all(isinstance(v, int) for v in counts.values())


# -- 批示, warnings and the shift's notable incidents, case by case ----------------------------
@pytest.fixture
def small(geo):
    grid = sorted(g for g in geo.grids if geo.county_of(g) == YINZHOU)[0]
    area = AreaRef(YINZHOU, geo.town_of(grid), geo.village_of(grid), grid)
    later = NOW + timedelta(days=1)
    state = State(geo)
    steps = [
        ("P-quiet", 1, "reported", NOW - timedelta(hours=20), 1, later, "normal"),
        ("P-answered", 1, "reported", NOW - timedelta(hours=20), 1, later, "normal"),
        ("P-leader", 1, "reported", NOW - timedelta(hours=20), 1, later, "normal"),
        ("P-closed", 1, "reported", NOW - timedelta(hours=20), 1, later, "normal"),
        ("P-closed", 2, "closed", NOW - timedelta(hours=2), 1, later, "normal"),
        ("N-urgent", 1, "reported", NOW - timedelta(hours=3), 1, later, "urgent"),
        ("N-old-urgent", 1, "reported", NOW - timedelta(hours=9), 1, later, "urgent"),
        ("N-up", 1, "reported", NOW - timedelta(hours=12), 1, later, "normal"),
        ("N-up", 2, "escalated", NOW - timedelta(hours=2), 4, later, "normal"),
        ("N-reopened", 1, "reported", NOW - timedelta(hours=12), 1, later, "normal"),
        ("N-reopened", 2, "closed", NOW - timedelta(hours=9), 1, later, "normal"),
        ("N-reopened", 3, "reopened", NOW - timedelta(hours=1), 1, later, "normal"),
        ("N-late", 1, "reported", NOW - timedelta(hours=12), 1, NOW - timedelta(hours=1), "normal"),
        ("N-late-before", 1, "reported", NOW - timedelta(hours=20), 1, at(9, 7), "normal"),
    ]
    for n, (incident, seq, kind, ts, level, deadline, severity) in enumerate(steps):
        message = _step(geo, incident, seq, kind, ts, level, area, deadline, severity)
        state.apply_event(f"{n + 1}-0", message)
    book = ActionBook()
    sid = iter(range(1, 100))
    for n, incident in enumerate(("P-quiet", "P-answered", "P-leader", "P-closed")):
        said = NOW - timedelta(hours=5 - n)  # the oldest 批示 first
        book.apply(f"{next(sid)}-0", _action(n, "instruct", incident, role="leader", ts=said))
    later_ts = NOW - timedelta(minutes=20)
    book.apply(f"{next(sid)}-0", _action(10, "note", "P-answered", ts=later_ts))
    book.apply(f"{next(sid)}-0", _action(11, "note", "P-leader", role="leader", ts=later_ts))
    book.apply(f"{next(sid)}-0", _action(12, "acknowledge", "N-urgent"))
    outbox = state.metrics.outbox
    for wid, related in (("w-answered", ("N-urgent",)), ("w-open", ("N-up",)), ("w-none", ())):
        outbox.put(
            WarningMessage(id=wid, ts=NOW - timedelta(hours=1), type="cluster", area=area.town,
                           title=wid, related=related)
        )  # fmt: skip
    return state, book


def test_a_批示_is_pending_until_a_desk_action_follows_it(small):
    state, book = small
    brief = _brief(state, book, YINZHOU)
    pending = brief["sections"]["instructions"]
    assert [r["id"] for r in pending["rows"]] == ["P-quiet", "P-leader"]
    assert pending["rows"][0]["instruction"]["text"] == "instruct 0 13812345678"
    masked = _brief(state, book, YINZHOU, reveal=False)["sections"]["instructions"]["rows"]
    assert "13812345678" not in masked[0]["instruction"]["text"]
    assert "13812345678" not in masked[0]["title"]


def test_a_warning_is_answered_when_every_incident_it_names_is_signed_for(small):
    state, book = small
    warnings = _brief(state, book, YINZHOU)["sections"]["warnings"]
    assert sorted(w["id"] for w in warnings["rows"]) == ["w-none", "w-open"]
    elsewhere = _brief(state, book, "330281")["sections"]["warnings"]
    assert elsewhere["total"] == 0


def test_the_shifts_notable_incidents_say_why(small):
    state, book = small
    notable = _brief(state, book, YINZHOU)["sections"]["notable"]
    reasons = {r["id"]: r["reasons"] for r in notable["rows"]}
    assert reasons == {
        "N-urgent": ["紧急"],
        "N-up": ["上报至区县"],
        "N-reopened": ["重新打开"],
        "N-late": ["本班超期"],
    }  # N-old-urgent came in the previous shift; N-late-before fell overdue in it
    assert notable["rows"][0]["id"] == "N-urgent"  # the most severe first


def test_closed_incidents_leave_the_brief(small):
    state, book = small
    brief = _brief(state, book, YINZHOU)
    assert "P-closed" not in {r["id"] for r in brief["sections"]["open"]["rows"]}
    assert {i.status for i in state.incidents.values()} == {OPEN, CLOSED}
    assert h.REPORTED == 0  # the rows the shift counts read: a renumbering must be seen here
