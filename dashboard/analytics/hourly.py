"""The wall's headline figures as they stood at any 10-minute mark: "vs yesterday, same time".

Each incident contributes a few entries (absolute 10-minute slot, kind, +1/-1) computed from
its current facts, like its day-row flags in ``tally`` and by the functions of ``rules``: a
report at its slot; when closed, a close (at the grid or not) at the closing slot; an open
spell (+1 at the report, -1 at the close) and an overdue spell (+1 once both reported and past
the deadline, -1 at the close); and, closed by the end of its deadline's day, handled (in
time or not) on that day from its close or the day's start (``rules.due_spells``).
A step that changes those facts takes the old entries back and puts the new ones, so a
rebuild from the log gives the same tallies. Patrol visits add one entry at the slot of each
(worker, grid) pair's first on-duty fix of the day.

``at(area, moment)`` reads the figures at the start of ``moment``'s slot: the day counts sum
the slots since local midnight before it, the spells sum every slot before it (slots older
than the kept days are folded into a base). Only the city, counties and towns are kept: the
scopes a wall can show, ~170 areas × 288 slots.

What "as it stood" means here: every step known now, placed at its own time. An incident
closed, reopened and closed again counts as open until its last close.
"""

from __future__ import annotations

from collections.abc import Iterable

from dashboard.analytics import rules as r
from dashboard.analytics.epoch import DAY_S, OFFSET_S
from dashboard.analytics.epoch import SLOT_S as SLOT_S  # the rows' slot, 10 minutes

# The kinds of a 10-minute row, by bit; ``rules`` says which an incident sets. Some share a
# name with a day row's bit (``tally``) at another position: elsewhere, write ``h.CLOSED``.
# Counted within the day of their slot (DUE_DONE, DUE_ON_TIME: due that day and handled, in
# time; WORKERS: distinct workers who patrolled the area):
REPORTED, CLOSED, AT_GRID, VISITS, WORKERS, DUE_DONE, DUE_ON_TIME = range(7)
# spells, counted since ever: open = OPENED - SHUT, overdue = LATE - LATE_DONE
OPENED, SHUT, LATE, LATE_DONE = range(7, 11)
KINDS = 11
SPELLS = range(OPENED, KINDS)
# The kinds set in each mask, precomputed (as in ``tally``): an entry is (slot, mask), every
# kind counts +1, so an incident touches one row per slot and area, not one per kind.
BITS: tuple[tuple[int, ...], ...] = tuple(
    tuple(b for b in range(KINDS) if mask >> b & 1) for mask in range(1 << KINDS)
)

Entry = tuple[int, int]  # (absolute slot, mask of kinds)


def slot_of(epoch_s: float) -> int:
    return int(epoch_s // SLOT_S)


def day_start_slot(epoch_s: float) -> int:
    """The slot opening the local day of ``epoch_s``."""
    return int(((epoch_s + OFFSET_S) // DAY_S * DAY_S - OFFSET_S) // SLOT_S)


class Hourly:
    def __init__(self) -> None:
        self.slots: dict[str, dict[int, list[int]]] = {}  # area -> slot -> counts by kind
        self.base: dict[str, list[int]] = {}  # area -> spell counts of the pruned slots
        self.floor = -(1 << 62)  # slots before this were pruned

    def move(self, areas: Iterable[str], old: tuple[Entry, ...], new: tuple[Entry, ...]) -> None:
        """Replace a contribution ``old`` with ``new`` in every area of ``areas``."""
        if old == new:
            return
        for entries, sign in ((old, -1), (new, 1)):
            for slot, mask in entries:
                self.add(areas, slot, mask, sign)

    def add(self, areas: Iterable[str], slot: int, mask: int, sign: int = 1) -> None:
        bits = BITS[mask]
        if slot < self.floor:  # a spell that started before the kept days still runs
            for area in areas:
                base = self.base.get(area)
                if base is None:
                    base = self.base[area] = [0] * KINDS
                for kind in bits:
                    if kind >= OPENED:
                        base[kind] += sign
            return
        for area in areas:
            slots = self.slots.get(area)
            if slots is None:
                slots = self.slots[area] = {}
            row = slots.get(slot)
            if row is None:
                row = slots[slot] = [0] * KINDS
            for kind in bits:
                row[kind] += sign

    def at(self, area: str, moment_s: float, day_s: float | None = None) -> list[int]:
        """Counts by kind at the start of ``moment_s``'s slot: the day kinds since local
        midnight, the spell kinds since ever. ``day_s``: a moment of the day whose kinds to
        count, when that is not ``moment_s``'s own (a day's 24:00 is the next day's 00:00)."""
        end, start = slot_of(moment_s), day_start_slot(moment_s if day_s is None else day_s)
        totals = list(self.base.get(area) or [0] * KINDS)
        for kind in range(OPENED):
            totals[kind] = 0
        for slot, row in self.slots.get(area, {}).items():  # the kept days' slots, ~300
            if slot < end:
                first = 0 if slot >= start else OPENED
                for kind in range(first, KINDS):
                    totals[kind] += row[kind]
        return totals

    def prune(self, floor: int) -> None:
        """Fold the slots before ``floor`` into the base (spells) or forget them (days)."""
        self.floor = max(self.floor, floor)
        for area, slots in self.slots.items():
            for slot in [s for s in slots if s < self.floor]:
                row = slots.pop(slot)
                base = self.base.setdefault(area, [0] * KINDS)
                for kind in SPELLS:
                    base[kind] += row[kind]


def incident_entries(
    rep_ts: float | None,
    close_ts: float | None,
    deadline: float,
    on_time: bool,
    at_grid: bool,
) -> tuple[Entry, ...]:
    """What an incident contributes: reported at ``rep_ts`` (None: no report known yet),
    closed at ``close_ts`` (None: open now), due at ``deadline``; ``on_time`` and ``at_grid``
    are its close's flags (``rules.on_time``, ``rules.at_grid``; not read when open). The
    kinds each slot gets are the rules' (``settle.settle_bulk`` asks them over arrays)."""
    if rep_ts is None:
        return ()
    rep = slot_of(rep_ts)
    closed = close_ts is not None
    end = rep if close_ts is None else slot_of(close_ts)  # open: the rules do not read it
    late_slot, opened, late = r.spells(closed, rep, end, slot_of(deadline))
    done_slot, done = r.due_spells(closed, end, day_start_slot(deadline))
    masks = {rep: r.report_slot_mask(opened)}
    if closed:
        masks[end] = masks.get(end, 0) | r.end_slot_mask(at_grid, opened, late)
    if late:
        masks[late_slot] = masks.get(late_slot, 0) | 1 << LATE
    if done:
        masks[done_slot] = masks.get(done_slot, 0) | r.due_slot_mask(on_time)
    return tuple(masks.items())
