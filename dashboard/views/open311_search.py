"""An Open311 search (``GET requests``): its filters, read from the query string.

``service_code`` and ``status`` are comma lists; ``start_date`` and ``end_date`` are W3C
date-times on ``requested_datetime`` (without an offset, China time). A list of
``service_request_id`` overrides them all (the spec) and is handled by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from dashboard.incident import Incident
from feeds.schema import CHINA_TZ

from .open311_intake import Fault


@dataclass(frozen=True, slots=True)
class Query:
    """A search's filters: service_code, status (comma lists), start_date, end_date."""

    codes: set[str]
    statuses: set[str]
    start: datetime | None
    end: datetime | None

    def wants(self, incident: Incident, start: datetime) -> bool:
        requested = requested_at(incident)
        return (
            (not self.codes or incident.category in self.codes)
            and (not self.statuses or incident.status in self.statuses)
            and requested >= start
            and (self.end is None or requested <= self.end)
        )


def parse_query(args: Mapping[str, str]) -> Query | Fault:
    get = args.get
    codes = {c.strip() for c in get("service_code", "").split(",") if c.strip()}
    statuses = {s.strip().lower() for s in get("status", "").split(",") if s.strip()}
    if statuses - {"open", "closed"}:
        return Fault(400, "status must be open, closed or both (comma separated)")
    dates: list[datetime | None] = []
    for name in ("start_date", "end_date"):
        text = get(name, "").strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
        except ValueError:
            return Fault(400, f"{name} must be a W3C date-time, e.g. 2026-12-01T08:00:00+08:00")
        dates.append(moment.replace(tzinfo=CHINA_TZ) if moment and not moment.tzinfo else moment)
    return Query(codes, statuses, dates[0], dates[1])


def requested_at(incident: Incident) -> datetime:
    first = incident.first
    return first.ts if first is not None else incident.deadline
