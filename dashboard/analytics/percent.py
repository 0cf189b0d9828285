"""How a rate is shown: a percentage that never reads 100 % or 0 % unless it is exactly that.

One decimal (``99.7``). Where one decimal would show a rate that is not exactly 1 as ``100.0``
(or one that is not exactly 0 as ``0.0``), two decimals; where even two would, the nearest
figure short of the edge (``99.99``, ``0.01``). So 0.99969, an on-time rate with an overdue
incident in it, reads ``99.97``, never ``100.0``. The pages show rates with ``onemap.percent``
(assets/onemap-10-core.js), the same rule in JavaScript; tests/test_figure_rules.py holds the
two to the same text.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

NONE = "—"  # no rate: nothing to measure (a zero denominator)
_STEPS = {1: Decimal("0.1"), 2: Decimal("0.01")}


def percent(value: float | None) -> str:
    """``value`` (a share, 0-1) as percent digits without the sign: ``0.99969`` → ``99.97``."""
    if value is None or not math.isfinite(value):
        return NONE
    if value == 0:
        return "0.0"
    text = _fixed(value * 100, 1)
    if value == 1 or float(text) not in (0.0, 100.0):
        return text
    text = _fixed(value * 100, 2)
    if float(text) == 100.0:
        return "99.99" if value < 1 else "100.01"
    if float(text) == 0.0:
        return "0.01" if value > 0 else "-0.01"
    return text


def _fixed(number: float, digits: int) -> str:
    """``number`` to ``digits`` decimals as JavaScript's ``toFixed`` writes it: the exact
    binary value rounded, a tie away from zero (Python's ``format`` rounds a tie to even)."""
    return str(Decimal(number).quantize(_STEPS[digits], ROUND_HALF_UP))
