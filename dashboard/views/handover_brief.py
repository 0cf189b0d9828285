"""The hand-over brief (交接班简报) of one jurisdiction: what the outgoing officer leaves open.

Built in two halves so the state's lock is held only for what moves under it (``take``): the
KPI figures, the shift counts from the 10-minute rows, the red areas, the recent warnings and
the actions of incidents with a 批示. Everything else (``build``) runs outside the lock over
the incidents taken, with the duty desk's own filters (``dashboard.views.search``): 在办 and
超期 are the drill-down sets of the KPIs, 督办 and 未签收 the desk's flags, so each section's
total is what the desk's filter of the same name finds, and 在办 / 超期 equal the KPI tiles.

Shift counts (reported, closed, overdue in this shift and the previous one) come from the rows
behind "same time yesterday" (``dashboard.analytics.hourly``): reported and closed are the
entries in the shift's 10-minute slots, so the shifts of a day add up to that day's 今日上报 and
今日办结; overdue is the KPI now, and for the previous shift the overdue spells open at its end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dashboard.access.privacy import mask_text
from dashboard.analytics import hourly as h
from dashboard.analytics import rules
from dashboard.analytics.metrics import Figures, Metrics
from dashboard.analytics.outbox import payload as warning_payload
from dashboard.live.actions import ActionBook
from dashboard.state import OPEN, Incident, State, Step
from dashboard.views.ranking import governance
from dashboard.views.risks import WARNINGS_WITHIN
from dashboard.views.search import Filter, Marks, SearchText, matching, reported_at
from dashboard.views.shifts import Shift
from dashboard.views.table import clock, rows
from feeds.catalogue import LEVELS, SEVERITIES
from feeds.geo import Geography, contains
from feeds.schema import ActionMessage, WarningMessage

ROWS = 30  # rows listed per section; the section's total is always the whole count
DESK_ROLES = frozenset({"duty", "admin"})  # whose action after a 批示 means it was taken up
COUNTY_LEVEL = 4  # 区县: escalated this high, an incident is worth the next shift's notice
NOTABLE_SEVERITY = ("urgent", "major")
ShiftCounts = dict[str, Any]


@dataclass(frozen=True)
class Taken:
    """What the brief reads from the live state, taken under its lock."""

    scope: str
    city: str
    figures: Figures  # the KPIs of the scope, as the tiles show them
    current: ShiftCounts
    previous: ShiftCounts
    incidents: list[Incident]  # every incident in memory (filtered by scope outside the lock)
    marks: Marks  # 签收 and 督办 (sets only ever grow: read outside the lock, as the desk does)
    instructed: dict[str, list[ActionMessage]]  # incident → its actions, if one is a 批示
    warnings: list[WarningMessage]  # the analytics' recent ones in scope
    red: list[dict[str, Any]]  # areas of the scope's map whose index is red


def take(
    state: State, book: ActionBook, scope: str, shift: Shift, previous: Shift, now: datetime
) -> Taken:
    """Call under the state's lock; it copies, it does not scan incidents."""
    metrics = state.metrics
    index = governance(state, scope, now)
    red = [{"code": c, **e} for c, e in index.items() if e["colour"] == "red"]
    red.sort(key=lambda r: (r["score"], r["code"]))
    city = state.geo.city.code
    return Taken(
        scope=scope,
        city=city,
        figures=metrics.figures(scope, now),
        current=shift_counts(metrics, scope, shift, now),
        previous=shift_counts(metrics, scope, previous, now),
        incidents=list(state.incidents.values()),
        marks=Marks(book.acknowledged, book.supervised),
        instructed={
            i: [a for _, a in acts]
            for i, acts in book.by_incident.items()
            if any(a.verb == "instruct" for _, a in acts)
        },
        warnings=[
            w
            for w in metrics.recent_warnings
            if now - w.ts <= WARNINGS_WITHIN and (scope == city or contains(scope, w.area))
        ],
        red=red,
    )


def shift_counts(metrics: Metrics, area: str, shift: Shift, now: datetime) -> ShiftCounts:
    """Reported and closed in ``shift`` (closed: and still closed now, as 今日办结), and
    overdue: now for the shift under way, at its end for one that has ended. ``complete``:
    the reports held reach back to the shift's start, and its rows are still kept."""
    first = h.slot_of(shift.start.timestamp())
    end = h.slot_of(shift.end.timestamp())
    reported = closed = 0
    for slot, row in metrics.hourly.slots.get(area, {}).items():
        if first <= slot < end:
            reported += row[h.REPORTED]
            closed += row[h.CLOSED]
    if shift.holds(now):
        overdue = metrics.figures(area, now)["overdue"]
    else:
        at_end = metrics.hourly.at(area, shift.end.timestamp())
        overdue = at_end[h.LATE] - at_end[h.LATE_DONE]
    complete = metrics.known_since <= shift.start.timestamp() and metrics.hourly.floor <= first
    return {
        "label": shift.label,
        "start": shift.start.isoformat(),
        "end": shift.end.isoformat(),
        "reported": reported,
        "closed": closed,
        "overdue": overdue,
        "complete": complete,
    }


