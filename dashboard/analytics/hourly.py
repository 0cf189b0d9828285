"""The wall's headline figures as they stood at any 10-minute mark: "vs yesterday, same time".

Each incident contributes a few entries (absolute 10-minute slot, kind, +1/-1) computed from
its current facts, like its day-row flags in ``tally``: a report at its slot; when closed, a
close (on time, at the grid) at the closing slot; an open spell (+1 at the report, -1 at the
close) and an overdue spell (+1 once both reported and past the deadline, -1 at the close).
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

from dashboard.analytics.clock import DAY_S, OFFSET_S

SLOT_S = 600  # divides the 8-hour offset: slots start on local 10-minute marks
# counted within the day of their slot
REPORTED, REP_CLOSED, CLOSED, ON_TIME, AT_GRID, VISITS = range(6)
OPEN, OVERDUE = 6, 7  # running totals: +1 when a spell starts, -1 when it ends
KINDS = 8
DAY_KINDS = range(OPEN)

Entry = tuple[int, int, int]  # (absolute slot, kind, +1 or -1)


def slot_of(epoch_s: float) -> int:
    return int(epoch_s // SLOT_S)


def day_start_slot(epoch_s: float) -> int:
    """The slot opening the local day of ``epoch_s``."""
    return int(((epoch_s + OFFSET_S) // DAY_S * DAY_S - OFFSET_S) // SLOT_S)


class Hourly:
    def __init__(self) -> None:
        self.slots: dict[str, dict[int, list[int]]] = {}  # area -> slot -> counts by kind
        self.base: dict[str, list[int]] = {}  # area -> running totals of the pruned slots
        self.floor = -(1 << 62)  # slots before this were pruned

    def move(self, areas: Iterable[str], old: tuple[Entry, ...], new: tuple[Entry, ...]) -> None:
        """Replace a contribution ``old`` with ``new`` in every area of ``areas``."""
        if old == new:
            return
        for entry in old:
            self.add(areas, entry, -1)
        for entry in new:
            self.add(areas, entry, 1)

    def add(self, areas: Iterable[str], entry: Entry, sign: int = 1) -> None:
        slot, kind, delta = entry
        delta *= sign
        if slot < self.floor:
            if kind >= OPEN:  # a spell that started before the kept days still runs
                for area in areas:
                    self.base.setdefault(area, [0] * KINDS)[kind] += delta
            return
        for area in areas:
            slots = self.slots.get(area)
            if slots is None:
                slots = self.slots[area] = {}
            row = slots.get(slot)
            if row is None:
                row = slots[slot] = [0] * KINDS
            row[kind] += delta

    def at(self, area: str, moment_s: float) -> list[int]:
        """Counts by kind at the start of ``moment_s``'s slot (day counts since midnight)."""
        end, start = slot_of(moment_s), day_start_slot(moment_s)
        totals = [0] * OPEN + (self.base.get(area) or [0] * KINDS)[OPEN:]
        slots = self.slots.get(area, {})
        for slot, row in slots.items():  # a few hundred at most: the kept days' slots
            if slot < end:
                if slot >= start:
                    for kind in DAY_KINDS:
                        totals[kind] += row[kind]
                totals[OPEN] += row[OPEN]
                totals[OVERDUE] += row[OVERDUE]
        return totals

    def prune(self, floor: int) -> None:
        """Fold the slots before ``floor`` into the base (spells) or forget them (days)."""
        self.floor = max(self.floor, floor)
        for area, slots in self.slots.items():
            for slot in [s for s in slots if s < self.floor]:
                row = slots.pop(slot)
                base = self.base.setdefault(area, [0] * KINDS)
                base[OPEN] += row[OPEN]
                base[OVERDUE] += row[OVERDUE]


def incident_entries(
    rep_ts: float | None,
    close_ts: float | None,
    deadline: float,
    at_grid: bool,
) -> tuple[Entry, ...]:
    """What an incident contributes: reported at ``rep_ts`` (None: no report known yet),
    closed at ``close_ts`` (None: open now), due at ``deadline``, closed at level 1."""
    if rep_ts is None:
        return ()
    rep = slot_of(rep_ts)
    entries = [(rep, REPORTED, 1)]
    end = None if close_ts is None else slot_of(close_ts)
    if end is not None and close_ts is not None:
        entries.append((end, CLOSED, 1))
        if close_ts <= deadline:
            entries.append((end, ON_TIME, 1))
        if at_grid:
            entries.append((end, AT_GRID, 1))
        if day_start_slot(close_ts) == day_start_slot(rep_ts):
            entries.append((max(rep, end), REP_CLOSED, 1))  # only its report day's cohort
    if end is None or end > rep:
        entries.append((rep, OPEN, 1))
        if end is not None:
            entries.append((end, OPEN, -1))
    late = max(rep, slot_of(deadline))  # past the deadline at a mark after it
    if end is None or end > late:
        entries.append((late, OVERDUE, 1))
        if end is not None:
            entries.append((end, OVERDUE, -1))
    return tuple(entries)
