"""Open311 GeoReport v2 documents: the service list, a service request from an incident, the
spec's error list, each as JSON or XML (the spec's element names: ``services/service``,
``service_requests/request``, ``errors/error``).

A request's fields come from the incident's lifecycle: ``status`` open until its latest step is
``closed``, ``status_notes`` that step's name, ``agency_responsible`` the area and platform at
the level now handling it, ``expected_datetime`` the deadline. The description is masked as on
the wall (``mask_text``) and the requester's contact fields are never in it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import msgspec
from flask import Response

from dashboard.access.privacy import mask_text
from dashboard.incident import Incident
from feeds.catalogue import CATEGORIES, LEVELS, PLATFORMS, STEP_TYPES
from feeds.geo import Geography, chain
from feeds.schema import CHINA_TZ

from .open311_intake import split_detail

Row = dict[str, Any]
ROOTS = {"service": "services", "request": "service_requests", "error": "errors"}
# The spec's own field order, for XML and for people reading the JSON.
REQUEST_FIELDS = (
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat", "long",
    "media_url",
)  # fmt: skip
_UNITS = {"hours": "小时", "working_days": "个工作日"}


def services() -> list[Row]:
    """The catalogue as Open311 services: one per category, grouped by platform."""
    found = []
    for category in CATEGORIES.values():
        platform = PLATFORMS[category.platform]
        limit = f"{category.limit}{_UNITS[category.unit]}"
        found.append({
            "service_code": category.code,
            "service_name": category.name,
            "description": f"{category.name}：{platform}平台受理，处置时限{limit}",
            "metadata": False,
            "type": "realtime",
            "keywords": ", ".join((category.name, platform, category.code)),
            "group": platform,
        })  # fmt: skip
    return found


def request_row(incident: Incident, geo: Geography, now: datetime) -> Row:
    """One service request, read from an incident (masked; no personal field)."""
    latest, first = incident.latest, incident.first
    assert latest is not None and first is not None
    description, extra = split_detail(incident.detail)
    closed = latest.type == "closed"
    notes = STEP_TYPES[latest.type]
    if not closed and incident.deadline < now:
        notes += "，已超时"
    row: Row = {
        "service_request_id": incident.id,
        "status": "closed" if closed else "open",
        "status_notes": notes,
        "service_name": CATEGORIES[incident.category].name,
        "service_code": incident.category,
        "description": mask_text(description),
        "agency_responsible": agency(incident, geo),
        "service_notice": notice(incident.area.finest, incident.deadline, geo),
        "requested_datetime": _w3c(first.ts),
        "updated_datetime": _w3c(max(s.ts for s in incident.steps.values())),
        "expected_datetime": _w3c(incident.deadline),
        "address": mask_text(extra.get("address", "")) or geo.label(incident.area.finest),
        "address_id": None,
        "zipcode": None,
        "lat": round(incident.lat, 6),
        "long": round(incident.lon, 6),
        "media_url": extra.get("media_url"),
    }
    return row


def agency(incident: Incident, geo: Geography) -> str:
    """Who handles it now: the area at the latest step's level (网格 → the grid ... 市级 → the
    city), and the platform that owns the category."""
    codes = chain(incident.area.finest)  # city, county, town, village, grid
    at = codes[max(0, min(len(LEVELS) - incident.level, len(codes) - 1))]
    platform = PLATFORMS[CATEGORIES[incident.category].platform]
    return f"{geo.label(at)}（{LEVELS[incident.level]}级 · {platform}）"


def notice(area: str, deadline: datetime, geo: Geography) -> str:
    """Where the request went and by when it is due (the POST's answer, and every GET's)."""
    due = deadline.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
    return f"已转{geo.label(area)}办理，处置时限 {due}"


def _w3c(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).isoformat(timespec="seconds")


def document(rows: list[Row], item: str, fmt: str, status: int = 200) -> Response:
    """``rows`` as the spec's JSON array or XML document of ``item`` elements."""
    if fmt == "xml":
        root = ET.Element(ROOTS[item])
        for row in rows:
            element = ET.SubElement(root, item)
            for name, value in row.items():
                ET.SubElement(element, name).text = _xml_text(value)
        body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return Response(body, status, mimetype="text/xml")
    return Response(msgspec.json.encode(rows), status, mimetype="application/json")


def _xml_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def error(status: int, description: str, fmt: str) -> Response:
    """The spec's error list: ``[{"code": 400, "description": "..."}]``."""
    fmt = fmt if fmt == "xml" else "json"
    return document([{"code": status, "description": description}], "error", fmt, status)
