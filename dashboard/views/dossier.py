"""An incident's whole story for the duty officer: what ``incident_detail`` holds, plus the
time spent at each stage, the escalation path, the nearest workers, the reports fused with it,
the recent history of its grid and the actions taken on it. Pure: reads the state only.
"""

from __future__ import annotations

import heapq
import math
from datetime import datetime
from typing import Any

from dashboard.access.privacy import incident_detail, mask_text
from dashboard.live.actions import ActionBook, action_payload
from dashboard.state import Incident, State
from dashboard.views.search import reported_at
from feeds.catalogue import CATEGORIES, DEPARTMENTS, LEVELS, PLATFORMS, SOURCES
from feeds.schema import ActionMessage

NEARBY = 5
GRID_HISTORY = 10
_M_PER_DEG = 111_320.0


def dossier_locked(
    state: State, incident: Incident, book: ActionBook, reveal: bool, now: datetime
) -> tuple[dict[str, Any], list[Incident], list[Any]]:
    """What must be read under the bridge's lock: the incident's own story, its actions, the
    reports fused with it, and snapshots of the incidents and positions to search outside it
    (a scan of 100,000 incidents must not hold up the live push)."""
    found = incident_detail(incident, state.geo, reveal)
    steps = found["steps"]
    for step, following in zip(steps, [*steps[1:], None], strict=True):
        end = datetime.fromisoformat(following["ts"]) if following else None
        if end is None and incident.status == "open":
            end = now
        start = datetime.fromisoformat(step["ts"])
        step["seconds"] = round((end - start).total_seconds()) if end else None
        step["levelName"] = LEVELS[step["level"]]
    _desk_steps(steps, book.of(incident.id), reveal)
    found.update(
        sourceName=SOURCES.get(incident.source, incident.source),
        remaining=round((incident.deadline - now).total_seconds()),
        overdue=incident.status == "open" and incident.deadline < now,
        path=escalation_path(incident),
        levels=[{"level": n, "name": name} for n, name in LEVELS.items()],
        related=related(state, incident, reveal),
        actions=[action_payload(sid, a, state, reveal) for sid, a in book.of(incident.id)],
        acknowledged=incident.id in book.acknowledged,
        supervised=incident.id in book.supervised,
    )
    return found, list(state.incidents.values()), list(state.positions.values())


def _desk_steps(
    steps: list[dict[str, Any]], actions: list[tuple[str, ActionMessage]], reveal: bool
) -> None:
    """Each step taken at the desk says who took it, for whom and why (its audited action)."""
    by_seq = {a.step: a for _sid, a in actions if a.step is not None}
    for step in steps:
        action = by_seq.get(step["seq"])
        if action is None:
            continue
        step["actor"] = action.display or action.actor
        step["assignee"] = handler_name(action.target)
        step["assigneeId"] = action.target or ""
        step["remark"] = action.text if reveal else mask_text(action.text)


def handler_name(code: str | None) -> str:
    """A department's name, or a worker's id as it is."""
    if not code:
        return ""
    department = DEPARTMENTS.get(code)
    return f"{department[0]}（{PLATFORMS[department[1]]}）" if department else code


def dossier_finish(
    found: dict[str, Any],
    state: State,
    incident: Incident,
    incidents: list[Incident],
    positions: list[Any],
    reveal: bool,
    now: datetime,
) -> dict[str, Any]:
    """The searches over the snapshots, outside the lock."""
    found["nearby"] = nearest_workers(state, positions, incident.lon, incident.lat, now)
    found["gridHistory"] = grid_history(incidents, incident, reveal)
    return found


def escalation_path(incident: Incident) -> list[int]:
    """The levels the incident has been held at, in order (repeats collapsed)."""
    path: list[int] = []
    for step in sorted(incident.steps.values(), key=lambda s: s.seq):
        if not path or path[-1] != step.level:
            path.append(step.level)
    return path


def nearest_workers(
    state: State, positions: list[Any], lon: float, lat: float, now: datetime
) -> list[dict[str, Any]]:
    kx = math.cos(math.radians(lat)) * _M_PER_DEG

    def metres(p: Any) -> float:
        return math.hypot((p.lon - lon) * kx, (p.lat - lat) * _M_PER_DEG)

    online = (p for p in positions if p.status != "offline")
    return [
        {
            "worker": p.worker,
            "metres": round(metres(p)),
            "lat": round(p.lat, 5),
            "lon": round(p.lon, 5),
            "status": p.status,
            "grid": p.grid,
            "place": state.geo.label(p.grid) if state.geo.area(p.grid) else p.grid,
            "seenSeconds": max(0, round((now - p.ts).total_seconds())),
        }
        for p in heapq.nsmallest(NEARBY, online, key=metres)
    ]


def related(state: State, incident: Incident, reveal: bool) -> list[dict[str, Any]]:
    """Reports fused with this one (the same thing, same place, other channels)."""
    ids = [i for i in state.metrics.clusters.members(incident.id) if i != incident.id]
    return [_brief(state.incidents[i], reveal) for i in ids if i in state.incidents]


def grid_history(
    incidents: list[Incident], incident: Incident, reveal: bool
) -> list[dict[str, Any]]:
    grid = incident.area.grid or incident.area.village or incident.area.town
    same = (
        i
        for i in incidents
        if i.id != incident.id and (i.area.grid or i.area.village or i.area.town) == grid
    )
    newest = heapq.nlargest(GRID_HISTORY, same, key=_reported)
    return [_brief(i, reveal) for i in newest]


def _reported(incident: Incident) -> datetime:
    return reported_at(incident)  # an attribute read: safe outside the lock, unlike a scan


def _brief(incident: Incident, reveal: bool) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title if reveal else mask_text(incident.title),
        "catName": CATEGORIES[incident.category].name,
        "source": SOURCES.get(incident.source, incident.source),
        "status": incident.status,
        "reported": _reported(incident).isoformat(),
    }
