"""The simulator: determinism, contract-valid messages, headline rates, workers, run() on Redis.

Rates are measured over one simulated day (2026-03-10, an ordinary Tuesday) without positions,
which is fast; worker behaviour is checked over a few hours with a few hundred workers.
"""

from __future__ import annotations

import argparse
import io
import math
import re
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pytest

from feeds.bus import EVENTS, POSITIONS, Bus
from feeds.catalogue import CATEGORIES
from feeds.geo import Geography
from feeds.schema import (
    CHINA_TZ,
    EventMessage,
    Message,
    PositionMessage,
    Rejection,
    decode_trusted,
    encode,
    validate,
)
from feeds.sim import Model, SimConfig
from feeds.sim.run import add_arguments, config_from_args, run
from feeds.sim.simtime import HOUR, MINUTE, local_midnight, to_ms
from feeds.sim.texts import MAX_DETAIL, MIN_DETAIL

DAY_START = datetime(2026, 3, 10, tzinfo=CHINA_TZ)
ID_PATTERN = re.compile(r"^E\d{8}-\d{6}-[0-9a-z]{3}$")


def by_incident(messages: list[Message]) -> dict[str, list[EventMessage]]:
    incidents: dict[str, list[EventMessage]] = defaultdict(list)
    for message in messages:
        if isinstance(message, EventMessage):
            incidents[message.id].append(message)
    return incidents


def metres(a: PositionMessage | EventMessage, b: PositionMessage | EventMessage) -> float:
    kx = math.cos(math.radians(a.lat))
    return math.hypot((a.lon - b.lon) * kx, a.lat - b.lat) * 111_320


# -- one simulated day, incidents only ------------------------------------------------------------
@pytest.fixture(scope="module")
def day(geo: Geography) -> dict[str, list[EventMessage]]:
    """Every step of the incidents reported on DAY_START, followed to their closure."""
    model = Model(geo, SimConfig(seed=11), DAY_START, positions=False,
                  arrivals_until=DAY_START + timedelta(days=1))
    return by_incident(list(model.messages()))


def test_daily_incidents_within_10_percent_of_events_per_day(day):
    assert 7200 <= len(day) <= 8800


def test_grid_closes_75_to_85_percent_of_closed_incidents_itself(day):
    closed = [steps for steps in day.values() if steps[-1].type == "closed"]
    assert len(closed) > 0.98 * len(day), "too many incidents never closed"
    self_closed = sum(max(s.level for s in steps) == 1 for steps in closed)
    assert 0.75 <= self_closed / len(closed) <= 0.85


def test_overdue_share_between_0_1_and_1_5_percent(day):
    """Overdue: closed after the deadline or, as the contract makes them now, left open."""
    overdue = [s for s in day.values() if s[-1].type != "closed" or s[-1].ts > s[0].deadline]
    assert 0.001 <= len(overdue) / len(day) <= 0.015
    for steps in day.values():
        if steps not in overdue:
            assert steps[-1].ts <= steps[0].deadline


def test_reopened_share_between_0_3_and_3_percent(day):
    reopened = [steps for steps in day.values() if any(s.type == "reopened" for s in steps)]
    assert 0.003 <= len(reopened) / len(day) <= 0.03
    for steps in reopened:
        i = [s.type for s in steps].index("reopened")
        assert [s.type for s in steps[i - 1:]] == ["closed", "reopened", "handled", "closed"]


def test_county_shares_follow_population(geo, day):
    counts = Counter(steps[0].area.county for steps in day.values())
    total_pop = sum(a.population for a in geo.counties.values())
    shares = [(counts[c] / len(day), a.population / total_pop) for c, a in geo.counties.items()]
    assert np.corrcoef(np.array(shares).T)[0, 1] > 0.95
    assert all(abs(got - want) < 0.02 for got, want in shares)


def test_category_shares_match_catalogue_weights(day):
    counts = Counter(steps[0].category for steps in day.values())
    for code, category in CATEGORIES.items():
        assert abs(counts[code] / len(day) - category.weight) < 0.012, code


