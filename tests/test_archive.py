"""The archive: complete days of the log to Parquet, once each, and trends read back from it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from feeds.archive import Archive, archive_log, area_category_day, area_category_day_table, trend
from feeds.bus import Bus
from feeds.schema import CHINA_TZ, EventMessage
from feeds.sim import Model, SimConfig

# No promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

START = datetime(2026, 3, 9, tzinfo=CHINA_TZ)


@pytest.fixture(scope="module")
def three_days(geo) -> list[EventMessage]:
    config = SimConfig(seed=4, events_per_day=1500, workers=0, duplicate_rate=0.05)
    model = Model(geo, config, START, positions=False, arrivals_until=START + timedelta(days=3))
    return [m for m in model.messages() if isinstance(m, EventMessage)]


def reported_by(messages: list[EventMessage], key) -> Counter:
    seen, counts = set(), Counter()
    for m in messages:
        if (m.id, m.seq) not in seen:
            seen.add((m.id, m.seq))
            if m.type == "reported":
                counts[key(m)] += 1
    return counts


def later() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=1)


def test_archive_writes_each_step_once_into_its_days_partition(tmp_path, bus: Bus, three_days):
    bus.publish_many(three_days)
    archive = Archive(tmp_path)
    run = archive_log(bus, archive, before=later())
    unique = len({(m.id, m.seq) for m in three_days})
    assert run.steps == unique and run.repeats == len(three_days) - unique
    assert archive.days()[:3] == [date(2026, 3, 9), date(2026, 3, 10), date(2026, 3, 11)]
    for day in archive.days():
        table = pq.read_table(archive.events / f"day={day}")
        local = {ts.astimezone(CHINA_TZ).date() for ts in table["ts"].to_pylist()}
        assert local == {day}
    again = archive_log(bus, archive, before=later())
    assert (again.steps, again.repeats) == (0, 0)


def test_lost_watermark_or_repeated_steps_do_not_duplicate_rows(tmp_path, bus: Bus, three_days):
    half = len(three_days) // 2
    bus.publish_many(three_days[:half])
    archive = Archive(tmp_path)
    first = archive_log(bus, archive, before=later())
    archive.set_watermark("0-0")  # as if the run died before saving it
    bus.publish_many(three_days[half:] + three_days[:100])  # and producers repeat themselves
    second = archive_log(bus, archive, before=later())
    assert second.steps >= len(three_days) - half - 100 and first.steps > 0
    assert pq.read_table(archive.events).num_rows == len({(m.id, m.seq) for m in three_days})
    rolled = pq.read_table(archive.rollup)
    assert sum(rolled["reported"].to_pylist()) == sum(reported_by(three_days, str).values())


def test_only_steps_logged_before_the_cutoff_are_archived(tmp_path, bus: Bus, three_days):
    bus.publish_many(three_days[:500])
    archive = Archive(tmp_path)
    cutoff = later()
    while datetime.now(UTC) <= cutoff:  # stream ids are milliseconds of the server's clock
        bus.client.ping()
    bus.publish_many(three_days[500:600])
    run = archive_log(bus, archive, before=cutoff)
    assert run.steps + run.repeats == 500
    assert archive_log(bus, archive, before=later()).steps + run.steps == len(
        {(m.id, m.seq) for m in three_days[:600]}
    )


def test_area_category_day_counts_match_the_raw_stream(tmp_path, bus: Bus, three_days):
    bus.publish_many(three_days)
    archive = Archive(tmp_path)
    archive_log(bus, archive, before=later())
    frame = area_category_day(archive, date(2026, 3, 9), date(2026, 3, 11), level="town")
    got = {(r.day.date(), r.area, r.category): r.reported for r in frame.itertuples() if r.reported}
    expected = reported_by(
        [m for m in three_days if m.ts.astimezone(CHINA_TZ).date() <= date(2026, 3, 11)],
        lambda m: (m.ts.astimezone(CHINA_TZ).date(), m.area.town, m.category),
    )
    assert got == dict(expected)
    grids = area_category_day(archive, date(2026, 3, 10), date(2026, 3, 10), level="grid")
    assert int(grids["reported"].sum()) == sum(
        n for (day, _, _), n in expected.items() if day == date(2026, 3, 10)
    )


def test_trend_has_every_day_and_filters_by_area_and_category(tmp_path, bus: Bus, three_days):
    bus.publish_many(three_days)
    archive = Archive(tmp_path)
    archive_log(bus, archive, before=later())
    week = trend(archive, 7, end=date(2026, 3, 12))
    assert list(week["day"]) == [date(2026, 3, 6) + timedelta(days=n) for n in range(7)]
    daily = reported_by(three_days, lambda m: m.ts.astimezone(CHINA_TZ).date())
    assert dict(zip(week["day"], week["reported"], strict=True)) == {
        d: daily.get(d, 0) for d in week["day"]
    }
    county = trend(archive, 7, end=date(2026, 3, 12), area="330212", category="zf02")
    expected = reported_by(
        [m for m in three_days if m.area.county == "330212" and m.category == "zf02"],
        lambda m: m.ts.astimezone(CHINA_TZ).date(),
    )
    assert dict(zip(county["day"], county["reported"], strict=True)) == {
        d: expected.get(d, 0) for d in county["day"]
    }
    grid = next(m.area.grid for m in three_days if m.type == "reported")
    mine = trend(archive, 7, end=date(2026, 3, 12), area=grid)
    assert mine["reported"].sum() == sum(
        reported_by([m for m in three_days if m.area.grid == grid], str).values()
    )


def test_empty_archive_answers_with_zeros(tmp_path):
    archive = Archive(tmp_path)
    assert area_category_day(archive, date(2026, 1, 1), date(2026, 1, 7)).empty
    assert list(trend(archive, 3, end=date(2026, 1, 3))["reported"]) == [0, 0, 0]


def test_archive_command_archives_then_prints_the_trend(
    tmp_path, bus: Bus, redis_server, prefix, monkeypatch, capsys, three_days
):
    from onemap.cli import main

    bus.publish_many(three_days[:2000])
    monkeypatch.setenv("ONEMAP_REDIS_URL", redis_server.url)
    monkeypatch.setenv("ONEMAP_PREFIX", prefix)
    assert main(["archive", "--dir", str(tmp_path)]) == 0  # all of it logged today: kept
    assert Archive(tmp_path).days() == []
    assert main(["archive", "--dir", str(tmp_path), "--before", "now"]) == 0
    assert Archive(tmp_path).days()[0] == date(2026, 3, 9)
    assert main(["archive", "--dir", str(tmp_path), "--trend", "400"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["day", "reported", "closed"]
    first = next(row for row in rows if row[0] == "2026-03-09")
    assert int(first[1]) == reported_by(three_days[:2000], lambda m: m.ts.date()).get(
        date(2026, 3, 9)
    )


def test_year_queries_read_merged_months_and_never_miss_a_later_day(tmp_path, bus: Bus, three_days):
    half = len(three_days) // 2
    bus.publish_many(three_days[:half])
    archive = Archive(tmp_path)
    archive_log(bus, archive, before=later())
    assert [p.parent.name for p in archive.months.glob("*/rollup.parquet")] == ["month=2026-03"]
    first, last = date(2026, 3, 9), date(2026, 3, 12)
    months, days = archive.rollup_files(first, last)
    assert len(months) == 1 and days == []  # the merged month stands for its days
    bus.publish_many(three_days[half:])
    for day, entries in _by_day(bus, archive).items():  # a second part per day, not merged yet
        archive.write_day(day, entries)
    assert archive.rollup_files(first, last)[0] == []  # the merge is older: days are read
    expected = reported_by(
        three_days, lambda m: (m.ts.astimezone(CHINA_TZ).date(), m.area.town, m.category)
    )
    for merged in (False, True):
        if merged:
            assert archive.compact() == ["2026-03"]
        table = area_category_day_table(archive, first, last, level="town")
        rows = table.to_pylist()
        got = {(r["day"], r["area"], r["category"]): r["reported"] for r in rows if r["reported"]}
        assert got == {k: n for k, n in expected.items() if first <= k[0] <= last}
        keys = [(r["day"], r["area"], r["category"]) for r in rows]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)  # one row a key, ordered
        county = area_category_day_table(archive, first, last, level="county")
        assert county["reported"].to_pylist() and sum(county["reported"].to_pylist()) == sum(
            got.values()
        )


def _by_day(bus: Bus, archive: Archive) -> dict[date, list]:
    """The log's entries after the watermark by local day, as ``archive_log`` groups them."""
    found: dict[date, list] = {}
    for entry in bus.replay(after=archive.watermark()):
        found.setdefault(entry.message.ts.astimezone(CHINA_TZ).date(), []).append(entry)
    return found
