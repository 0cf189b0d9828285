"""What the browser receives: compact, JSON-ready shapes of steps, positions and KPIs.

Free text (title, detail) travels as plain strings; the page puts it in the DOM with
``textContent`` only, never as HTML.
"""

from __future__ import annotations

from datetime import datetime

from dashboard.access.privacy import mask_text
from dashboard.state import Applied, Incident
from feeds.catalogue import CATEGORIES, LEVELS, STEP_TYPES
from feeds.geo import Geography
from feeds.schema import PositionMessage

STATUS_CODES = {"patrolling": 0, "handling": 1, "idle": 2, "offline": 3}


def sid_key(sid: str) -> tuple[int, int]:
    """Order of Redis stream ids ("1700000000000-3")."""
    ms, _, seq = sid.partition("-")
    return int(ms), int(seq or 0)


def step_payload(applied: Applied, geo: Geography, masked: bool = True) -> dict[str, object]:
    """One step for the live views. ``masked``: personal data in the title is hidden, as every
    wall and tablet needs; the full text goes only through the audited incident detail."""
    m = applied.message
    category = CATEGORIES[m.category]
    return {
        "sid": applied.sid,
        "id": m.id,
        "seq": m.seq,
        "type": m.type,
        "step": STEP_TYPES[m.type],
        "ts": m.ts.isoformat(),
        "cat": m.category,
        "catName": category.name,
        "platform": category.platform,
        "colour": category.colour,
        "level": m.level,
        "levelName": LEVELS[m.level],
        "county": m.area.county,
        "town": m.area.town,
        "place": geo.label(m.area.town),
        "lon": round(m.lon, 5),
        "lat": round(m.lat, 5),
        "title": mask_text(m.title) if masked else m.title,
        "severity": m.severity or "normal",
        "deadline": m.deadline.isoformat(),
        "status": applied.incident.status,
        "overdue": _overdue(applied, m.ts),
    }


def _overdue(applied: Applied, now: datetime) -> bool:
    return applied.incident.status == "open" and applied.incident.deadline < now


def incident_marker(incident: Incident, now: datetime) -> dict[str, object]:
    """What the map needs to draw an open incident that the page has no step of yet."""
    return {
        "id": incident.id,
        "lon": round(incident.lon, 5),
        "lat": round(incident.lat, 5),
        "colour": CATEGORIES[incident.category].colour,
        "status": incident.status,
        "overdue": incident.status == "open" and incident.deadline < now,
    }


def position_row(p: PositionMessage) -> list[object]:
    return [p.worker, round(p.lon, 5), round(p.lat, 5), STATUS_CODES[p.status]]