def test_most_reports_come_from_grid_workers_who_are_the_grids_worker(day):
    firsts = [steps[0] for steps in day.values()]
    sources = Counter(s.source for s in firsts)
    assert 0.62 <= sources["grid_worker"] / len(firsts) <= 0.78
    assert set(sources) == {"grid_worker", "hotline_12345", "app", "wechat", "inspection"}
    for s in firsts:
        assert (s.reporter is not None) == (s.source == "grid_worker")
        if s.reporter:
            assert s.reporter.startswith(f"W{s.area.county}")


def test_steps_of_each_incident_have_increasing_seq_and_ts_and_one_deadline(day):
    for steps in day.values():
        assert [s.seq for s in steps] == list(range(1, len(steps) + 1))
        assert all(a.ts < b.ts for a, b in zip(steps, steps[1:], strict=False))
        assert steps[0].type == "reported" and steps[0].level == 1
        assert len({(s.deadline, s.title, s.category, s.area, s.lon, s.lat) for s in steps}) == 1


def test_escalations_climb_one_level_at_a_time(day):
    for steps in day.values():
        for before, step in zip(steps, steps[1:], strict=False):
            if step.type == "escalated":
                assert step.level == before.level + 1 <= 5
            else:
                assert step.level == before.level


def test_higher_levels_are_rarer(day):
    tops = Counter(max(s.level for s in steps) for steps in day.values())
    assert tops[1] > tops[2] > tops[3] > tops[4] > tops[5] > 0


def test_grid_worker_reports_are_often_fixed_on_the_spot_within_minutes(day):
    on_spot = [steps for steps in day.values()
               if [s.type for s in steps] == ["reported", "handled", "closed"]]
    assert all(steps[0].source == "grid_worker" for steps in on_spot)
    minutes = [(steps[-1].ts - steps[0].ts).total_seconds() / 60 for steps in on_spot]
    assert len(on_spot) > 0.25 * len(day)
    assert 5 <= statistics.median(minutes) <= 40


def test_escalated_incidents_take_hours(day):
    escalated = [steps for steps in day.values() if max(s.level for s in steps) > 1]
    hours = [(steps[-1].ts - steps[0].ts).total_seconds() / 3600 for steps in escalated]
    assert 3 <= statistics.median(hours) <= 16


def test_arrivals_are_low_at_night_and_peak_in_the_morning_and_afternoon(day):
    hours = Counter(steps[0].ts.hour for steps in day.values())
    night = sum(hours[h] for h in range(0, 6)) / 6
    assert hours[10] > 5 * night and hours[15] > 5 * night
    assert hours[10] > hours[12] < hours[15]


def test_safety_categories_are_more_often_urgent(day):
    def urgent_share(codes: set[str]) -> float:
        picked = [steps[0] for steps in day.values() if steps[0].category in codes]
        return sum(s.severity == "urgent" for s in picked) / len(picked)

    safety = {"zz03", "zz04"}
    assert urgent_share(safety) > 5 * urgent_share(set(CATEGORIES) - safety)
    severities = Counter(steps[0].severity for steps in day.values())
    assert severities["normal"] > 0.85 * len(day) and severities["urgent"] > 0


def test_texts_are_chinese_within_limits_and_phone_numbers_rare(day):
    steps = [s for steps in day.values() for s in steps]
    assert all(MIN_DETAIL <= len(s.detail) <= MAX_DETAIL for s in steps)
    assert all(0 < len(s.title) <= 40 and re.search(r"[\u4e00-\u9fff]", s.title) for s in steps)
    phones = sum(bool(re.search(r"1[3-9]\d{9}", s[0].detail)) for s in day.values())
    assert 0 < phones / len(day) < 0.03


def test_incident_ids_are_unique_well_formed_and_dated(day):
    for incident_id, steps in day.items():
        assert ID_PATTERN.match(incident_id)
        assert incident_id[1:9] == steps[0].ts.strftime("%Y%m%d")


