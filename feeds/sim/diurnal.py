"""How the arrival rate moves over the day: quiet at night, peaks mid-morning and mid-afternoon.

Grid workers find most problems on their rounds (morning and afternoon), residents call and post
into the evening, and almost nobody reports at 3 a.m. The curve is a table of 1,440 per-minute
factors whose mean is exactly 1, so ``events_per_day`` stays the daily total whatever the shape.
"""

from __future__ import annotations

import math

# (centre hour, width in hours, height): morning rounds, afternoon rounds, evening calls
_PEAKS = ((10.0, 1.5, 1.0), (15.0, 1.7, 0.85), (20.0, 1.6, 0.3))
_FLOOR = 0.08  # night-time share relative to the morning peak
_DAYTIME = (8.0, 18.0, 0.25)  # office hours add a plateau between the peaks


def _shape(hour: float) -> float:
    value = _FLOOR + sum(h * math.exp(-0.5 * ((hour - c) / w) ** 2) for c, w, h in _PEAKS)
    start, end, plateau = _DAYTIME
    if start <= hour < end:
        value += plateau
    return value


def _table() -> tuple[float, ...]:
    raw = [_shape((m + 0.5) / 60) for m in range(1440)]
    mean = sum(raw) / len(raw)
    return tuple(v / mean for v in raw)


FACTOR: tuple[float, ...] = _table()
PEAK: float = max(FACTOR)
