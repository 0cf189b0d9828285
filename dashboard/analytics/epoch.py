"""Time as plain numbers: epoch seconds, and local (China) days as integers.

The per-step hot path compares and buckets timestamps millions of times a day; floats and
ints are several times cheaper than ``datetime`` arithmetic and give the same answers, because
China has one fixed offset and no daylight saving time.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from feeds.schema import CHINA_TZ

OFFSET_S = 8 * 3600
DAY_S = 86_400
SLOT_S = 600  # the 10-minute rows' slot (``hourly``): divides the offset, so slots start on
# local 10-minute marks and a local day is exactly DAY_S // SLOT_S of them
_EPOCH_DAY = date(1970, 1, 1)


def local_day(epoch_s: float) -> int:
    """The China calendar day containing ``epoch_s``, as days since 1970-01-01."""
    return int((epoch_s + OFFSET_S) // DAY_S)


def day_of(moment: datetime) -> int:
    return local_day(moment.timestamp())


def day_date(day: int) -> date:
    return _EPOCH_DAY + timedelta(days=day)


def day_start(day: int) -> datetime:
    """Local midnight opening ``day``."""
    return datetime.fromtimestamp(day * DAY_S - OFFSET_S, CHINA_TZ)
