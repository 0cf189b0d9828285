"""The KPI rules, each stated once: when an incident counts as on time, at the grid, overdue,
due today, and which flags it sets in the day rows and the 10-minute rows.

Four paths count incidents, and they must agree to the unit:

- the live fold, one incident at a time on Python numbers (``Folding._contribution``);
- the rebuild, every incident at once on numpy arrays (``settle.settle_bulk``);
- the 10-minute rows behind "same time yesterday" (``hourly.incident_entries``);
- the duty desk's drill-down sets, on datetimes (``dashboard.views.search.SETS``).

Each calls the functions here, through the module (``rules.on_time(...)``, never a copied
name), so a rule changed here changes every path; tests/test_kpi_rules.py holds the scalar
and array forms equal and shows the fold and the rebuild follow a changed rule.

Every function works on Python scalars and on numpy arrays alike, so it is written with
comparisons, ``&`` and ``|`` (booleans stay booleans either way), ``x ^ True`` for "not x"
(``~True`` is -2) and ``flag * bit`` to set a bit (``bool * int`` is an int for both; ``<<`` on
a bool array gives int8 and overflows past bit 6). No ``if`` and no ``np.where``: the live fold
stays on Python ints, which are ~5x cheaper than numpy scalars, and this module never imports
numpy at run time. Group ``|`` operands with parentheses: ``a > b | c`` is ``a > (b | c)``.

Two tables take the flags, and some of their bits share a name at different positions, so a
bit is always written with its table's module: ``t.CLOSED`` is bit 8 of a day row
(``tally``), ``h.CLOSED`` bit 1 of a 10-minute row (``hourly``). Each mask function here
fills one table and says which: ``cohort_mask``, ``closing_mask`` and ``due_mask`` (tally),
``report_slot_mask``, ``end_slot_mask`` and ``due_slot_mask`` (hourly).

What is due (``disposal_rate`` and ``on_time_rate``, docs/metrics.md): the incidents whose
deadline falls today and that are closed, and every open one past its deadline, whenever it
fell due. The closed ones are flags in the row of the deadline's day (``due_mask``; in the
10-minute rows ``due_spells``); the open ones are ``overdue``, counted by the deadline cutoffs.

Still outside: ``Cutoff`` counts the open incidents whose deadline is below the clock, which
is ``overdue`` (``deadline < now``) by construction; ``reference.py`` is the independent
recompute the tests compare against, and keeps its own plain statements on purpose.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias, overload

# ``hourly`` imports this module: its bits are read when a rule runs, never at import time.
from dashboard.analytics import hourly as h
from dashboard.analytics import tally as t
from dashboard.analytics.epoch import DAY_S, SLOT_S

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Bools: TypeAlias = NDArray[np.bool_]
    Ints: TypeAlias = NDArray[np.int64]
    Floats: TypeAlias = NDArray[np.float64]
    Spells: TypeAlias = tuple[int, bool, bool]  # (late_slot, opened, late)
    ArraySpells: TypeAlias = tuple[Ints, Bools, Bools]

# Day-row bits (tally) as masks, shifted once: the live fold sets them at every step
_REPORTED = 1 << t.REPORTED
_REP_CLOSED = 1 << t.REP_CLOSED
_REP_EVER_CLOSED = 1 << t.REP_EVER_CLOSED
_REP_REOPENED = 1 << t.REP_REOPENED
_REACHED = tuple(1 << t.REACHED[level] for level in (2, 3, 4, 5))
_CLOSED = 1 << t.CLOSED
_AT_GRID = 1 << t.AT_GRID
_DUE_CLOSED = 1 << t.DUE_CLOSED
_DUE_ON_TIME = 1 << t.DUE_ON_TIME
SLOTS_PER_DAY = DAY_S // SLOT_S  # 10-minute slots in a local day (China keeps no DST)


# -- when an incident counts as ... -----------------------------------------------------------
@overload
def on_time(close_ts: float, deadline: float) -> bool: ...
@overload
def on_time(close_ts: datetime, deadline: datetime) -> bool: ...
@overload
def on_time(close_ts: Floats, deadline: Floats) -> Bools: ...
def on_time(close_ts: Any, deadline: Any) -> Any:
    """Closed on time: at the deadline or before it (docs/metrics.md, ``on_time_rate``)."""
    return close_ts <= deadline


@overload
def overdue(deadline: float, now: float) -> bool: ...
@overload
def overdue(deadline: datetime, now: datetime) -> bool: ...
def overdue(deadline: Any, now: Any) -> Any:
    """Past its deadline (for an open incident): strictly after it, so that the deadline
    itself is the last moment to close on time (the deadline cutoffs count the same)."""
    return deadline < now


@overload
def at_grid(level: int) -> bool: ...
@overload
def at_grid(level: Ints) -> Bools: ...
def at_grid(level: Any) -> Any:
    """Closed by the grid itself (``self_closure_rate``): its closing step is at level 1."""
    return level == 1


# -- the day rows (tally) -----------------------------------------------------------------
@overload
def reach_mask(top: int) -> int: ...
@overload
def reach_mask(top: Ints) -> Ints: ...
def reach_mask(top: Any) -> Any:
    """The report-cohort bits of the levels an incident reached (``escalated_l2`` ...):
    level x when its highest level so far is x or above."""
    return (
        (top >= 2) * _REACHED[0]
        | (top >= 3) * _REACHED[1]
        | (top >= 4) * _REACHED[2]
        | (top >= 5) * _REACHED[3]
    )


# ``reach_mask`` by highest level, for the live fold (a lookup is ~5x cheaper than the rule),
# built from the rule when this module loads: change the rule, never the table
REACH_MASK = tuple(reach_mask(top) for top in range(6))


@overload
def cohort_mask(reach: int, closed_now: bool, ever_closed: bool, reopened: bool) -> int: ...
@overload
def cohort_mask(reach: Ints, closed_now: Bools, ever_closed: Bools, reopened: Bools) -> Ints: ...
def cohort_mask(reach: Any, closed_now: Any, ever_closed: Any, reopened: Any) -> Any:
    """An incident's flags in its report day's row: reported, the levels it reached
    (``reach_mask``), closed now, ever closed, and reopened after a close (a reopening
    without one is not a reopen)."""
    return (
        _REPORTED
        | reach
        | closed_now * _REP_CLOSED
        | ever_closed * _REP_EVER_CLOSED
        | (ever_closed & reopened) * _REP_REOPENED
    )


@overload
def closing_mask(at_grid: bool) -> int: ...
@overload
def closing_mask(at_grid: Bools) -> Ints: ...
def closing_mask(at_grid: Any) -> Any:
    """A closed incident's flags in its closing day's row (``closed``, ``closed_at_grid``)."""
    return _CLOSED | at_grid * _AT_GRID


@overload
def due_mask(closed_now: bool, on_time: bool) -> int: ...
@overload
def due_mask(closed_now: Bools, on_time: Bools) -> Ints: ...
def due_mask(closed_now: Any, on_time: Any) -> Any:
    """An incident's flags in its deadline day's row: handled (closed now, early or late:
    ``due_closed``) and handled in time (``closed_on_time``). An open one sets none: once
    past its deadline it is due as ``overdue``, counted by the deadline cutoffs."""
    return closed_now * _DUE_CLOSED | (closed_now & on_time) * _DUE_ON_TIME


# -- the 10-minute rows (hourly) --------------------------------------------------------------
@overload
def later(a: int, b: int) -> int: ...
@overload
def later(a: Ints, b: Ints) -> Ints: ...
def later(a: Any, b: Any) -> Any:
    """The later of two slots (``max``, for ints and arrays alike)."""
    return b + (a - b) * (a > b)


@overload
def spells(closed: bool, rep_slot: int, end_slot: int, deadline_slot: int) -> Spells: ...
@overload
def spells(closed: Bools, rep_slot: Ints, end_slot: Ints, deadline_slot: Ints) -> ArraySpells: ...
def spells(closed: Any, rep_slot: Any, end_slot: Any, deadline_slot: Any) -> Any:
    """(late_slot, opened, late): an incident is open from its report's slot and overdue from
    ``late_slot``, the later of that and its deadline's slot (overdue at every mark after the
    deadline); each spell ends at the closing slot ``end_slot`` (not read when open) and
    counts only if it runs past the slot it starts in."""
    # ``later(rep_slot, deadline_slot)`` written out: this runs at every counted step, and a
    # call costs ~50 ns, some 3 % of counting an open incident
    late_slot = deadline_slot + (rep_slot - deadline_slot) * (rep_slot > deadline_slot)
    still_open = closed ^ True
    return late_slot, still_open | (end_slot > rep_slot), still_open | (end_slot > late_slot)


@overload
def report_slot_mask(opened: bool) -> int: ...
@overload
def report_slot_mask(opened: Bools) -> Ints: ...
def report_slot_mask(opened: Any) -> Any:
    """The kinds counted at the report's slot: the report, and the start of the open spell."""
    return 1 << h.REPORTED | opened * (1 << h.OPENED)


