"""Spikes: far more reports of one category in one area in the last hour than that area sees.

For each town × category and county × category, the reports of the last hour are tested
against a Poisson baseline: the mean count in the same hour of the past days (up to 14), once
three days of history exist; before that, the city's reports of the category in the last hour
scaled by the area's share of residents. A warning needs at least ``min_reports`` reports and a
tail probability below ``alpha``; then the area and its county stay quiet for an hour, so one
surge makes one warning. Everything runs on event time, so a replay finds the same spikes.
"""

from __future__ import annotations

import math
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
    min_history_days: int = 3  # fewer: compare with the city instead of the area's own past
    alpha: float = 1e-6  # tail probability; ~16,000 tests a day keep false alarms rare
    min_reports: int = 5
    floor: float = 0.5  # reports per hour: the least a baseline is taken to be


def poisson_tail(n: int, lam: float) -> float:
    """P(X >= n) for X ~ Poisson(lam), summed upwards so tiny tails keep their precision."""
    if n <= 0 or n <= lam:
        return 1.0  # no spike either way; skip the slow sum
    term = math.exp(-lam + n * math.log(lam) - math.lgamma(n + 1))
    total, k = 0.0, n
    while term > total * 1e-15 and k < n + 1000:
        total += term
        k += 1
        term *= lam / k
    return min(1.0, total)


class Spikes:
    def __init__(self, geo: Geography, config: SpikeConfig, outbox: Outbox) -> None:
        self.geo = geo
        self.config = config
        self.outbox = outbox
        self.slots: dict[Cell, dict[int, int]] = {}
        self.recent: dict[Cell, deque[tuple[float, str]]] = {}
        self.first_slot: int | None = None
        self.quiet_until: dict[Cell, float] = {}
        self._per_window = config.window_s // config.slot_s
        self._per_day = 86_400 // config.slot_s

    def on_report(self, incident_id: str, category: str, county: str, town: str, ts: float) -> None:
        slot = int(ts // self.config.slot_s)
        if self.first_slot is None or slot < self.first_slot:
            self.first_slot = slot
        for area in (self.geo.city.code, county, town):
            self._record((area, category), slot, ts, incident_id)
        for area in (town, county):
            if self._check((area, category), slot, ts):
                for quiet in (town, county):
                    self.quiet_until[(quiet, category)] = ts + self.config.window_s
                return

    def prune(self, before_s: float) -> None:
        """Drop history older than the baseline needs."""
        oldest = int(before_s // self.config.slot_s) - self._per_day * (self.config.history_days + 1)
        for cell, slots in self.slots.items():
            for slot in [s for s in slots if s < oldest]:
                del slots[slot]
        self.slots = {cell: slots for cell, slots in self.slots.items() if slots}

    def _record(self, cell: Cell, slot: int, ts: float, incident_id: str) -> None:
        slots = self.slots.get(cell)
        if slots is None:
            slots = self.slots[cell] = {}
        slots[slot] = slots.get(slot, 0) + 1
        if cell[0] == self.geo.city.code:
            return  # the city cell only feeds the cross-area baseline
        recent = self.recent.get(cell)
        if recent is None:
            recent = self.recent[cell] = deque()
        recent.append((ts, incident_id))
        horizon = ts - 2 * self.config.window_s
        while recent and recent[0][0] < horizon:
            recent.popleft()

    def _check(self, cell: Cell, slot: int, ts: float) -> bool:
        recent = self.recent[cell]
        if len(recent) < self.config.min_reports or ts < self.quiet_until.get(cell, -math.inf):
            return False
        window = [(t, i) for t, i in recent if ts - self.config.window_s < t <= ts]
        if len(window) < self.config.min_reports:
            return False
        lam, own = self.baseline(cell, slot)
        p = poisson_tail(len(window), lam)
        if p >= self.config.alpha:
            return False
        self.outbox.put(self._warning(cell, slot, ts, window, lam, own, p))
        return True

    def baseline(self, cell: Cell, slot: int) -> tuple[float, bool]:
        """Expected reports in the hour ending at ``slot``, and whether from the area's past."""
        assert self.first_slot is not None
        days = min(self.config.history_days, (slot - self.first_slot) // self._per_day)
        if days >= self.config.min_history_days:
            total = sum(self._window_count(cell, slot - d * self._per_day) for d in range(1, days + 1))
            return max(self.config.floor, total / days), True
        city = self._window_count((self.geo.city.code, cell[1]), slot)
        share = _population(self.geo, cell[0]) / max(1, self.geo.city.population)
        return max(self.config.floor, city * share), False

    def _window_count(self, cell: Cell, last_slot: int) -> int:
        slots = self.slots.get(cell)
        if not slots:
            return 0
        return sum(slots.get(s, 0) for s in range(last_slot - self._per_window + 1, last_slot + 1))

    def _warning(
        self, cell: Cell, slot: int, ts: float, window: list[tuple[float, str]],
        lam: float, own: bool, p: float,
    ) -> WarningMessage:
        area, category = cell
        name = CATEGORIES[category].name
        basis = "往日同时段均值" if own else "按常住人口折算的全市同类上报"
        return WarningMessage(
            id=f"spike-{area}-{category}-{slot}",
            ts=datetime.fromtimestamp(ts, CHINA_TZ),
            type="spike",
            area=area,
            category=category,
            severity="urgent" if p < 1e-12 else "major" if p < 1e-9 else "normal",
            title=f"{self.geo.label(area)} {name}近1小时上报{len(window)}起，通常约{lam:.1f}起",
            detail=f"泊松检验 p={p:.1e}；基线：{basis} {lam:.2f} 起/小时",
            related=tuple(i for _, i in sorted(window))[-50:],
        )


def _population(geo: Geography, code: str) -> int:
    area = geo.area(code)
    return area.population if area is not None else 0
