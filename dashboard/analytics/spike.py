"""Spikes: far more reports of one category in one area in the last hour than that area sees.

Every new report tests its town × category and county × category: are the ``n`` reports of the
last hour too many compared with a reference count ``m``? With three days of history, ``m`` is
the area's own count in the same hour of the past days (up to 14: ``d`` days; the hour of
10-minute slots ending with the current one, so computed once per slot); before that, it
is the count in the rest of the city, which has ``r`` times the area's residents. Under "no
spike" both counts are Poisson with rates in the ratio 1 : d (or 1 : r), so given ``n + m`` the
area's share is binomial with ``p = 1 / (1 + d)`` (or ``1 / (1 + r)``): the conditional test
for two Poisson counts, exact, with no baseline rate estimated and then trusted. A warning
needs ``n >= min_reports`` and a tail probability below ``alpha``; then the area and its county
stay quiet for an hour, so one surge makes one warning. Everything runs on event time (the
hour ending at the newest report), so a replay finds the same spikes.
"""

from __future__ import annotations

import math
from bisect import insort
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from dashboard.analytics.outbox import Outbox
from feeds.catalogue import CATEGORIES
from feeds.geo import Geography
from feeds.schema import CHINA_TZ, WarningMessage

Cell = tuple[str, str]  # (area code, category)


@dataclass(frozen=True)
class SpikeConfig:
    window_s: int = 3600  # "the last hour"
    slot_s: int = 600  # history is kept in 10-minute slots
    history_days: int = 14
    min_history_days: int = 3  # fewer: compare with the rest of the city instead
    alpha: float = 1e-6  # tail probability; ~16,000 tests a day keep false alarms rare
    min_reports: int = 5


def binomial_tail(n: int, total: int, p: float) -> float:
    """P(X >= n) for X ~ Binomial(total, p), summed upwards so tiny tails keep precision."""
    if n <= 0 or n <= total * p:
        return 1.0  # not above expectation: no spike either way, skip the sum
    if n > total:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    head = math.lgamma(total + 1) - math.lgamma(n + 1) - math.lgamma(total - n + 1)
    term = math.exp(head + n * log_p + (total - n) * log_q)
    tail, k = 0.0, n
    while k <= total and term > tail * 1e-15:
        tail += term
        term *= (total - k) / (k + 1) * p / (1 - p)
        k += 1
    return min(1.0, tail)


