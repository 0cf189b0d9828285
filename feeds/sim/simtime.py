"""Simulated time is integer epoch milliseconds: exact, hashable and cheap to compare.

Messages carry aware datetimes in China time; everything calendar-like (local midnight, hour of
day) is computed here so the rest of the simulator never juggles time zones.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from feeds.schema import CHINA_TZ

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

_EPOCH = datetime(1970, 1, 1, 8, tzinfo=CHINA_TZ)  # the Unix epoch, as China clocks showed it
_OFFSET = 8 * HOUR  # China has no daylight saving time, so a fixed offset is exact


def to_datetime(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def to_ms(moment: datetime | float) -> int:
    """Epoch milliseconds of an aware datetime or of a ``time.time()`` float."""
    if isinstance(moment, datetime):
        return (moment - _EPOCH) // timedelta(milliseconds=1)
    return int(moment * 1000)


def local_midnight(ms: int) -> int:
    """The start of the China calendar day containing ``ms``."""
    return ms - (ms + _OFFSET) % DAY


def local_minute(ms: int) -> int:
    """Minutes since local midnight, 0..1439."""
    return (ms + _OFFSET) % DAY // MINUTE


def local_date_text(ms: int) -> str:
    return to_datetime(ms).strftime("%Y%m%d")
