"""Time limits: when an incident reported at a given moment must be handled.

"One working day" means the same clock time on the next working day: a report at 15:00 on a
Friday is due at 15:00 on Monday, and one on the eve of the National Day holiday is due after it.
Working days come from ``chinese_calendar`` (State Council holidays and make-up workdays, 调休);
for a year that package does not cover yet we fall back to Monday-Friday and say so once in the log.
Hour limits (urgent safety categories) run on the clock, day and night.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from functools import cache, lru_cache

import chinese_calendar

from feeds.catalogue import CATEGORIES

log = logging.getLogger(__name__)


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
    """The same clock time ``days`` working days later.

    A start on a non-working day counts from the next working day's start of business
    (that is when the clock of a routine problem starts ticking).
    """
    current = start
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
        year=day.year, month=day.month, day=day.day, hour=9, minute=0, second=0, microsecond=0
    )


def deadline_for(category: str, reported_at: datetime) -> datetime:
    """The deadline of a new incident of ``category`` reported at ``reported_at`` (aware)."""
    cat = CATEGORIES[category]
    if cat.unit == "hours":
        return reported_at + timedelta(hours=cat.limit)
    return add_working_days(reported_at, cat.limit)