@overload
def end_slot_mask(at_grid: bool, opened: bool, late: bool) -> int: ...
@overload
def end_slot_mask(at_grid: Bools, opened: Bools, late: Bools) -> Ints: ...
def end_slot_mask(at_grid: Any, opened: Any, late: Any) -> Any:
    """The kinds counted at a closed incident's closing slot: the close, at the grid or not,
    and the end of whichever spells ran (``spells``)."""
    return (
        1 << h.CLOSED
        | at_grid * (1 << h.AT_GRID)
        | opened * (1 << h.SHUT)
        | late * (1 << h.LATE_DONE)
    )


@overload
def due_spells(closed: bool, end_slot: int, day_slot: int) -> tuple[int, bool]: ...
@overload
def due_spells(closed: Bools, end_slot: Ints, day_slot: Ints) -> tuple[Ints, Bools]: ...
def due_spells(closed: Any, end_slot: Any, day_slot: Any) -> Any:
    """(done_slot, done): a closed incident among the handled of its deadline's day (whose
    first slot is ``day_slot``) at the marks of that day. ``done`` when it closed by the end of
    that day, from ``done_slot``: its closing slot, or the day's first if it closed earlier
    (the entry never falls on another day, where it would count). Its time open past the
    deadline is the overdue spell's (``spells``)."""
    return later(end_slot, day_slot), closed & (end_slot < day_slot + SLOTS_PER_DAY)


@overload
def due_slot_mask(on_time: bool) -> int: ...
@overload
def due_slot_mask(on_time: Bools) -> Ints: ...
def due_slot_mask(on_time: Any) -> Any:
    """The kinds counted at a due incident's ``done_slot``: handled, and handled in time."""
    return 1 << h.DUE_DONE | on_time * (1 << h.DUE_ON_TIME)
