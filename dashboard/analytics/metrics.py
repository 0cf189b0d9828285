"""The figures of docs/metrics.md for every area, kept current one step at a time.

``Metrics`` is fed by ``State``: ``on_step`` after each new event step, ``on_position`` after
each fix. Per incident it keeps a few facts (when reported, highest level, closed, reopened)
and the contribution those facts make to the counters; a step recomputes the contribution and
moves only what changed, for the four areas the incident is in (city, county, town, and its
grid, or its village when it has no grid). A village's figures are read as the sum of its own
counters and its grids' (3 to 4 grids a village), so the fold never pays a fifth area. Figures
that move with the clock (overdue, due soon, online) are members below a moving cutoff.
``figures(area, now)`` then reads counters: no scan of incidents, ever.

How a step reaches the counters (facts, contributions, settling a fold) is the ``Folding``
mixin of ``dashboard.analytics.folding``; this module holds the state and reads it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from dashboard.analytics import hourly as h
from dashboard.analytics import tally as t
from dashboard.analytics.cluster import Clusters
from dashboard.analytics.cutoff import Chain, Cutoff, bump
from dashboard.analytics.epoch import DAY_S, OFFSET_S, local_day
from dashboard.analytics.folding import Facts, Folding
from dashboard.analytics.hourly import SLOT_S, Hourly, day_start_slot, slot_of
from dashboard.analytics.knobs import AnalyticsConfig
from dashboard.analytics.outbox import Outbox
from dashboard.analytics.patrol import GRIDS_VISITED, VISITS, Patrol
from dashboard.analytics.spike import Spikes
from dashboard.analytics.watch import IndexWatch, offline_warnings
from feeds.catalogue import CATEGORIES
from feeds.geo import Geography
from feeds.schema import PositionMessage, WarningMessage

if TYPE_CHECKING:
    from dashboard.state import Incident, Step

__all__ = ["Facts", "Figures", "Metrics", "ratio"]

Figures = dict[str, float | int | None]
_ZERO = [0] * t.SLOTS


class Metrics(Folding):
    def __init__(self, geo: Geography, config: AnalyticsConfig | None = None) -> None:
        self.geo = geo
        self.config = config = config or AnalyticsConfig()
        self.facts: dict[str, Facts] = {}
        self.bulk: set[str] = set()  # incidents counted by settle_bulk, whose facts wait
        self._first_reports: list[tuple[Incident, Step]] = []  # of a fold, for the detectors
        self.tally = t.Tally()
        self.overdue = Cutoff()  # open incidents by deadline, cut at now
        self.soon = Cutoff()  # the same, cut at now + due_soon
        self.hourly = Hourly()  # the headline figures by 10-minute slot: "same time yesterday"
        self.known_since = float("inf")  # the earliest report seen: how far back we know
        self.patrol = Patrol(geo, config.online_window, config.silence, self.hourly)
        self.outbox = Outbox()
        self.spikes = Spikes(geo, config.spike, self.outbox)
        self.clusters = Clusters(geo, config.cluster, self.outbox)
        self.watch = IndexWatch(self, config.watch, self.outbox)
        self.grids: dict[str, int] = {}
        for grid in geo.grids:
            bump(self.grids, self.patrol.chain(grid), 1)
        self._chains: dict[str, Chain] = {}
        self._soon_s = config.due_soon.total_seconds()
        self._pruned_at = -float("inf")
        self._village_parts: dict[str, tuple[str, ...]] = {}  # village -> itself, its grids

    def on_position(self, message: PositionMessage, newest: bool) -> None:
        self.patrol.on_position(message, newest)

    # -- reading ---------------------------------------------------------------------------
    def figures(self, area: str, now: datetime) -> Figures:
        """Every figure of docs/metrics.md for ``area`` (city, county, town, village or grid)."""
        now_s = now.timestamp()
        day = local_day(now_s)
        self.overdue.move(now_s)
        self.soon.move(now_s + self._soon_s)
        parts = self._parts(area)
        row = _summed([self.tally.row(day, a) or _ZERO for a in parts])
        patrol = _summed([self.patrol.day_counts(day, a) for a in parts])
        reported, closed = row[t.REPORTED], row[t.CLOSED]
        open_, overdue = _total(self.overdue.total, parts), _total(self.overdue.below, parts)
        # what is due: due today and closed (flags in today's row), or open past a deadline
        due_closed = row[t.DUE_CLOSED]
        due = due_closed + overdue
        grids = _total(self.grids, parts)
        population = _population(self.geo, area)
        figures: Figures = {
            "reported": reported,
            "patrol_workers": self.patrol.workers_on(day, area),
            "patrol_visits": patrol[VISITS],
            "open": open_,
            "overdue": overdue,
            "due_soon": _total(self.soon.below, parts) - overdue,
            "closed": closed,
            "online": sum(self.patrol.online(a, now_s) for a in parts),
            "disposal_rate": ratio(due_closed, due),
            "on_time_rate": ratio(row[t.DUE_ON_TIME], due),
            "self_closure_rate": ratio(row[t.AT_GRID], closed),
            "escalation_rate": ratio(row[t.REACHED[2]], reported),
            "reopen_rate": ratio(row[t.REP_REOPENED], row[t.REP_EVER_CLOSED]),
            "overdue_share": ratio(overdue, open_),
            "patrol_coverage": ratio(patrol[GRIDS_VISITED], grids),
            "events_per_10k": ratio(reported * 10_000, population),
            "median_close_min": self.tally.median_of(day, parts),
            "due": due,
            "due_closed": due_closed,
            "closed_on_time": row[t.DUE_ON_TIME],
            "closed_at_grid": row[t.AT_GRID],
            "reported_closed": row[t.REP_CLOSED],
            "reported_ever_closed": row[t.REP_EVER_CLOSED],
            "reported_reopened": row[t.REP_REOPENED],
            "grids": grids,
            "grids_visited": patrol[GRIDS_VISITED],
            "population": population,
        }
        for level, slot in t.REACHED.items():
            figures[f"escalated_l{level}"] = row[slot]
            figures[f"escalation_rate_l{level}"] = ratio(row[slot], reported)
        for code in CATEGORIES:
            figures[f"median_close_min.{code}"] = self.tally.median_of(day, parts, code)
        return figures

    def day_before(self, area: str, now: datetime) -> Figures:
        """``reported`` and ``grids_visited`` of ``area`` on the local day before ``now``'s
        (0 where that day is not held): what the governance index takes as a day's worth."""
        day, parts = local_day(now.timestamp()) - 1, self._parts(area)
        row = _summed([self.tally.row(day, a) or _ZERO for a in parts])
        patrol = _summed([self.patrol.day_counts(day, a) for a in parts])
        return {"reported": row[t.REPORTED], "grids_visited": patrol[GRIDS_VISITED]}

    def same_time_yesterday(self, area: str, now: datetime) -> Figures:
        """The headline figures of ``area`` (the city, a county or a town) at the last
        10-minute mark 24 hours before ``now``, each only where what we hold covers it:

        - the day's flows (reported, closed, self-closure) when the known reports reach back
          to that day's first 10 minutes;
        - the standing figures (open, overdue, and the rates over what is due) a day further:
          they count incidents reported before that day (a backlog, yesterday's deadlines),
          which a log begun at yesterday's midnight does not hold;
        - the patrols when an on-duty fix from before the mark is known.

        The log's cap cut it, or there is no history yet: that family is left out."""
        then = now.timestamp() - DAY_S
        return self._as_of(area, then, slot_of(then) * SLOT_S, self.hourly.at(area, then))

    def day_end(self, area: str, day: int) -> Figures:
        """The same figures of ``area`` as they stood at the end (24:00) of local ``day``,
        left out by the same rules, with ``due``: what a day's briefing reports. Only the
        days kept (``keep_days``) have their day counts."""
        end = (day + 1) * DAY_S - OFFSET_S
        c = self.hourly.at(area, end, day_s=end - 1)
        figures = self._as_of(area, end - 1, end, c)
        if "overdue" in figures:
            figures["due"] = c[h.DUE_DONE] + (c[h.LATE] - c[h.LATE_DONE])
        return figures

    def _as_of(self, area: str, then: float, mark: float, c: list[int]) -> Figures:
        since = day_start_slot(then) * SLOT_S + SLOT_S  # the end of that day's first slot
        figures: Figures = {}
        if self.known_since <= since:
            reported, closed = c[h.REPORTED], c[h.CLOSED]
            figures.update(
                reported=reported,
                closed=closed,
                self_closure_rate=ratio(c[h.AT_GRID], closed),
            )
        if self.known_since <= since - DAY_S:
            overdue, done = c[h.LATE] - c[h.LATE_DONE], c[h.DUE_DONE]
            figures.update(
                open=c[h.OPENED] - c[h.SHUT],
                overdue=overdue,
                disposal_rate=ratio(done, done + overdue),
                on_time_rate=ratio(c[h.DUE_ON_TIME], done + overdue),
            )
        if self.patrol.known_since < mark:
            figures.update(patrol_workers=c[h.WORKERS], patrol_visits=c[h.VISITS])
        return figures

    def _parts(self, area: str) -> tuple[str, ...]:
        """The areas whose counters make up ``area``'s: itself, and a village's grids."""
        if area not in self.geo.villages:
            return (area,)
        parts = self._village_parts.get(area)
        if parts is None:  # a village's children are its grids, sorted by code
            grids = (grid.code for grid in self.geo.children(area))
            parts = self._village_parts[area] = (area, *grids)
        return parts

    @property
    def recent_warnings(self) -> list[WarningMessage]:
        return list(self.outbox.recent)

    # -- the clock -------------------------------------------------------------------------
    def tick(self, now: datetime) -> list[WarningMessage]:
        """Time-driven work (silent workers, index drops, pruning); returns pending warnings."""
        now_s = now.timestamp()
        quiet = self.patrol.gone_quiet(now_s)
        if quiet:
            fixes = {w: (self.patrol.quiet.key(w) or 0.0, self._grid_of(w)) for w in quiet}
            for warning in offline_warnings(
                quiet,
                fixes,
                now,
                self.config.silence.total_seconds(),
                self.config.watch,
                self.geo,
            ):
                self.outbox.put(warning)
        self.watch.tick(now)
        if now_s - self._pruned_at >= 3600:
            self._pruned_at = now_s
            self.prune(now_s)
        return self.outbox.drain()

    def prune(self, now_s: float) -> None:
        floor = local_day(now_s) - self.config.keep_days + 1
        self.tally.prune(floor)
        self.patrol.prune(floor)
        self.hourly.prune(day_start_slot(floor * DAY_S))  # the floor day's local midnight
        self.spikes.prune(now_s)
        self.clusters.prune(now_s)

    def _grid_of(self, worker: str) -> str:
        chain = self.patrol.quiet.chain(worker)
        return chain[-1] if chain else self.geo.city.code


def _summed(rows: list[list[int]]) -> list[int]:
    return rows[0] if len(rows) == 1 else [sum(column) for column in zip(*rows, strict=True)]


def _total(counts: dict[str, int], parts: tuple[str, ...]) -> int:
    return sum(counts.get(area, 0) for area in parts)


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _population(geo: Geography, code: str) -> int:
    area = geo.area(code)
    return area.population if area is not None else 0