# -- a few hours with workers -------------------------------------------------------------------
EVENING = (DAY_START + timedelta(hours=17), timedelta(minutes=90))
EVENING_CONFIG = SimConfig(seed=5, workers=800)


@pytest.fixture(scope="module")
def evening(geo: Geography) -> list[Message]:
    """17:00-18:30 with 800 workers: day shifts end, night shifts start."""
    start, length = EVENING
    return list(Model(geo, EVENING_CONFIG, start).messages(until=start + length))


def test_same_seed_and_start_give_identical_bytes_and_other_seeds_differ(geo, evening):
    start, length = EVENING
    again = Model(geo, EVENING_CONFIG, start).messages(until=start + length)
    assert [encode(m) for m in again] == [encode(m) for m in evening]
    other = Model(geo, replace(EVENING_CONFIG, seed=6), start)
    assert [encode(m) for m in other.take(to_ms(start) + 5 * MINUTE, 10**6)] != [
        encode(m) for m in evening if m.ts <= start + timedelta(minutes=5)
    ]


def test_every_message_passes_the_feed_contract(geo, evening, day):
    sample = evening[::4] + [s for steps in list(day.values())[::10] for s in steps]
    for message in sample:
        result = validate(encode(message), geo, now=message.ts)
        assert not isinstance(result, Rejection), (result, message)
        assert result == message


def test_messages_come_in_timestamp_order(evening):
    assert all(a.ts <= b.ts for a, b in zip(evening, evening[1:], strict=False))


def test_workers_cover_distinct_grids_with_county_based_ids(geo):
    model = Model(geo, SimConfig(seed=1, workers=20_000), DAY_START, positions=False)
    workers = model.roster.workers
    assert len(workers) == len(geo.grids)  # capped: at most one per grid
    assert len({w.grid for w in workers}) == len(workers)
    assert all(re.fullmatch(rf"W{w.grid[:6]}\d{{5}}", w.id) for w in workers)


def test_workers_report_every_10_to_30_seconds_at_walking_or_ebike_pace(evening):
    fixes: dict[str, list[PositionMessage]] = defaultdict(list)
    for m in evening:
        if isinstance(m, PositionMessage):
            fixes[m.worker].append(m)
    gaps, paces = [], []
    for track in fixes.values():
        for a, b in zip(track, track[1:], strict=False):
            if a.status != "offline" and b.status != "offline":
                seconds = (b.ts - a.ts).total_seconds()
                gaps.append(seconds)
                paces.append(metres(a, b) / seconds)
                assert a.grid == b.grid
    assert 9 <= min(gaps) and max(gaps) <= 33.5
    assert 15 <= statistics.mean(gaps) <= 25
    assert max(paces) <= 5.5 and statistics.median(paces) > 0.3


def test_workers_send_one_offline_fix_at_shift_end_then_nothing(evening):
    fixes: dict[str, list[PositionMessage]] = defaultdict(list)
    for m in evening:
        if isinstance(m, PositionMessage):
            fixes[m.worker].append(m)
    ended = [track for track in fixes.values() if any(f.status == "offline" for f in track)]
    assert len(ended) > 200  # most of the day shift clocks off between 16:30 and 19:30
    for track in ended:
        assert [f.status for f in track].count("offline") == 1
        assert track[-1].status == "offline"


def test_worker_statuses_battery_and_accuracy_are_plausible(evening):
    fixes = [m for m in evening if isinstance(m, PositionMessage)]
    statuses = Counter(f.status for f in fixes)
    assert statuses["patrolling"] > statuses["idle"] > 0 and statuses["handling"] > 0
    assert all(3 <= (f.accuracy or 0) <= 30 and 0 <= (f.battery or 0) <= 100 for f in fixes)
    first, last = {}, {}
    for f in fixes:
        if f.status != "offline":
            first.setdefault(f.worker, f.battery)
            last[f.worker] = f.battery
    assert all(last[w] <= first[w] for w in first)
    assert statistics.mean(first[w] - last[w] for w in first) > 1


