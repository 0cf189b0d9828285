"""What the browser receives: every server-to-page event's payload, typed in one place.

Free text (title, detail) travels as plain strings; the page puts it in the DOM with
``textContent`` only, never as HTML. docs/socket.md lists the events and their fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

from dashboard.access.privacy import mask_text
from dashboard.state import OPEN, Applied, Incident
from feeds.catalogue import CATEGORIES, LEVELS, STEP_TYPES
from feeds.geo import Geography
from feeds.schema import PositionMessage

STATUS_CODES = {"patrolling": 0, "handling": 1, "idle": 2, "offline": 3}

# A worker's position as a row, not an object: a city wall receives up to 10,000 of them a
# frame. [worker id, lon, lat, status code (STATUS_CODES)].
PositionRow = tuple[str, float, float, int]

# A closed incident that a wall's density counts in its time window (a snapshot asked with one
# carries a day's thousands): a row, never drawn as a marker. [id, lon, lat, category code,
# report time (ISO, its report step's ``ts``)].
ClosedRow = tuple[str, float, float, str, str]


class StepPayload(TypedDict):
    sid: str  # the log's stream id: pages keep the last one and catch up after it
    id: str
    seq: int
    type: str
    step: str
    ts: str
    cat: str
    catName: str
    platform: str
    colour: str
    level: int
    levelName: str
    county: str
    town: str
    place: str
    lon: float
    lat: float
    title: str  # masked: names and numbers hidden
    severity: str
    deadline: str
    status: str
    overdue: bool


class IncidentMarker(TypedDict):
    id: str
    lon: float
    lat: float
    colour: str
    status: str
    overdue: bool
    cat: str  # the category code (the page's density and its ``density=`` filter)
    reported: str | None  # the report's ``ts``; None: not known (a trimmed log's incident)
    deadline: str | None  # the one ``overdue`` is computed from (ISO); None once closed


class Beat(TypedDict):
    now: str
    newest: str | None  # the newest message time applied: how fresh the feed is
    bridge: Literal["rebuilding", "ok", "down", "restarting"]


class Kpis(Beat):
    kpis: dict[str, Any]  # dashboard.views.kpis.headline
    yesterday: dict[str, Any]  # the same figures at this time yesterday
    history: dict[str, Any] | None  # where a trimmed log begins, if it does


class StepsEvent(TypedDict):
    steps: list[StepPayload]


class PositionsEvent(TypedDict):
    p: list[PositionRow]


class ActionsEvent(TypedDict):
    actions: list[dict[str, Any]]  # dashboard.live.actions.action_payload


class WarningsEvent(TypedDict):
    warnings: list[dict[str, object]]  # dashboard.analytics.outbox.payload


class HelloReply(TypedDict):
    ok: bool
    mode: NotRequired[Literal["snapshot", "catchup"]]
    error: NotRequired[str]
    retry: NotRequired[int]
    scope: NotRequired[str]
    last: NotRequired[str]
    steps: NotRequired[list[StepPayload]]
    positions: NotRequired[list[PositionRow]]
    incidents: NotRequired[list[IncidentMarker]]
    closed: NotRequired[list[ClosedRow]]  # asked with a window: its closed incidents
    panels: NotRequired[dict[str, Any]]
    warnings: NotRequired[list[dict[str, object]]]  # still pinned: each with ``pinFor`` s
    following: NotRequired[dict[str, Any] | None]


# One message to send: (event, payload, room). Built under the state's lock, sent after it.
Emit = tuple[str, Mapping[str, object], str]


def step_payload(applied: Applied, geo: Geography, masked: bool = True) -> StepPayload:
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


def incident_marker(incident: Incident, now: datetime) -> IncidentMarker:
    """What the map needs to draw an open incident that the page has no step of yet, and to
    count it in the density's time windows and colour its cluster (due soon: ``deadline``)."""
    is_open = incident.status == OPEN
    return {
        "id": incident.id,
        "lon": round(incident.lon, 5),
        "lat": round(incident.lat, 5),
        "colour": CATEGORIES[incident.category].colour,
        "status": incident.status,
        "overdue": is_open and incident.deadline < now,
        "cat": incident.category,
        "reported": reported_at(incident),
        "deadline": incident.deadline.isoformat() if is_open else None,
    }


def closed_row(incident: Incident, reported: str) -> ClosedRow:
    """A closed incident for the density of a time window (``reported``: ``reported_at``)."""
    return (
        incident.id,
        round(incident.lon, 5),
        round(incident.lat, 5),
        incident.category,
        reported,
    )


def reported_at(incident: Incident) -> str | None:
    """When the incident was reported (its first step's ``ts``, as its step payload says it);
    ``None`` when the state knows it only from a later step (the log was trimmed past it)."""
    first = incident.first
    return first.ts.isoformat() if first is not None and first.type == "reported" else None


def position_row(p: PositionMessage) -> PositionRow:
    return (p.worker, round(p.lon, 5), round(p.lat, 5), STATUS_CODES[p.status])
