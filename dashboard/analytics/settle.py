"""Counting many new incidents at once: how a rebuild from the log ends.

``Metrics._settle`` moves one incident's contribution from what it was to what it is. After a
fold from the log nearly every incident is new to the metrics, so there is nothing to move
from, and most increments land on the same few rows (the city, ten counties, ~156 towns):
here each incident's facts and contribution are worked out in one pass, the increments are
counted per distinct row, and each row is added to once. Every counter is a sum over
incidents, so the figures equal those of settling the incidents one by one (the tests hold
both paths to that).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from dashboard.analytics import tally as t
from dashboard.analytics.clock import DAY_S, OFFSET_S
from dashboard.analytics.cutoff import Chain
from dashboard.analytics.hourly import incident_entries

if TYPE_CHECKING:
    from dashboard.analytics.metrics import Facts, Metrics
    from dashboard.state import Incident

REACH_MASK = {lv: sum(1 << t.REACHED[x] for x in range(2, lv + 1)) for lv in range(1, 6)}
_REPORTED = 1 << t.REPORTED
_REP_CLOSED = 1 << t.REP_CLOSED
_EVER_CLOSED = 1 << t.REP_EVER_CLOSED
_REOPENED = 1 << t.REP_REOPENED
_CLOSED, _ON_TIME, _AT_GRID = 1 << t.CLOSED, 1 << t.ON_TIME, 1 << t.AT_GRID


def settle_new(metrics: Metrics, incidents: Iterable[Incident], facts_of: type[Facts]) -> None:
    """Count ``incidents``, none of which the metrics have seen, as ``_recount`` followed by
    ``_settle`` would, one by one."""
    facts, chains, chain_of = metrics.facts, metrics._chains, metrics._chain
    flags: dict[tuple[Chain, int, int], int] = {}  # (chain, day, mask) -> incidents
    hours: dict[tuple[Chain, int, int], int] = {}  # (city, county, town), slot, mask -> incidents
    minutes: dict[tuple[Chain, int, str], list[float]] = {}  # (chain, day, category) -> values
    opened: list[tuple[str, float, Chain]] = []
    known_since = metrics.known_since
    for incident in incidents:
        area = incident.area
        chain = chains.get(area.grid or area.village or area.town) or chain_of(area)
        deadline = incident.deadline.timestamp()
        f = facts[incident.id] = facts_of(chain, incident.category, deadline)
        steps = incident.steps.values()
        report = incident.first
        if report is None or report.type != "reported":  # the lowest seq of all, normally
            report = min((s for s in steps if s.type == "reported"), key=_seq, default=None)
        kinds = {s.type for s in steps}
        top = max([s.level for s in steps])
        f.closed = ever_closed = "closed" in kinds
        f.reopened = "reopened" in kinds
        f.max_level = top = top if top > 1 else 1
        latest = incident.latest
        assert latest is not None
        closed = latest.type == "closed"
        close_ts = latest.ts.timestamp() if closed else None
        rep_ts = None
        if report is not None:
            rep_ts = report.ts.timestamp()
            f.rep_seq, f.rep_ts, f.rep_at = report.seq, rep_ts, report.ts
            mask = _REPORTED | REACH_MASK[top]
            if closed:
                mask |= _REP_CLOSED
            if ever_closed:
                mask |= _EVER_CLOSED | (_REOPENED if f.reopened else 0)
            day = int((rep_ts + OFFSET_S) // DAY_S)
            f.cohort = (day, mask)
            key = (chain, day, mask)
            flags[key] = flags.get(key, 0) + 1
            if rep_ts < known_since:
                known_since = rep_ts
        if close_ts is not None:  # as Metrics._closing
            mask = _CLOSED
            if close_ts <= deadline:
                mask |= _ON_TIME
            if latest.level == 1:
                mask |= _AT_GRID
            day = int((close_ts + OFFSET_S) // DAY_S)
            if report is None:
                f.closing = (day, mask, incident.category, None)
            else:
                # datetime arithmetic, not epoch floats: exact to the microsecond
                taken = (latest.ts - report.ts).total_seconds() / 60
                f.closing = (day, mask, incident.category, taken)
                values = minutes.get((chain, day, incident.category))
                if values is None:
                    minutes[(chain, day, incident.category)] = [taken]
                else:
                    values.append(taken)
            key = (chain, day, mask)
            flags[key] = flags.get(key, 0) + 1
        else:
            f.open = True
            opened.append((incident.id, deadline, chain))
        entries = f.hourly = incident_entries(rep_ts, close_ts, deadline, latest.level == 1)
        upper = chain[:3]
        for slot, mask in entries:
            key = (upper, slot, mask)
            hours[key] = hours.get(key, 0) + 1
    metrics.known_since = known_since
    tally = metrics.tally
    for (chain, day, mask), n in flags.items():
        tally._flags(chain, day, mask, n)
    for (chain, day, category), values in minutes.items():
        tally.add_minutes(chain, day, category, values)
    hourly = metrics.hourly
    for (upper, slot, mask), n in hours.items():
        hourly.add(upper, slot, mask, n)
    for incident_id, deadline, chain in opened:
        metrics.overdue.put(incident_id, deadline, chain)
        metrics.soon.put(incident_id, deadline, chain)


def _seq(step: object) -> int:
    return step.seq  # type: ignore[attr-defined,no-any-return]
