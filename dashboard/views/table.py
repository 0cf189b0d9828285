"""The duty table's rows: every display string made here, so the page formats nothing.

What ``search`` found becomes rows for one block of the table (``duty_rows``) or for an export.
An incident that cannot be rendered costs its own row's formatting (given as plain text),
never the block.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from dashboard.access.privacy import mask_text
from dashboard.state import CLOSED, OPEN, Incident
from dashboard.views.search import Marks, reported_at
from feeds.catalogue import CATEGORIES, LEVELS, PLATFORMS, SOURCES
from feeds.geo import Geography
from feeds.schema import CHINA_TZ

log = logging.getLogger(__name__)


def rows(
    found: Iterable[Incident], geo: Geography, now: datetime, marks: Marks, reveal: bool
) -> tuple[list[dict[str, Any]], int]:
    """Table rows, and how many of them could only be given as plain text: one incident that
    cannot be rendered (a bug, or a log written before the contract bounded it) costs its own
    row's formatting, never the block's answer or an export."""
    out: list[dict[str, Any]] = []
    plain = 0
    for i in found:
        try:
            out.append(row(i, geo, now, marks, reveal))
        except Exception as exc:  # whatever it is, it costs the row, not the answer
            log.warning("incident %r shown as plain text: %r", i.id, exc)
            out.append(text_row(i, reveal))
            plain += 1
    return out, plain


def row(i: Incident, geo: Geography, now: datetime, marks: Marks, reveal: bool) -> dict[str, Any]:
    """One table row: display strings made here, so the page formats nothing."""
    category = CATEGORIES[i.category]
    overdue = i.status == OPEN and i.deadline < now
    remaining = (i.deadline - now).total_seconds()
    return {
        "id": i.id,
        "reported": clock(reported_at(i)),
        "category": category.name,
        "platform": PLATFORMS[category.platform],
        "colour": category.colour,
        "level": LEVELS[i.level],
        "place": geo.label(i.area.grid or i.area.town),
        "source": SOURCES.get(i.source, i.source),
        "title": i.title if reveal else mask_text(i.title),
        "status": "已办结" if i.status == CLOSED else ("已超期" if overdue else "办理中"),
        "deadline": clock(i.deadline),
        # the deadline as the live steps give it: the page tells by it whether a step moves
        # the row in a sort by time left (assets/onemap-55-duty.js)
        "due": round(i.deadline.timestamp() * 1000),  # epoch ms
        "left": "" if i.status == CLOSED else countdown(remaining),
        "overdue": overdue,
        "closed": i.status == CLOSED,
        "supervised": i.id in marks.supervised,
        "acknowledged": i.id in marks.acknowledged,
        "severity": i.severity or "normal",
        "lat": round(i.lat, 5),
        "lon": round(i.lon, 5),
    }


def text_row(i: Incident, reveal: bool) -> dict[str, Any]:
    """A row with the incident's own fields as text, nothing looked up or converted."""
    title = str(getattr(i, "title", ""))
    first = getattr(i, "first", None)
    return {
        "id": str(i.id),
        "reported": str(getattr(first, "ts", "")),
        "category": str(getattr(i, "category", "")),
        "platform": "",
        "colour": "",
        "level": str(getattr(getattr(i, "latest", None), "level", "")),
        "place": str(getattr(getattr(i, "area", None), "town", "")),
        "source": str(getattr(i, "source", "")),
        "title": title if reveal else mask_text(title),
        "status": "",
        "deadline": str(getattr(i, "deadline", "")),
        "due": None,
        "left": "",
        "overdue": False,
        "closed": False,
        "supervised": False,
        "acknowledged": False,
        "severity": "normal",
        "lat": None,
        "lon": None,
    }


def clock(ts: datetime) -> str:
    """``MM-DD HH:MM`` in China time. A time too near datetime's ends to convert (the contract
    keeps them out; a log written before it did may still hold one) is given as it came."""
    try:
        return ts.astimezone(CHINA_TZ).strftime("%m-%d %H:%M")
    except (OverflowError, ValueError):
        return ts.isoformat()


def countdown(seconds: float) -> str:
    """剩 3小时12分 / 超 45分: time left to the deadline, or past it."""
    left = abs(int(seconds))
    hours, minutes = divmod(left // 60, 60)
    text = f"{hours}小时{minutes:02d}分" if hours else f"{minutes}分"
    return ("剩 " if seconds >= 0 else "超 ") + text
