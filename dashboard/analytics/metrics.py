"""The figures of docs/metrics.md for every area, kept current one step at a time.

``Metrics`` is fed by ``State``: ``on_step`` after each new event step, ``on_position`` after
each fix. Per incident it keeps a few facts (when reported, highest level, closed, reopened)
and the contribution those facts make to the counters; a step recomputes the contribution and
moves only what changed, for the four areas the incident is in (city, county, town, and its
grid, or its village when it has no grid). A village's figures are read as the sum of its own
counters and its grids' (3 to 4 grids a village), so the fold never pays a fifth area. Figures
that move with the clock (overdue, due soon, online) are members below a moving cutoff.
``figures(area, now)`` then reads counters: no scan of incidents, ever.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from dashboard.analytics import hourly as h
from dashboard.analytics import tally as t
from dashboard.analytics.cluster import Clusters
from dashboard.analytics.cutoff import Chain, Cutoff, bump
from dashboard.analytics.epoch import DAY_S, local_day
from dashboard.analytics.hourly import SLOT_S, Entry, Hourly, day_start_slot, incident_entries
from dashboard.analytics.knobs import AnalyticsConfig
from dashboard.analytics.outbox import Outbox
from dashboard.analytics.patrol import GRIDS_VISITED, VISITS, Patrol
from dashboard.analytics.settle import REACH_MASK, Head, settle_bulk
from dashboard.analytics.spike import Spikes
from dashboard.analytics.watch import IndexWatch, offline_warnings
from feeds.catalogue import CATEGORIES
from feeds.geo import Geography
from feeds.schema import AreaRef, PositionMessage, WarningMessage

if TYPE_CHECKING:
    from dashboard.state import Incident, Step

Figures = dict[str, float | int | None]
_ZERO = [0] * t.SLOTS
_ROUTINE = frozenset(("dispatched", "accepted", "escalated", "handled", "feedback"))


class Facts:
    """What the counters need to know about one incident, and what it contributes now."""

    __slots__ = (
        "chain",
        "category",
        "deadline",
        "rep_seq",
        "rep_ts",
        "rep_at",
        "max_level",
        "closed",
        "reopened",
        "cohort",
        "closing",
        "open",
        "hourly",
    )

    def __init__(self, chain: Chain, category: str, deadline: float) -> None:
        self.chain, self.category, self.deadline = chain, category, deadline
        self.rep_seq = 0
        self.rep_ts: float | None = None
        self.rep_at: datetime | None = None
        self.max_level, self.closed, self.reopened = 1, False, False
        self.cohort: t.Cohort | None = None
        self.closing: t.Closing | None = None
        self.open = False
        self.hourly: tuple[Entry, ...] = ()


class Metrics:
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
        self._village_grids: dict[str, tuple[str, ...]] | None = None

    # -- folding ---------------------------------------------------------------------------
    def on_step(self, incident: Incident, step: Step) -> None:
        """Fold a new (not repeated) step of ``incident``; the state has applied it already."""
        f = self.facts.get(incident.id)
        kind = step.type
        if f is None and incident.id in self.bulk:
            f = self._materialize(incident, {step.seq})
        if f is None:
            f = Facts(self._chain(incident.area), incident.category, incident.deadline.timestamp())
            self.facts[incident.id] = f
        elif (
            kind in _ROUTINE
            and step.level <= f.max_level
            and (incident.latest.type == "closed") == (f.closing is not None)  # type: ignore[union-attr]
        ):
            return  # most steps: a routine step at a known level changes no figure
        if kind == "reported" and (f.rep_seq == 0 or step.seq < f.rep_seq):
            first = f.rep_seq == 0
            f.rep_seq, f.rep_ts, f.rep_at = step.seq, step.ts.timestamp(), step.ts
            if first:
                self._detect(incident, f.rep_ts)
        elif kind == "closed":
            f.closed = True
        elif kind == "reopened":
            f.reopened = True
        if step.level > f.max_level:
            f.max_level = step.level
        self._settle(incident, f)

    def fold_report(self, incident: Incident, step: Step) -> None:
        """While folding a log: a new "reported" step. The detectors will see each
        incident's first report, in log order, as they would live, when the fold ends
        (``settle_folded``): run together, their tables stay in the processor's cache."""
        steps = incident.steps
        if len(steps) == 1 or not any(
            s.type == "reported" for s in steps.values() if s is not step
        ):
            self._first_reports.append((incident, step))

    def settle_folded(self, incidents: list[Incident], heads: Sequence[Head]) -> None:
        """After folding a log: count each incident the fold touched, once (``heads``: the
        steps the fold added, in log order).

        The facts and contributions are functions of an incident's steps, so counting once
        gives exactly the figures that counting every step gives. Into fresh metrics (a
        rebuild) every incident is counted at once, from columns (``settle.settle_bulk``).
        """
        reports, self._first_reports = self._first_reports, []
        for incident, step in reports:
            self._detect(incident, step.ts.timestamp())
        if not self.facts and not self.bulk:
            settle_bulk(self, incidents, heads)
            return
        added: dict[str, set[int]] = {}
        for head in heads:
            if head.id in self.bulk:
                added.setdefault(head.id, set()).add(head.seq)
        for incident in incidents:
            if incident.id in added:  # counted in bulk before this fold: as it was then
                self._materialize(incident, added[incident.id])
            self._settle(incident, self._recount(incident))

    def _recount(self, incident: Incident, leave_out: Container[int] = ()) -> Facts:
        """An incident's facts from all its steps (what ``on_step`` builds step by step),
        or from all but the seqs ``leave_out``."""
        f = self.facts.get(incident.id)
        if f is None:
            f = Facts(self._chain(incident.area), incident.category, incident.deadline.timestamp())
            self.facts[incident.id] = f
        report, closed, reopened, top = None, False, False, 1
        for s in incident.steps.values():
            if s.seq in leave_out:
                continue
            kind = s.type
            if kind == "reported":
                if report is None or s.seq < report.seq:
                    report = s
            elif kind == "closed":
                closed = True
            elif kind == "reopened":
                reopened = True
            if s.level > top:
                top = s.level
        f.closed, f.reopened, f.max_level = closed, reopened, top
        if report is not None:
            f.rep_seq, f.rep_ts, f.rep_at = report.seq, report.ts.timestamp(), report.ts
        return f

    def _materialize(self, incident: Incident, leave_out: Container[int]) -> Facts:
        """The facts of an incident counted in bulk, as they were before the steps
        ``leave_out`` (just applied): its contribution is in the counters already."""
        self.bulk.discard(incident.id)
        f = self._recount(incident, leave_out)
        latest = max((s for s in incident.steps.values() if s.seq not in leave_out), key=_seq_of)
        f.cohort, f.closing, f.hourly = self._contribution(f, latest)
        f.open = latest.type != "closed"
        return f

    def on_position(self, message: PositionMessage, newest: bool) -> None:
        self.patrol.on_position(message, newest)

    def _contribution(
        self, f: Facts, latest: Step
    ) -> tuple[t.Cohort | None, t.Closing | None, tuple[Entry, ...]]:
        """What an incident with facts ``f`` and latest step ``latest`` counts for: its
        report cohort, its closing, its 10-minute entries (``settle.settle_bulk`` computes
        the same over arrays)."""
        closed = latest.type == "closed"
        cohort = None
        if f.rep_ts is not None:
            mask = (1 << t.REPORTED) | REACH_MASK[f.max_level]
            if closed:
                mask |= 1 << t.REP_CLOSED
            if f.closed:
                mask |= 1 << t.REP_EVER_CLOSED | (1 << t.REP_REOPENED if f.reopened else 0)
            cohort = (local_day(f.rep_ts), mask)
        closing = self._closing(f, latest) if closed else None
        close_ts = latest.ts.timestamp() if closed else None
        entries = incident_entries(f.rep_ts, close_ts, f.deadline, latest.level == 1)
        return cohort, closing, entries

    def _settle(self, incident: Incident, f: Facts) -> None:
        latest = incident.latest
        assert latest is not None
        closed = latest.type == "closed"
        cohort, closing, entries = self._contribution(f, latest)
        if cohort != f.cohort:
            self.tally.move(f.chain, f.cohort, cohort)
            f.cohort = cohort
        if closing != f.closing:
            self.tally.move_closing(f.chain, f.closing, closing)
            f.closing = closing
        if f.open == closed:  # open-ness changed
            f.open = not closed
            for cut in (self.overdue, self.soon):
                cut.put(incident.id, f.deadline, f.chain) if f.open else cut.drop(incident.id)
        if entries != f.hourly:
            self.hourly.move(f.chain[:3], f.hourly, entries)
            f.hourly = entries
            if f.rep_ts is not None and f.rep_ts < self.known_since:
                self.known_since = f.rep_ts

    def _closing(self, f: Facts, latest: Step) -> t.Closing:
        close_ts = latest.ts.timestamp()
        mask = 1 << t.CLOSED
        if close_ts <= f.deadline:
            mask |= 1 << t.ON_TIME
        if latest.level == 1:
            mask |= 1 << t.AT_GRID
        # datetime arithmetic, not epoch floats: durations come out exact to the microsecond
        minutes = None if f.rep_at is None else (latest.ts - f.rep_at).total_seconds() / 60
        return local_day(close_ts), mask, f.category, minutes

    def _chain(self, area: AreaRef) -> Chain:
        chain = self._chains.get(area.finest)
        if chain is None:
            # the village only when there is no grid: a village's figures add its grids'
            codes = (self.geo.city.code, area.county, area.town, area.grid or area.village)
            chain = self._chains[area.finest] = tuple(c for c in codes if c)
        return chain

    def _detect(self, incident: Incident, ts: float) -> None:
        area = incident.area
        self.spikes.on_report(incident.id, incident.category, area.county, area.town, ts)
        self.clusters.on_report(
            incident.id,
            incident.category,
            incident.source,
            area.finest,
            incident.lon,
            incident.lat,
            ts,
        )

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
        due = closed + overdue
        grids = _total(self.grids, parts)
        population = _population(self.geo, area)
        figures: Figures = {
            "reported": reported,
            "patrol_visits": patrol[VISITS],
            "open": open_,
            "overdue": overdue,
            "due_soon": _total(self.soon.below, parts) - overdue,
            "closed": closed,
            "online": sum(self.patrol.online(a, now_s) for a in parts),
            "disposal_rate": ratio(row[t.REP_CLOSED], reported),
            "on_time_rate": ratio(row[t.ON_TIME], due),
            "self_closure_rate": ratio(row[t.AT_GRID], closed),
            "escalation_rate": ratio(row[t.REACHED[2]], reported),
            "reopen_rate": ratio(row[t.REP_REOPENED], row[t.REP_EVER_CLOSED]),
            "overdue_share": ratio(overdue, open_),
            "patrol_coverage": ratio(patrol[GRIDS_VISITED], grids),
            "events_per_10k": ratio(reported * 10_000, population),
            "median_close_min": self.tally.median_of(day, parts),
            "closed_on_time": row[t.ON_TIME],
            "closed_at_grid": row[t.AT_GRID],
            "due": due,
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

    def same_time_yesterday(self, area: str, now: datetime) -> Figures:
        """The headline figures of ``area`` (the city, a county or a town) at the last
        10-minute mark 24 hours before ``now``; empty when what we hold does not reach back
        to the first 10 minutes of that day (the log's cap cut it, or no history yet)."""
        then = now.timestamp() - DAY_S
        if self.known_since > day_start_slot(then) * SLOT_S + SLOT_S:
            return {}
        c = self.hourly.at(area, then)
        reported, closed, overdue = c[h.REPORTED], c[h.CLOSED], c[h.LATE] - c[h.LATE_DONE]
        return {
            "reported": reported,
            "patrol_visits": c[h.VISITS],
            "open": c[h.OPENED] - c[h.SHUT],
            "overdue": overdue,
            "closed": closed,
            "disposal_rate": ratio(c[h.REP_CLOSED], reported),
            "on_time_rate": ratio(c[h.ON_TIME], closed + overdue),
            "self_closure_rate": ratio(c[h.AT_GRID], closed),
        }

    def _parts(self, area: str) -> tuple[str, ...]:
        """The areas whose counters make up ``area``'s: itself, and a village's grids."""
        if len(area) != 12:
            return (area,)
        if self._village_grids is None:
            found: dict[str, list[str]] = {}
            for grid in self.geo.grids:
                found.setdefault(grid[:12], []).append(grid)
            self._village_grids = {v: tuple(sorted(gs)) for v, gs in found.items()}
        return (area, *self._village_grids.get(area, ()))

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


def _seq_of(step: Step) -> int:
    return step.seq


def _summed(rows: list[list[int]]) -> list[int]:
    return rows[0] if len(rows) == 1 else [sum(column) for column in zip(*rows, strict=True)]


def _total(counts: dict[str, int], parts: tuple[str, ...]) -> int:
    return sum(counts.get(area, 0) for area in parts)


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _population(geo: Geography, code: str) -> int:
    area = geo.area(code)
    return area.population if area is not None else 0
