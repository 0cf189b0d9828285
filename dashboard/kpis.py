"""Headline figures for one jurisdiction, computed from the state (pure functions).

These are scans over today's incidents, cheap at a few thousand open incidents per second per
watched area; the analytics work replaces them with incremental counters.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dashboard.state import CLOSED, OPEN, State
from feeds.schema import CHINA_TZ

ONLINE_WINDOW = timedelta(minutes=5)


def in_scope(scope: str, county: str, town: str, city: str) -> bool:
    return scope in (city, county, town)


def headline(state: State, scope: str, now: datetime) -> dict[str, int]:
    city = state.geo.city.code
    midnight = now.astimezone(CHINA_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    reported = open_ = closed = overdue = 0
    for incident in state.incidents.values():
        area = incident.area
        if not in_scope(scope, area.county, area.town, city):
            continue
        first = incident.steps.get(1)
        if first is not None and first.ts >= midnight:
            reported += 1
        if incident.status == OPEN:
            open_ += 1
            overdue += incident.deadline < now
        elif incident.status == CLOSED and incident.latest and incident.latest.ts >= midnight:
            closed += 1
    return {
        "reported": reported,
        "open": open_,
        "closed": closed,
        "overdue": overdue,
        "online": workers_online(state, scope, now),
    }


def workers_online(state: State, scope: str, now: datetime) -> int:
    city = state.geo.city.code
    online = 0
    for p in state.positions.values():
        if p.status == "offline" or now - p.ts > ONLINE_WINDOW:
            continue
        town = p.grid[:9]
        online += in_scope(scope, town[:6], town, city)
    return online
