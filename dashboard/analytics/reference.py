"""The figures of docs/metrics.md recomputed from scratch, the slow and obvious way.

This is the oracle the incremental ``Metrics`` is tested against, and the baseline the
benchmarks compare it with. It shares no code with the incremental path: it works on
``datetime`` objects and calendar dates rather than epoch numbers, keeps whole lists of steps,
and scans every incident for every area. Keep it boring.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from feeds.catalogue import CATEGORIES
from feeds.geo import Geography, contains
from feeds.schema import CHINA_TZ, EventMessage, PositionMessage

Figures = dict[str, float | int | None]  # as Metrics.figures gives them


@dataclass
class Case:
    first: EventMessage  # the first step received: area, category and deadline come from it
    steps: dict[int, EventMessage] = field(default_factory=dict)


def cases_from(stream: Iterable[EventMessage]) -> dict[str, Case]:
    """Incidents from a raw stream, each (id, seq) counted once, the first copy kept."""
    cases: dict[str, Case] = {}
    for message in stream:
        case = cases.setdefault(message.id, Case(message))
        case.steps.setdefault(message.seq, message)
    return cases


def recompute(
    geo: Geography,
    events: Iterable[EventMessage],
    positions: Iterable[PositionMessage],
    areas: Iterable[str],
    now: datetime,
    due_soon: timedelta = timedelta(hours=2),
    online_window: timedelta = timedelta(minutes=5),
) -> dict[str, Figures]:
    """Every figure of each of ``areas`` (city, county, town or grid codes) at ``now``."""
    city = geo.city.code
    cases = list(cases_from(events).values())
    today = now.astimezone(CHINA_TZ).date()
    patrols = patrols_from(positions, today)
    result: dict[str, Figures] = {}
    for area in areas:
        mine = [c for c in cases if _inside(area, city, c.first)]
        figures = _incident_figures(mine, today, now, due_soon)
        figures.update(_patrol_figures(geo, patrols, area, now, online_window))
        found = geo.area(area)
        population = found.population if found is not None else 0
        figures["population"] = population
        figures["events_per_10k"] = _ratio((figures["reported"] or 0) * 10_000, population)
        result[area] = figures
    return result


def _inside(area: str, city: str, message: EventMessage) -> bool:
    a = message.area
    return area in (city, a.county, a.town, a.village, a.grid)


def _date(moment: datetime) -> date:
    return moment.astimezone(CHINA_TZ).date()


def _incident_figures(
    cases: list[Case], today: date, now: datetime, due_soon: timedelta
) -> Figures:
    reported = [c for c in cases if (r := _report(c)) is not None and _date(r.ts) == today]
    closed_today = [c for c in cases if _is_closed(c) and _date(_last(c).ts) == today]
    open_cases = [c for c in cases if not _is_closed(c)]
    overdue = [c for c in open_cases if c.first.deadline < now]
    soon = [c for c in open_cases if now <= c.first.deadline < now + due_soon]
    # due: closed with a deadline today, or open past its deadline (whenever that was)
    due_closed = [c for c in cases if _is_closed(c) and _date(c.first.deadline) == today]
    due = due_closed + overdue
    on_time = [c for c in due_closed if _last(c).ts <= c.first.deadline]
    at_grid = [c for c in closed_today if _last(c).level == 1]
    rep_closed = [c for c in reported if _is_closed(c)]
    ever_closed = [c for c in reported if any(s.type == "closed" for s in c.steps.values())]
    reopened = [c for c in ever_closed if any(s.type == "reopened" for s in c.steps.values())]
    figures: Figures = {
        "reported": len(reported),
        "open": len(open_cases),
        "overdue": len(overdue),
        "due_soon": len(soon),
        "closed": len(closed_today),
        "disposal_rate": _ratio(len(due_closed), len(due)),
        "on_time_rate": _ratio(len(on_time), len(due)),
        "self_closure_rate": _ratio(len(at_grid), len(closed_today)),
        "reopen_rate": _ratio(len(reopened), len(ever_closed)),
        "overdue_share": _ratio(len(overdue), len(open_cases)),
        "closed_on_time": len(on_time),
        "closed_at_grid": len(at_grid),
        "due": len(due),
        "due_closed": len(due_closed),
        "reported_closed": len(rep_closed),
        "reported_ever_closed": len(ever_closed),
        "reported_reopened": len(reopened),
    }
    for level in (2, 3, 4, 5):
        reached = [c for c in reported if max(s.level for s in c.steps.values()) >= level]
        figures[f"escalated_l{level}"] = len(reached)
        figures[f"escalation_rate_l{level}"] = _ratio(len(reached), len(reported))
    figures["escalation_rate"] = figures["escalation_rate_l2"]
    figures.update(_medians(closed_today))
    return figures


def _medians(closed_today: list[Case]) -> Figures:
    minutes: dict[str, list[float]] = {code: [] for code in CATEGORIES}
    for case in closed_today:
        report = _report(case)
        if report is not None:
            span = (_last(case).ts - report.ts).total_seconds() / 60
            minutes[case.first.category].append(span)
    everything = [m for values in minutes.values() for m in values]
    out: Figures = {"median_close_min": statistics.median(everything) if everything else None}
    for code, values in minutes.items():
        out[f"median_close_min.{code}"] = statistics.median(values) if values else None
    return out


@dataclass
class Patrols:
    """Everything the positions say, before splitting by area."""

    visits: set[tuple[str, str]]  # (worker, grid) with an on-duty fix today
    latest: dict[str, PositionMessage]  # newest fix per worker; of equal times, the last received


def patrols_from(fixes: Iterable[PositionMessage], today: date) -> Patrols:
    visits: set[tuple[str, str]] = set()
    latest: dict[str, PositionMessage] = {}
    for p in fixes:
        if p.status != "offline" and _date(p.ts) == today:
            visits.add((p.worker, p.grid))
        if p.worker not in latest or latest[p.worker].ts <= p.ts:
            latest[p.worker] = p
    return Patrols(visits, latest)


def _patrol_figures(
    geo: Geography, patrols: Patrols, area: str, now: datetime, online_window: timedelta
) -> Figures:
    def inside(grid: str) -> bool:
        return contains(area, grid)

    visits = {(w, g) for w, g in patrols.visits if inside(g)}
    visited = {g for _, g in visits}
    workers = {w for w, _ in visits}
    online = [
        p
        for p in patrols.latest.values()
        if p.status != "offline" and now - p.ts <= online_window and inside(p.grid)
    ]
    grids = sum(1 for g in geo.grids if inside(g))
    return {
        "patrol_workers": len(workers),
        "patrol_visits": len(visits),
        "grids_visited": len(visited),
        "grids": grids,
        "patrol_coverage": _ratio(len(visited), grids),
        "online": len(online),
    }


def _report(case: Case) -> EventMessage | None:
    reports = [s for s in case.steps.values() if s.type == "reported"]
    return min(reports, key=lambda s: s.seq) if reports else None


def _last(case: Case) -> EventMessage:
    return case.steps[max(case.steps)]


def _is_closed(case: Case) -> bool:
    return _last(case).type == "closed"


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None