def test_workers_go_to_the_spot_of_incidents_they_handle(evening):
    positions = defaultdict(list)
    for m in evening:
        if isinstance(m, PositionMessage):
            positions[m.worker].append(m)
    reached = checked = 0
    for steps in by_incident(evening).values():
        if [s.type for s in steps] != ["reported", "handled", "closed"]:
            continue
        before = [f for f in positions[steps[0].reporter] if f.ts <= steps[1].ts]
        if before and before[-1].ts > steps[0].ts and before[-1].status == "handling":
            checked += 1
            reached += metres(before[-1], steps[0]) < 30
    assert checked >= 10 and reached / checked > 0.7


@pytest.mark.parametrize(("hour", "low", "high"), [(3, 0.10, 0.20), (11, 0.75, 0.90)])
def test_share_of_workers_on_duty_by_time_of_day(geo, hour, low, high):
    start = DAY_START + timedelta(hours=hour)
    model = Model(geo, SimConfig(seed=2, workers=3000), start)
    first_fixes = model.take(to_ms(start), limit=10_000)
    assert low <= len(first_fixes) / 3000 <= high


def test_incidents_do_not_depend_on_when_emission_goes_live(geo):
    start = DAY_START + timedelta(hours=8)

    def events(live_from: datetime) -> list[bytes]:
        model = Model(geo, SimConfig(seed=3, workers=200), start, live_from)
        return [encode(m) for m in model.messages(until=start + timedelta(hours=2))
                if isinstance(m, EventMessage)]

    assert events(start) == events(start + timedelta(minutes=37))


# -- speed, burst, chaos --------------------------------------------------------------------------
def test_speed_multiplies_arrivals_and_divides_durations_and_intervals(geo):
    start = DAY_START + timedelta(hours=9)
    end = start + timedelta(minutes=30)

    def incidents(speed: float) -> dict[str, list[EventMessage]]:
        model = Model(geo, SimConfig(seed=4, speed=speed), start, positions=False,
                      arrivals_until=end)
        return by_incident(list(model.messages()))

    slow, fast = incidents(1), incidents(10)
    assert 8 <= len(fast) / len(slow) <= 12

    def median_on_spot(incidents: dict[str, list[EventMessage]]) -> float:
        return statistics.median(
            (s[-1].ts - s[0].ts).total_seconds() for s in incidents.values()
            if [x.type for x in s] == ["reported", "handled", "closed"]
        )

    assert 6 <= median_on_spot(slow) / median_on_spot(fast) <= 15
    walkers = Model(geo, SimConfig(seed=4, speed=10, workers=30), start)
    fixes = [m for m in walkers.messages(until=start + timedelta(minutes=5))
             if isinstance(m, PositionMessage)]
    per_worker = Counter(f.worker for f in fixes)
    assert 1.0 <= 300 / statistics.median(per_worker.values()) <= 3.0  # one fix per 1-3 s


def test_burst_adds_incidents_per_second_for_burst_seconds(geo):
    live = DAY_START + timedelta(hours=3)
    config = SimConfig(seed=8, events_per_day=0, workers=0, burst_per_second=50,
                       burst_seconds=10)
    model = Model(geo, config, DAY_START, live)
    reports = [m for m in model.messages(until=live + timedelta(minutes=5))
               if isinstance(m, EventMessage) and m.seq == 1]
    assert 400 <= len(reports) <= 600
    assert all(live <= m.ts < live + timedelta(seconds=10) for m in reports)


def base_and_chaos(geo: Geography, **chaos: float) -> tuple[list[bytes], list[bytes]]:
    start = DAY_START + timedelta(hours=9)

    def emitted(config: SimConfig) -> list[bytes]:
        model = Model(geo, config, start)
        return [encode(m) for m in model.messages(until=start + timedelta(hours=2))]

    base = SimConfig(seed=9, workers=20)
    return emitted(base), emitted(SimConfig(seed=9, workers=20, **chaos))


