"""Folding incident steps into the counters: each incident's facts and what they contribute.

Split from ``dashboard.analytics.metrics`` (whose ``Metrics`` has ``Folding`` as a mixin, and
which re-exports ``Facts``) so the write side of the figures reads as one piece: a step
updates its incident's facts, the facts give its contribution (report cohort, closing, due
cohort, 10-minute entries, open or not: by the functions of ``rules``, which the bulk count calls
too), and only what changed moves in the counters, for the areas of the incident's chain. A
fold from the log counts each touched incident once at the end (``settle_folded``); a fold
into fresh metrics counts them all from columns (``settle.settle_bulk``), and their facts are
built when a later step needs them (``_materialize``).
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from dashboard.analytics import rules as r
from dashboard.analytics import tally as t
from dashboard.analytics.cluster import Clusters
from dashboard.analytics.cutoff import Chain, Cutoff
from dashboard.analytics.epoch import local_day
from dashboard.analytics.hourly import Entry, Hourly, incident_entries
from dashboard.analytics.settle import Head, settle_bulk
from dashboard.analytics.spike import Spikes
from feeds.geo.codes import scopes_of
from feeds.schema import AreaRef

if TYPE_CHECKING:
    from dashboard.state import Incident, Step

_ROUTINE = frozenset(
    ("dispatched", "accepted", "escalated", "handled", "feedback", "transferred", "returned")
)


class Facts:
    """What the counters need to know about one incident, and what it contributes now."""

    __slots__ = (
        "chain",
        "category",
        "deadline",
        "due_day",
        "rep_seq",
        "rep_ts",
        "rep_at",
        "max_level",
        "closed",
        "reopened",
        "cohort",
        "closing",
        "due",
        "open",
        "hourly",
    )

    def __init__(self, chain: Chain, category: str, deadline: float) -> None:
        self.chain, self.category, self.deadline = chain, category, deadline
        self.due_day = local_day(deadline)  # the day whose due cohort it belongs to
        self.rep_seq = 0
        self.rep_ts: float | None = None
        self.rep_at: datetime | None = None
        self.max_level, self.closed, self.reopened = 1, False, False
        self.cohort: t.Cohort | None = None
        self.closing: t.Closing | None = None
        self.due: t.Cohort | None = None
        self.open = False
        self.hourly: tuple[Entry, ...] = ()


class Folding:
    """The folding half of ``Metrics``; ``Metrics.__init__`` sets these attributes."""

    facts: dict[str, Facts]
    bulk: set[str]  # incidents counted by settle_bulk, whose facts wait
    tally: t.Tally
    overdue: Cutoff
    soon: Cutoff
    hourly: Hourly
    known_since: float
    spikes: Spikes
    clusters: Clusters
    _first_reports: list[tuple[Incident, Step]]
    _chains: dict[str, Chain]

    @property
    def cutoffs(self) -> tuple[Cutoff, ...]:
        """The deadline cutoffs, each holding every open incident by its deadline: cut at now
        (overdue) and at now + due_soon (due soon)."""
        return self.overdue, self.soon

    # -- folding ---------------------------------------------------------------------------
    def on_step(self, incident: Incident, step: Step) -> None:
        """Fold a new (not repeated) step of ``incident``; the state has applied it already."""
        f = self.facts.get(incident.id)
        kind = step.type
        if f is None and incident.id in self.bulk:
            f = self._materialize(incident, {step.seq})
        if f is None:
            chain = self.chain_of(incident.area)
            f = Facts(chain, incident.category, incident.deadline.timestamp())
            self.facts[incident.id] = f
        elif (
            kind in _ROUTINE
            and step.level <= f.max_level
            and (latest := incident.latest) is not None  # never None: the step is applied
            and (latest.type == "closed") == (f.closing is not None)
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

    def forget(self, incident: Incident) -> None:
        """An incident leaves memory (closed days ago, archived: ``State.evict``): its
        contribution is taken back and its facts dropped, so that if it ever comes back
        (``restored``) it is counted afresh from all its steps, whichever path counts it.

        Only closed incidents leave, after the kept days: what is taken back lies in pruned
        day rows (ignored) or in the spells' base, where its open and overdue spells had
        ended (opened and shut both taken back), so no figure a screen reads moves."""
        f = self.facts.get(incident.id)
        if f is None:
            if incident.id not in self.bulk:
                return
            f = self._materialize(incident, ())
        self.tally.move(f.chain, f.cohort, None)
        self.tally.move_closing(f.chain, f.closing, None)
        self.tally.move(f.chain, f.due, None)
        self.hourly.move(f.chain[:3], f.hourly, ())
        if f.open:
            for cut in self.cutoffs:
                cut.drop(incident.id)
        del self.facts[incident.id]

    def restored(self, incident: Incident) -> None:
        """Count an incident that came back from the archive with a new step: from all its
        steps, as one never counted (``forget`` took its contribution back)."""
        self._settle(incident, self._recount(incident))

    def _recount(self, incident: Incident, leave_out: Container[int] = ()) -> Facts:
        """An incident's facts from all its steps (what ``on_step`` builds step by step),
        or from all but the seqs ``leave_out``."""
        f = self.facts.get(incident.id)
        if f is None:
            chain = self.chain_of(incident.area)
            f = Facts(chain, incident.category, incident.deadline.timestamp())
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
        f.cohort, f.closing, f.due, f.hourly = self._contribution(f, latest)
        f.open = latest.type != "closed"
        return f

    def _contribution(
        self, f: Facts, latest: Step
    ) -> tuple[t.Cohort | None, t.Closing | None, t.Cohort | None, tuple[Entry, ...]]:
        """What an incident with facts ``f`` and latest step ``latest`` counts for: its
        report cohort, its closing, its deadline day's flags (closed: ``due_mask``; open:
        none, the cutoffs count it once overdue), its 10-minute entries, by the rules of ``rules``
        (``settle.settle_bulk`` asks them the same over arrays)."""
        closed = latest.type == "closed"
        cohort = None
        if f.rep_ts is not None:
            reach = r.REACH_MASK[f.max_level]
            mask = r.cohort_mask(reach, closed, f.closed, f.reopened)
            cohort = (local_day(f.rep_ts), mask)
        if not closed:
            return cohort, None, None, incident_entries(f.rep_ts, None, f.deadline, False, False)
        close_ts = latest.ts.timestamp()  # once: ~0.4 µs on an aware datetime
        on_time, at_grid = r.on_time(close_ts, f.deadline), r.at_grid(latest.level)
        closing = self._closing(f, latest, close_ts, r.closing_mask(at_grid))
        due = (f.due_day, r.due_mask(closed, on_time))
        entries = incident_entries(f.rep_ts, close_ts, f.deadline, on_time, at_grid)
        return cohort, closing, due, entries

    def _settle(self, incident: Incident, f: Facts) -> None:
        latest = incident.latest
        assert latest is not None
        closed = latest.type == "closed"
        cohort, closing, due, entries = self._contribution(f, latest)
        if cohort != f.cohort:
            self.tally.move(f.chain, f.cohort, cohort)
            f.cohort = cohort
        if closing != f.closing:
            self.tally.move_closing(f.chain, f.closing, closing)
            f.closing = closing
        if due != f.due:
            self.tally.move(f.chain, f.due, due)
            f.due = due
        if f.open == closed:  # open-ness changed
            f.open = not closed
            for cut in self.cutoffs:
                cut.put(incident.id, f.deadline, f.chain) if f.open else cut.drop(incident.id)
        if entries != f.hourly:
            self.hourly.move(f.chain[:3], f.hourly, entries)
            f.hourly = entries
            if f.rep_ts is not None and f.rep_ts < self.known_since:
                self.known_since = f.rep_ts

    def _closing(self, f: Facts, latest: Step, close_ts: float, mask: int) -> t.Closing:
        """The closing of an incident closed by ``latest`` at ``close_ts``, flagged ``mask``
        (``rules.closing_mask``)."""
        # datetime arithmetic, not epoch floats: durations come out exact to the microsecond
        minutes = None if f.rep_at is None else (latest.ts - f.rep_at).total_seconds() / 60
        return local_day(close_ts), mask, f.category, minutes

    def chain_of(self, area: AreaRef) -> Chain:
        """The areas an incident counts in: the city, its county and town, and its grid, or
        its village when it has no grid (a village's figures add its grids')."""
        finest = area.finest
        chain = self._chains.get(finest)
        if chain is None:
            scopes = scopes_of(finest)  # the city, county and town holding it
            chain = self._chains[finest] = scopes if finest in scopes else (*scopes, finest)
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


def _seq_of(step: Step) -> int:
    return step.seq
