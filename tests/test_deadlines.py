"""Time limits on the working-day calendar: weekends, public holidays, make-up workdays."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from feeds.deadlines import (
    add_working_days,
    countdown,
    deadline_for,
    deadline_state,
    is_workday,
)
from feeds.schema import CHINA_TZ, EventMessage
from feeds.sim import Model, SimConfig


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
    assert all(m.deadline == deadline_for(m.category, m.ts) for m in reports)
