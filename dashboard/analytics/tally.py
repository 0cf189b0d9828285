"""Day-bucketed counters per area, and exact medians, that incidents add to and take back.

Every incident contributes a few flags to one row per area of its chain, in the bucket of the
day its report was made (the report cohort), in the bucket of the day it was closed (the
closing cohort) and, once closed, in the bucket of its deadline's day (the due cohort). When a
step changes an incident, only the flags that changed move. So each count is a pure function
of the steps received, whatever their order: that is what makes the incremental figures equal
to a rebuild from the log.
"""

from __future__ import annotations

from dashboard.analytics.cutoff import Chain

# The flags of a day row, by bit; ``rules`` says which an incident sets. Some share a name
# with a 10-minute row's kind (``hourly``) at another position: elsewhere, write ``t.CLOSED``.
# Report cohort (bucketed by the day of the "reported" step)
REPORTED, REP_CLOSED, REP_EVER_CLOSED, REP_REOPENED = 0, 1, 2, 3
REACHED = {2: 4, 3: 5, 4: 6, 5: 7}  # level -> flag: the incident got to that level or higher
# Closing cohort (bucketed by the day of the closing step)
CLOSED, AT_GRID = 8, 9
# Due cohort (bucketed by the day of the deadline): closed now, and closed by the deadline
DUE_CLOSED, DUE_ON_TIME = 10, 11
SLOTS = 12
ALL = "*"  # median key over every category

# The flags set in each mask, precomputed: iterating bits is the hottest loop of the fold.
BITS: tuple[tuple[int, ...], ...] = tuple(
    tuple(b for b in range(SLOTS) if mask >> b & 1) for mask in range(1 << SLOTS)
)

Cohort = tuple[int, int]  # (day, mask)
Closing = tuple[int, int, str, float | None]  # (day, mask, category, minutes to close)
# The due cohort is a ``Cohort`` too: (the deadline's day, mask)


class Sample:
    """Values whose median is read about once a second and added to on every close.

    Adding appends (O(1)); reading sorts only if something was added since the last read,
    and Python's sort on a sorted list with a few new values at its end is close to linear.
    """

    __slots__ = ("values", "dirty")

    def __init__(self) -> None:
        self.values: list[float] = []
        self.dirty = False

    def add(self, value: float) -> None:
        self.values.append(value)
        self.dirty = True

    def remove(self, value: float) -> None:
        self.values.remove(value)  # rare: a close undone by a reopening or a late step

    def median(self) -> float | None:
        if self.dirty:
            self.values.sort()
            self.dirty = False
        return _middle(self.values)


class Tally:
    def __init__(self) -> None:
        self.rows: dict[int, dict[str, list[int]]] = {}
        self.medians: dict[int, dict[str, dict[str, Sample]]] = {}
        self.floor = -(1 << 62)  # days before this were pruned: late changes to them are dropped

    def row(self, day: int, area: str) -> list[int] | None:
        return self.rows.get(day, {}).get(area)

    def median(self, day: int, area: str, category: str = ALL) -> float | None:
        sample = self.medians.get(day, {}).get(area, {}).get(category)
        return sample.median() if sample is not None else None

    def median_of(self, day: int, areas: tuple[str, ...], category: str = ALL) -> float | None:
        """The median over several areas' samples together (a village and its grids)."""
        if len(areas) == 1:
            return self.median(day, areas[0], category)
        by_area = self.medians.get(day, {})
        values = sorted(
            v
            for area in areas
            if (sample := by_area.get(area, {}).get(category)) is not None
            for v in sample.values
        )
        return _middle(values)

    def move(self, chain: Chain, old: Cohort | None, new: Cohort | None) -> None:
        """Replace an incident's contribution ``old`` with ``new``, touching only the changes."""
        if old is not None and new is not None and old[0] == new[0]:
            self._flags(chain, new[0], new[1] & ~old[1], 1)
            self._flags(chain, old[0], old[1] & ~new[1], -1)
            return
        if old is not None:
            self._flags(chain, old[0], old[1], -1)
        if new is not None:
            self._flags(chain, new[0], new[1], 1)

    def move_closing(self, chain: Chain, old: Closing | None, new: Closing | None) -> None:
        self.move(chain, old[:2] if old else None, new[:2] if new else None)
        before, after = _timing(old), _timing(new)
        if before != after:
            if before is not None:
                self._median(chain, *before, add=False)
            if after is not None:
                self._median(chain, *after, add=True)

    def prune(self, before: int) -> None:
        """Forget the days before ``before`` (today's figures never read them)."""
        self.floor = max(self.floor, before)
        for table in (self.rows, self.medians):
            for day in [d for d in table if d < before]:
                del table[day]

    def _flags(self, chain: Chain, day: int, mask: int, delta: int) -> None:
        if not mask or day < self.floor:
            return
        rows = self.rows.get(day)
        if rows is None:
            rows = self.rows[day] = {}
        bits = BITS[mask]
        for area in chain:
            row = rows.get(area)
            if row is None:
                row = rows[area] = [0] * SLOTS
            for bit in bits:
                row[bit] += delta

    def _median(self, chain: Chain, day: int, category: str, minutes: float, add: bool) -> None:
        if day < self.floor:
            return
        by_area = self.medians.get(day)
        if by_area is None:
            by_area = self.medians[day] = {}
        for area in chain:
            samples = by_area.get(area)
            if samples is None:
                samples = by_area[area] = {}
            for key in (category, ALL):
                sample = samples.get(key)
                if sample is None:
                    sample = samples[key] = Sample()
                if add:
                    sample.add(minutes)
                else:
                    sample.remove(minutes)


def _middle(values: list[float]) -> float | None:
    """The median of sorted ``values``; None when there are none."""
    if not values:
        return None
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    return (values[middle - 1] + values[middle]) / 2


def _timing(closing: Closing | None) -> tuple[int, str, float] | None:
    """(day, category, minutes) of a closing that has a time to close (its report is known)."""
    if closing is None or closing[3] is None:
        return None
    return closing[0], closing[2], closing[3]
