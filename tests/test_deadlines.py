"""Time limits: each category's clock (natural hours or working days), the State Council's
calendar (weekends, public holidays, make-up workdays) and the 紧急 shortcut."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.catalogue import CATEGORIES, PLATFORMS, Category
from feeds.deadlines import (
    WORKDAY_START,
    add_working_days,
    countdown,
    deadline_for,
    deadline_state,
    is_workday,
)
from feeds.schema import CHINA_TZ, EventMessage
from feeds.sim import Model, SimConfig

DOC = Path(__file__).parent.parent / "docs" / "time-limits.md"


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=CHINA_TZ)


@pytest.mark.parametrize(
    ("category", "reported", "due"),
    [
        ("zf02", at(2026, 3, 10, 15), at(2026, 3, 11, 15)),  # Tuesday: the next day
        ("zf02", at(2026, 3, 13, 15), at(2026, 3, 16, 15)),  # Friday: over the weekend
        ("zf02", at(2026, 4, 3, 14), at(2026, 4, 7, 14)),  # weekend and 清明 Monday
        ("zz06", at(2026, 9, 30, 10), at(2026, 10, 10, 10)),  # National Day; Sat 10th works
        ("zf02", at(2026, 10, 9, 16), at(2026, 10, 10, 16)),  # into the make-up Saturday
        ("zf02", at(2026, 10, 3, 20), at(2026, 10, 9, 9)),  # on a holiday: from 09:00 next
        ("zf01", at(2026, 2, 13, 11), at(2026, 2, 27, 11)),  # Spring Festival: 5 working days
        ("zz04", at(2026, 3, 14, 22), at(2026, 3, 15, 2)),  # hours run through the night
        ("zz03", at(2026, 10, 1, 12), at(2026, 10, 1, 20)),  # and through holidays
    ],
)
def test_deadline_follows_the_state_council_calendar(category, reported, due):
    assert deadline_for(category, reported) == due


def test_deadline_of_a_utc_timestamp_uses_the_day_in_ningbo():
    friday_4am_in_ningbo = datetime(2026, 4, 2, 20, tzinfo=UTC)
    assert deadline_for("zf02", friday_4am_in_ningbo) == at(2026, 4, 7, 4)


def test_make_up_saturday_is_a_workday_and_holiday_monday_is_not():
    assert is_workday(at(2026, 10, 10).date())
    assert not is_workday(at(2026, 4, 6).date())
    assert add_working_days(at(2026, 2, 13, 8), 1) == at(2026, 2, 14, 8)  # 调休 Saturday


def test_year_the_calendar_does_not_cover_falls_back_to_weekdays(caplog):
    with caplog.at_level(logging.WARNING, logger="feeds.deadlines"):
        assert deadline_for("zf02", at(2031, 1, 10, 10)) == at(2031, 1, 13, 10)
        deadline_for("zf02", at(2031, 1, 14, 10))
    assert sum("2031" in r.getMessage() for r in caplog.records) <= 1


def test_countdown_and_state_around_the_deadline():
    due = at(2026, 4, 7, 14)
    assert countdown(due, at(2026, 4, 7, 13)) == timedelta(hours=1)
    assert deadline_state(due, at(2026, 4, 7, 11, 59)) == "on_track"
    assert deadline_state(due, at(2026, 4, 7, 12, 1)) == "due_soon"
    assert deadline_state(due, due) == "due_soon"  # due at 14:00 is not late at 14:00
    assert deadline_state(due, due + timedelta(seconds=1)) == "overdue"
    assert countdown(due, due + timedelta(hours=2)) == -timedelta(hours=2)


def test_simulated_reports_carry_the_catalogue_deadline(geo):
    start = at(2026, 4, 3, 6)
    model = Model(
        geo,
        SimConfig(seed=5, workers=0),
        start,
        positions=False,
        arrivals_until=start + timedelta(hours=12),
    )
    reports = [
        m
        for m in model.messages(start + timedelta(hours=12))
        if isinstance(m, EventMessage) and m.type == "reported"
    ]
    assert len(reports) > 1000
    assert all(m.deadline == deadline_for(m.category, m.ts, m.severity) for m in reports)
    urgent = [m for m in reports if m.severity == "urgent"]
    assert urgent, "no urgent report in the sample: the severity rule goes untested here"
    assert all(m.deadline - m.ts == timedelta(hours=CATEGORIES[m.category].urgent_hours)
               for m in urgent)  # fmt: skip


# -- each category's clock ------------------------------------------------------------------
SATURDAY = at(2026, 3, 14, 14, 21)  # an ordinary Saturday, neither holiday nor make-up workday


def test_open_manhole_reported_on_saturday_is_due_the_same_evening():
    # 窨井盖缺失 is 市政设施 (bm01): natural hours, not "next working day" (Tuesday, 剩 66小时)
    due = deadline_for("bm01", SATURDAY)
    assert due == SATURDAY + timedelta(hours=CATEGORIES["bm01"].limit)
    assert due.date() == SATURDAY.date() and due < at(2026, 3, 15)


def test_routine_category_reported_on_saturday_still_waits_for_working_days():
    # 市容环境: the clock starts at 09:00 on Monday, so one working day is Tuesday 09:00
    assert deadline_for("zf02", SATURDAY) == at(2026, 3, 17, WORKDAY_START)
    assert deadline_for("zz06", SATURDAY) == at(2026, 3, 19, WORKDAY_START)  # 3 working days


def test_natural_hours_run_through_a_public_holiday_and_working_days_skip_it():
    eve = at(2026, 10, 3, 20)  # National Day holiday (1-7 October 2026)
    assert deadline_for("bm01", eve) == at(2026, 10, 4, 4)  # 8 hours, overnight, on holiday
    assert deadline_for("sc05", eve) == at(2026, 10, 4, 20)  # 24 hours
    assert deadline_for("zf02", eve) == at(2026, 10, 9, 9)  # from 09:00 on the 8th
    assert deadline_for("zf02", eve, "urgent") == at(2026, 10, 3, 22)  # 紧急: 2 hours


def test_only_the_urgent_severity_level_shortens_the_limit():
    tuesday = at(2026, 3, 10, 15)
    for severity in (None, "normal", "major"):  # below the boundary: the category's own limit
        assert deadline_for("zf02", tuesday, severity) == at(2026, 3, 11, 15)
        assert deadline_for("zz04", tuesday, severity) == at(2026, 3, 10, 19)
    assert deadline_for("zf02", tuesday, "urgent") == at(2026, 3, 10, 17)
    assert deadline_for("zz04", tuesday, "urgent") == at(2026, 3, 10, 16)


def test_working_clock_turns_at_midnight_between_friday_and_saturday():
    last_second_of_friday = at(2026, 3, 13, 23, 59, 59)
    assert deadline_for("zf02", last_second_of_friday) == at(2026, 3, 16, 23, 59, 59)
    assert deadline_for("zf02", at(2026, 3, 14)) == at(2026, 3, 17, WORKDAY_START)
    # the natural clock has no such edge: the same 8 hours either side of midnight
    assert deadline_for("bm01", at(2026, 3, 14)) - at(2026, 3, 14) == timedelta(hours=8)


def test_an_urgent_report_is_never_due_later_than_an_ordinary_one():
    for cat in CATEGORIES.values():
        ordinary = timedelta(hours=cat.limit) if cat.clock == "natural" else timedelta(days=1)
        assert 0 < cat.urgent_hours and timedelta(hours=cat.urgent_hours) <= ordinary, cat.code


REPORTED = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31, 23, 59, 59),
    timezones=st.sampled_from([CHINA_TZ, UTC]),
)  # fmt: skip


@settings(max_examples=400, deadline=None, database=None)
@given(
    category=st.sampled_from(sorted(CATEGORIES)),
    reported=REPORTED,
    severity=st.sampled_from([None, "normal", "major", "urgent"]),
)
def test_natural_deadlines_are_exact_and_working_ones_land_on_working_days(
    category, reported, severity
):
    cat = CATEGORIES[category]
    due = deadline_for(category, reported, severity)
    assert due <= deadline_for(category, reported)  # 紧急 never lengthens
    if severity == "urgent":
        assert due == reported + timedelta(hours=cat.urgent_hours)
    elif cat.clock == "natural":
        assert due == reported + timedelta(hours=cat.limit)
    else:
        local, start = due.astimezone(CHINA_TZ), reported.astimezone(CHINA_TZ)
        assert is_workday(local.date())
        assert local - start >= timedelta(days=cat.limit)
        starts_on_workday = is_workday(start.date())
        assert local.time() == (start.time() if starts_on_workday else time(WORKDAY_START))


def test_time_limits_doc_lists_every_category_as_the_catalogue_does():
    rows = re.findall(r"^\| (\w{4}) \| (\S+) \| (\S+) \| (\w+) \| ([^|]+) \| (\d+) h \| (.+) \|$",
                      DOC.read_text(), re.MULTILINE)  # fmt: skip
    listed = {code: (name, platform, clock, limit.strip(), int(urgent), basis)
              for code, name, platform, clock, limit, urgent, basis in rows}  # fmt: skip
    expected = {
        c.code: (c.name, PLATFORMS[c.platform], c.clock, _limit_text(c), c.urgent_hours, c.basis)
        for c in CATEGORIES.values()
    }
    assert listed == expected


def _limit_text(c: Category) -> str:
    if c.clock == "natural":
        return f"{c.limit} hours"
    return f"{c.limit} working day{'s' if c.limit > 1 else ''}"