def test_duplicate_rate_resends_identical_event_steps_later(geo):
    base, noisy = base_and_chaos(geo, duplicate_rate=0.1)
    seen: set[bytes] = set()
    first_copies, repeats = [], []
    for raw in noisy:
        (repeats if raw in seen else first_copies).append(raw)
        seen.add(raw)
    events = sum(b'"kind":"event"' in raw for raw in base)
    assert first_copies[: len(base) - 100] == base[: len(base) - 100]
    assert all(b'"kind":"event"' in raw for raw in repeats)
    assert 0.06 <= len(repeats) / events <= 0.14


def test_reorder_rate_swaps_steps_with_the_next_step_of_the_same_incident(geo):
    base, noisy = base_and_chaos(geo, reorder_rate=0.2)
    base_events = [m for m in map(decode_event, base) if m]
    noisy_events = [m for m in map(decode_event, noisy) if m]
    assert Counter((m.id, m.seq) for m in noisy_events[:-50]) <= Counter(
        (m.id, m.seq) for m in base_events
    )
    seqs: dict[str, list[int]] = defaultdict(list)
    for m in noisy_events:
        seqs[m.id].append(m.seq)
    swaps = 0
    for order in seqs.values():
        for a, b in zip(order, order[1:], strict=False):
            if a > b:
                assert a == b + 1, order  # only neighbours trade places
                swaps += 1
    assert 0.1 <= swaps / len(noisy_events) <= 0.25


def decode_event(raw: bytes) -> EventMessage | None:
    message = decode_trusted(raw)
    return message if isinstance(message, EventMessage) else None


def test_chaos_never_emits_a_message_before_its_timestamp(geo):
    start = DAY_START + timedelta(hours=10)
    config = SimConfig(seed=10, workers=30, speed=5, duplicate_rate=0.3, reorder_rate=0.3)
    model = Model(geo, config, start)
    now = to_ms(start)
    for _ in range(3600):
        now += 1000
        assert all(to_ms(m.ts) <= now for m in model.take(now, limit=100_000))


# -- run() against Redis ------------------------------------------------------------------------
def shifted_clock(hour: float) -> tuple[float, Callable[[], float]]:
    """A clock reading today's (or yesterday's) ``hour`` local time, then ticking normally."""
    now = time.time()
    target = (local_midnight(to_ms(now)) + hour * HOUR) / 1000
    if target > now:
        target -= 86_400
    offset = now - target
    return target, lambda: time.time() - offset


def test_run_backfills_since_midnight_in_ts_order_then_goes_live(geo, bus: Bus):
    began, clock = shifted_clock(1.5)
    config = SimConfig(seed=12, events_per_day=2000, workers=200, speed=5)
    stop, progress = threading.Event(), io.StringIO()
    thread = threading.Thread(target=run, args=(bus, geo, config, stop),
                              kwargs={"progress": progress, "clock": clock})
    thread.start()
    deadline = time.monotonic() + 20
    while "backfill done" not in progress.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive(), "run() did not return after stop was set"
    ended = clock()

    events = [e.message for e in bus.replay(EVENTS)]
    positions = [e.message for e in bus.replay(POSITIONS)]
    assert "seed 12" in progress.getvalue() and "backfill done" in progress.getvalue()
    assert len(events) > 100 and len(positions) > 20
    assert all(a.ts <= b.ts for a, b in zip(events, events[1:], strict=False))
    midnight = datetime.fromtimestamp(local_midnight(to_ms(began)) / 1000, CHINA_TZ)
    assert events[0].ts >= midnight
    assert max(m.ts.timestamp() for m in events + positions) <= ended
    assert any(m.ts.timestamp() > began for m in events + positions), "nothing went out live"
    model = Model(geo, config, midnight, datetime.fromtimestamp(began, CHINA_TZ))
    expected = [m for m in model.messages(until=datetime.fromtimestamp(began, CHINA_TZ))
                if isinstance(m, EventMessage)]
    assert events[: len(expected)] == expected