def build(
    taken: Taken, geo: Geography, shift: Shift, now: datetime, reveal: bool
) -> dict[str, Any]:
    """The brief: counts, and each section's first ``ROWS`` rows (outside the lock)."""
    marks = taken.marks

    def find(f: Filter, among: list[Incident]) -> list[Incident]:
        return matching(among, f, taken.scope, taken.city, now, marks, SearchText(reveal))

    scoped = find(Filter(), taken.incidents)
    by_deadline = sorted(find(Filter(set="open"), scoped), key=_due)
    overdue = sorted(find(Filter(set="overdue"), scoped), key=_due)
    supervised = [i for i in by_deadline if i.id in marks.supervised]
    unacked = find(Filter(flag="unacknowledged"), scoped)
    unacked.sort(key=lambda i: (reported_at(i), i.id))
    instructions = _instructions(by_deadline, taken.instructed)
    warnings = _unacknowledged(taken.warnings, scoped, marks)
    notable = _notable(scoped, shift, now)

    def section(found: list[Incident]) -> dict[str, Any]:
        block, _plain = rows(found[:ROWS], geo, now, marks, reveal)
        return {"total": len(found), "rows": block}

    noted = section([i for i, _ in notable])
    for row, (_i, reasons) in zip(noted["rows"], notable, strict=False):
        row["reasons"] = reasons
    pending = section([i for i, _ in instructions])
    for row, (_i, said) in zip(pending["rows"], instructions, strict=False):
        row["instruction"] = {
            "by": said.display or said.actor,
            "at": clock(said.ts),
            "text": said.text if reveal else mask_text(said.text),
        }
    sections = {
        "overdue": section(overdue),
        "supervised": section(supervised),
        "unacknowledged": section(unacked),
        "instructions": pending,
        "warnings": {
            "total": len(warnings),
            "rows": [warning_payload(w, geo.label(w.area)) for w in warnings[:ROWS]],
        },
        "red": {"total": len(taken.red), "rows": taken.red[:ROWS]},
        "notable": noted,
        "open": section(by_deadline),
    }
    return {
        "ok": True,
        "scope": taken.scope,
        "scopeName": geo.label(taken.scope),
        "now": now.isoformat(),
        "kpis": {k: taken.figures[k] for k in ("open", "overdue", "reported", "closed")},
        "shift": taken.current,
        "previous": taken.previous,
        "counts": {name: part["total"] for name, part in sections.items()},
        "sections": sections,
    }


def _due(i: Incident) -> tuple[datetime, str]:
    return i.deadline, i.id


def counts_of(brief: dict[str, Any]) -> dict[str, int]:
    """What a hand-over records of its brief: each section's total and the shift's flows."""
    shift = brief["shift"]
    return {
        **brief["counts"],
        "reported": int(shift["reported"]),
        "closed": int(shift["closed"]),
    }


def _instructions(
    open_: list[Incident], instructed: dict[str, list[ActionMessage]]
) -> list[tuple[Incident, ActionMessage]]:
    """Open incidents whose latest 批示 no desk action (duty, admin) has followed yet."""
    pending = []
    for incident in open_:
        actions = instructed.get(incident.id)
        if not actions:
            continue
        last = max(n for n, a in enumerate(actions) if a.verb == "instruct")
        later = actions[last + 1 :]
        if not any(a.role in DESK_ROLES and a.verb != "instruct" for a in later):
            pending.append((incident, actions[last]))
    pending.sort(key=lambda p: p[1].ts)
    return pending


def _unacknowledged(
    warnings: list[WarningMessage], scoped: list[Incident], marks: Marks
) -> list[WarningMessage]:
    """Warnings nobody has answered, newest first. A warning has no 签收 of its own: it is
    answered when every incident it names is signed for (签收) or closed; one naming none (a
    worker gone quiet, an index drop) stays on the brief for its 24 hours."""
    by_id = {i.id: i for i in scoped}

    def answered(w: WarningMessage) -> bool:
        return bool(w.related) and all(
            r in marks.acknowledged or (r in by_id and by_id[r].status != OPEN) for r in w.related
        )

    return sorted((w for w in warnings if not answered(w)), key=lambda w: w.ts, reverse=True)


def _notable(
    scoped: list[Incident], shift: Shift, now: datetime
) -> list[tuple[Incident, list[str]]]:
    """Incidents of note in ``shift`` so far, most severe and newest first, with why: urgent
    or major reports, escalated to the county or city, reopened, or overdue in the shift."""
    start = shift.start
    found: list[tuple[int, float, Incident, list[str]]] = []
    for i in scoped:
        latest = i.latest
        in_shift = start <= i.deadline < now or (latest is not None and latest.ts >= start)
        if not in_shift:
            continue
        steps = sorted(list(i.steps.values()), key=lambda s: s.seq)
        reasons = _reasons(i, steps, start, now)
        if reasons:
            rank = NOTABLE_SEVERITY.index(i.severity) if i.severity in NOTABLE_SEVERITY else 2
            found.append((rank, -steps[-1].ts.timestamp(), i, reasons))
    found.sort(key=lambda f: (f[0], f[1], f[2].id))
    return [(i, reasons) for _r, _t, i, reasons in found]


def _reasons(i: Incident, steps: list[Step], start: datetime, now: datetime) -> list[str]:
    reasons = []
    if i.severity in NOTABLE_SEVERITY and start <= steps[0].ts < now:
        reasons.append(SEVERITIES[i.severity])
    high = next((s for s in steps if s.level >= COUNTY_LEVEL), None)
    if high is not None and start <= high.ts < now:
        reasons.append(f"上报至{LEVELS[high.level]}")
    if any(s.type == "reopened" and start <= s.ts < now for s in steps):
        reasons.append("重新打开")
    if start <= i.deadline < now:
        closed = steps[-1].ts if steps[-1].type == "closed" else None
        if closed is None or not rules.on_time(closed, i.deadline):
            reasons.append("本班超期")
    return reasons