class Spikes:
    def __init__(self, geo: Geography, config: SpikeConfig, outbox: Outbox) -> None:
        self.geo = geo
        self.city = geo.city.code
        self.config = config
        self.outbox = outbox
        self.slots: dict[Cell, dict[int, int]] = {}  # history of towns and counties
        self.recent: dict[Cell, deque[tuple[float, str]]] = {}  # the hour to the newest report
        self.first_slot: int | None = None
        self.quiet_until: dict[Cell, float] = {}
        self._per_day = 86_400 // config.slot_s
        self._per_window = config.window_s // config.slot_s
        self._past: dict[tuple[Cell, int], int] = {}  # (cell, slot) -> reports in past days
        # read on every report (a rebuild folds 40,000 of them): plain attributes, not lookups
        self._window_s, self._slot_s, self._min = config.window_s, config.slot_s, config.min_reports
        self._residents: dict[str, int] = {}

    def on_report(self, incident_id: str, category: str, county: str, town: str, ts: float) -> None:
        slot = int(ts // self._slot_s)
        if self.first_slot is None or slot < self.first_slot:
            self.first_slot = slot
        entry = (ts, incident_id)
        town_cell, county_cell = (town, category), (county, category)
        late = self._recent((self.city, category), entry)
        for cell in (county_cell, town_cell):
            slots = self.slots.get(cell)
            if slots is None:
                slots = self.slots[cell] = {}
            slots[slot] = slots.get(slot, 0) + 1
            late = self._recent(cell, entry) or late
        if late:
            return  # a late report: the hour ending at it was tested when it was current
        for cell in (town_cell, county_cell):
            if self._check(cell, ts):
                self.quiet_until[town_cell] = self.quiet_until[county_cell] = (
                    ts + self.config.window_s
                )
                return

    def prune(self, before_s: float) -> None:
        """Drop history older than the baseline needs."""
        keep = self._per_day * (self.config.history_days + 1)
        oldest = int(before_s // self.config.slot_s) - keep
        for slots in self.slots.values():
            for slot in [s for s in slots if s < oldest]:
                del slots[slot]
        self.slots = {cell: slots for cell, slots in self.slots.items() if slots}
        self._past.clear()

    def _recent(self, cell: Cell, entry: tuple[float, str]) -> bool:
        """Keep a report (ts, incident id) in the cell's last hour; True when it is older
        than the newest."""
        recent = self.recent.get(cell)
        if recent is None:
            recent = self.recent[cell] = deque()
        if recent and entry[0] < recent[-1][0]:
            insort(recent, entry)
            late = True
        else:
            recent.append(entry)
            late = False
        horizon = recent[-1][0] - self._window_s
        while recent[0][0] <= horizon:
            recent.popleft()
        return late

    def _check(self, cell: Cell, ts: float) -> bool:
        recent = self.recent[cell]
        n = len(recent)
        if n < self._min or ts < self.quiet_until.get(cell, -math.inf):
            return False
        reference, ratio, own = self.reference(cell, ts)
        total, share = n + reference, 1 / (1 + ratio)
        spread = math.sqrt(total * share * (1 - share))
        if n - total * share < 3 * spread:
            return False  # under 3 standard deviations the tail is far above alpha: skip it
        p = binomial_tail(n, total, share)
        if p >= self.config.alpha:
            return False
        self.outbox.put(self._warning(cell, ts, list(recent), reference / ratio, own, p))
        return True

    def reference(self, cell: Cell, ts: float) -> tuple[int, float, bool]:
        """(reference count, its exposure relative to the area's hour, from the area's past?)"""
        assert self.first_slot is not None
        slot = int(ts // self.config.slot_s)
        days = min(self.config.history_days, (slot - self.first_slot) // self._per_day)
        if days >= self.config.min_history_days:
            past = self._past.get((cell, slot))
            if past is None:
                past = self._past[(cell, slot)] = sum(
                    self._past_hour(cell, slot - d * self._per_day) for d in range(1, days + 1)
                )
            return past, float(days), True
        city = len(self.recent.get((self.city, cell[1]), ()))
        mine = self._residents.get(cell[0])
        if mine is None:
            mine = self._residents[cell[0]] = _population(self.geo, cell[0])
        rest = max(1, self.geo.city.population - mine)
        return city - len(self.recent[cell]), rest / max(1, mine), False

    def _past_hour(self, cell: Cell, last_slot: int) -> int:
        """Reports in the hour of 10-minute slots ending with ``last_slot``."""
        slots = self.slots.get(cell)
        if not slots:
            return 0
        return sum(slots.get(s, 0) for s in range(last_slot - self._per_window + 1, last_slot + 1))

    def _warning(
        self,
        cell: Cell,
        ts: float,
        window: list[tuple[float, str]],
        usual: float,
        own: bool,
        p: float,
    ) -> WarningMessage:
        area, category = cell
        name = CATEGORIES[category].name
        basis = "往日同时段" if own else "全市其余地区按常住人口折算"
        return WarningMessage(
            id=f"spike-{area}-{category}-{int(ts // self.config.slot_s)}",
            ts=datetime.fromtimestamp(ts, CHINA_TZ),
            type="spike",
            area=area,
            category=category,
            severity="urgent" if p < 1e-12 else "major" if p < 1e-9 else "normal",
            title=f"{self.geo.label(area)} {name}近1小时上报{len(window)}起，通常约{usual:.1f}起",
            detail=f"参照{basis}约{usual:.1f}起；二项检验 p={p:.1e}",
            related=tuple(i for _, i in window)[-50:],
        )


def _population(geo: Geography, code: str) -> int:
    area = geo.area(code)
    return area.population if area is not None else 0