def test_run_without_backfill_starts_with_worker_positions_only(geo, bus: Bus):
    began, clock = shifted_clock(10)
    stop = threading.Event()
    thread = threading.Thread(
        target=run, args=(bus, geo, SimConfig(seed=13, workers=100, backfill=False), stop),
        kwargs={"progress": None, "clock": clock},
    )
    thread.start()
    time.sleep(0.5)
    stop.set()
    thread.join(timeout=10)
    workers = {e.message.worker for e in bus.replay(POSITIONS)}
    assert 70 <= len(workers) <= 100  # ~85 % of the 100 workers are on their day shift
    assert all(e.message.ts.timestamp() >= began - 1 for e in bus.replay(EVENTS))
    assert set(bus.latest_positions()) == workers


# -- command line -------------------------------------------------------------------------------
def test_cli_options_build_the_config():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    ns = parser.parse_args(["--speed", "5", "--events-per-day", "100", "--workers", "10",
                            "--seed", "3", "--no-backfill", "--burst", "20",
                            "--burst-seconds", "30"])
    assert config_from_args(ns) == SimConfig(
        events_per_day=100, workers=10, seed=3, speed=5, backfill=False, burst_per_second=20,
        burst_seconds=30,
    )
    assert config_from_args(parser.parse_args([])) == SimConfig()


@pytest.mark.parametrize("argv", [["--speed", "0"], ["--workers", "-1"], ["--reorder-rate", "2"]])
def test_cli_rejects_out_of_range_options(argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(argv)


def test_ids_of_runs_with_different_seeds_do_not_collide(geo):
    ids = set()
    for seed in range(20):
        model = Model(geo, SimConfig(seed=seed, workers=0), DAY_START + timedelta(hours=9))
        batch = {m.id for m in model.messages(until=DAY_START + timedelta(hours=9, minutes=5))
                 if isinstance(m, EventMessage)}
        assert not ids & batch
        ids |= batch


def test_take_returns_nothing_due_after_until(geo):
    start = DAY_START + timedelta(hours=12)
    model = Model(geo, SimConfig(seed=14, workers=50), start)
    until = to_ms(start) + 10 * MINUTE
    taken = model.take(until, limit=100_000)
    assert taken and all(to_ms(m.ts) <= until for m in taken)
    assert model.next_due() > until


def test_routine_cases_wait_for_the_morning_but_urgent_and_safety_ones_do_not(day):
    def night(step: EventMessage) -> bool:
        minutes = step.ts.hour * 60 + step.ts.minute
        return minutes >= 22 * 60 or minutes < 7 * 60 + 30

    routine, round_the_clock = [], []
    for steps in day.values():
        if [s.type for s in steps] == ["reported", "handled", "closed"]:
            continue  # fixed on the spot by the worker who found it
        urgent = steps[0].severity == "urgent" or CATEGORIES[steps[0].category].unit == "hours"
        (round_the_clock if urgent else routine).extend(steps[1:])
    assert sum(map(night, routine)) / len(routine) < 0.02
    assert sum(map(night, round_the_clock)) / len(round_the_clock) > 0.1


def test_overdue_incidents_close_late(geo):
    model = Model(geo, SimConfig(seed=11), DAY_START, positions=False,
                  arrivals_until=DAY_START + timedelta(hours=12))
    incidents = by_incident(list(model.messages())).values()
    late = [steps for steps in incidents if steps[-1].ts > steps[0].deadline]
    assert all(steps[-1].type == "closed" for steps in incidents)
    assert 0.001 <= len(late) / len(incidents) <= 0.015


def test_history_days_backfill_starts_that_many_days_earlier(bus, geo):
    now = DAY_START + timedelta(hours=9)
    stop = threading.Event()
    config = SimConfig(seed=5, workers=0, events_per_day=2000, history_days=1)
    ticks = iter([now.timestamp()] * 3)

    def clock() -> float:
        try:
            return next(ticks)
        except StopIteration:
            stop.set()
            return now.timestamp()

    run(bus, geo, config, stop=stop, progress=None, clock=clock)
    first = next(iter(bus.replay(EVENTS))).message.ts
    midnight = local_midnight(to_ms(now.timestamp()))
    assert to_ms(first.timestamp()) < midnight
    assert to_ms(first.timestamp()) >= midnight - 86_400_000
