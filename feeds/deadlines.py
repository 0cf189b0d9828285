"""Time limits: when an incident reported at a given moment must be handled.

Each category runs on its own clock, from the catalogue (``feeds/catalogue.py``, the table and
its reasons in docs/time-limits.md). ``deadline_for`` is the one place a deadline is computed: the
simulator and the Open311 intake call it; the state only reads the deadline a message carries.

Natural hours (safety categories, and any report marked 紧急) run on the clock, day and night,
weekends and holidays included: exactly ``reported_at + N hours``.

Working days (routine categories): "one working day" means the same clock time on the next
working day: a report at 15:00 on a Friday is due at 15:00 on Monday, and one on the eve of the
National Day holiday is due after it. Working days come from ``chinese_calendar`` (State Council
holidays and make-up workdays, 调休); for a year that package does not cover yet we fall back to
Monday-Friday and say so once in the log.

Calendar arithmetic happens in China time whatever offset a timestamp carries: a report stamped
``2026-04-02T20:00Z`` is Friday 04:00 in Ningbo, and Friday is the day that counts.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from typing import Literal

import chinese_calendar

from feeds.catalogue import CATEGORIES
from feeds.schema import CHINA_TZ, Severity

log = logging.getLogger(__name__)

DUE_SOON = timedelta(hours=2)  # an open incident this close to its deadline turns orange
WORKDAY_START = 9  # o'clock: when a report made on a day off starts its clock

DeadlineState = Literal["on_track", "due_soon", "overdue"]


@lru_cache(maxsize=4096)
def is_workday(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        _warn_uncovered_year(day.year)
        return day.weekday() < 5


@cache
def _warn_uncovered_year(year: int) -> None:
    log.warning("chinese_calendar has no holidays for %s: using Monday-Friday", year)


def add_working_days(start: datetime, days: int) -> datetime:
    """The same clock time ``days`` working days later, in China time.

    A start on a non-working day counts from the next working day's start of business
    (that is when the clock of a routine problem starts ticking).
    """
    current = start.astimezone(CHINA_TZ)
    if not is_workday(current.date()):
        current = _next_workday_morning(current)
    for _ in range(days):
        current += timedelta(days=1)
        while not is_workday(current.date()):
            current += timedelta(days=1)
    return current


def _next_workday_morning(moment: datetime) -> datetime:
    day = moment.date() + timedelta(days=1)
    while not is_workday(day):
        day += timedelta(days=1)
    return moment.replace(
        year=day.year,
        month=day.month,
        day=day.day,
        hour=WORKDAY_START,
        minute=0,
        second=0,
        microsecond=0,
    )


def add_natural_hours(start: datetime, hours: int) -> datetime:
    """``hours`` clock hours after ``start``, nights, weekends and holidays included."""
    return start.astimezone(CHINA_TZ) + timedelta(hours=hours)


def deadline_for(
    category: str, reported_at: datetime, severity: Severity | None = None
) -> datetime:
    """The deadline of a new incident of ``category`` reported at ``reported_at`` (aware).

    A report marked ``urgent`` (紧急) is due in its category's ``urgent_hours`` natural hours;
    otherwise the category's own clock and limit apply. In China time.
    """
    cat = CATEGORIES[category]
    if severity == "urgent":
        return add_natural_hours(reported_at, cat.urgent_hours)
    if cat.clock == "natural":
        return add_natural_hours(reported_at, cat.limit)
    return add_working_days(reported_at, cat.limit)


def countdown(deadline: datetime, now: datetime) -> timedelta:
    """Time left until ``deadline`` (negative once overdue): what the wall's timers show."""
    return deadline - now


def deadline_state(deadline: datetime, now: datetime, soon: timedelta = DUE_SOON) -> DeadlineState:
    """Overdue once ``now`` is past the deadline; due soon within ``soon`` of it."""
    if deadline < now:
        return "overdue"
    return "due_soon" if deadline < now + soon else "on_track"
