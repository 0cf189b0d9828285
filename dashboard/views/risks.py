"""The top risks now in one area, for the tablet: overdue incidents and early warnings.

Socket event ``risks`` ``{scope}`` (empty: the asker's own) → ``{ok, scope, overdue: [...],
overdueCount, warnings: [...]}``. Overdue incidents come most overdue first, with their titles
masked as on the wall (the full text only through the audited ``incident`` detail); warnings
are the analytics' recent ones in scope, newest first. The red areas come with the index in
the ``panels`` push.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard.access.privacy import mask_text
from dashboard.analytics.outbox import payload as warning_payload
from dashboard.live.inbound import Caller, Reply, RisksAsk, SocketApi
from dashboard.live.livestate import LiveState
from dashboard.state import OPEN, State
from feeds.catalogue import CATEGORIES, LEVELS
from feeds.geo import contains

TOP_OVERDUE = 15
TOP_WARNINGS = 10
WARNINGS_WITHIN = timedelta(hours=24)


def overdue(state: State, scope: str, now: datetime) -> tuple[list[dict[str, Any]], int]:
    city = state.geo.city.code
    late = [
        i
        for i in state.incidents.values()
        if i.deadline < now and i.status == OPEN and scope in (city, i.area.county, i.area.town)
    ]
    late.sort(key=lambda i: (i.deadline, i.id))
    rows = [
        {
            "id": i.id,
            "title": mask_text(i.title),
            "catName": CATEGORIES[i.category].name,
            "platform": CATEGORIES[i.category].platform,
            "place": state.geo.label(i.area.town),
            "level": i.level,
            "levelName": LEVELS[i.level],
            "severity": i.severity or "normal",
            "deadline": i.deadline.isoformat(),
            "overdueMin": int((now - i.deadline).total_seconds() // 60),
        }
        for i in late[:TOP_OVERDUE]
    ]
    return rows, len(late)


def warnings(state: State, scope: str, now: datetime) -> list[dict[str, Any]]:
    city = state.geo.city.code
    found = [
        w
        for w in state.metrics.recent_warnings
        if now - w.ts <= WARNINGS_WITHIN and (scope == city or contains(scope, w.area))
    ]
    found.sort(key=lambda w: w.ts, reverse=True)
    return [warning_payload(w, state.geo.label(w.area)) for w in found[:TOP_WARNINGS]]


def install(api: SocketApi, live: LiveState) -> None:
    @api.on("risks", RisksAsk, scoped=True)
    def on_risks(caller: Caller, asked: RisksAsk) -> Reply:
        scope = caller.scope  # a known city, county or town inside the asker's jurisdiction
        now = datetime.now(UTC)
        with live.read() as state:
            late, count = overdue(state, scope, now)
            recent = warnings(state, scope, now)
        return {
            "ok": True,
            "scope": scope,
            "overdue": late,
            "overdueCount": count,
            "warnings": recent,
        }
