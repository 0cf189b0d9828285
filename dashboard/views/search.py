"""Find incidents: the duty table's filter, search and sort over the state, as pure functions.

A filter is a flat dict of strings (what a URL query holds), so the duty page can keep it in
its address and share it. Search matches a substring of the title or the detail, or the
initials of the title's pinyin (``jgqs`` finds 井盖缺失): what Chinese users type into a
search box. Named sets (``set=overdue``, ``set=closed_on_time`` ...) are the incidents behind
each KPI, with the same definitions as docs/metrics.md (on time, at the grid and overdue are
the functions of ``dashboard.analytics.rules`` that the counters use), so a KPI can be drilled
into. What is found becomes table rows in ``dashboard.views.table``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from dashboard.access.privacy import mask_text
from dashboard.analytics import rules
from dashboard.state import CLOSED, OPEN, Incident
from dashboard.views.initials import initials
from dashboard.views.terms import Terms
from feeds.catalogue import CATEGORIES, LEVELS, PLATFORMS, SOURCES
from feeds.geo import Geography, contains
from feeds.geo.codes import level_of
from feeds.schema import CHINA_TZ, AreaRef

DUE_SOON = timedelta(hours=2)
MAX_BLOCK = 500  # rows per request: the table asks block by block as it scrolls
MAX_POINTS = 3000  # incidents drawn on the duty map per filter
MAX_AREA_CHARS = 15  # an asked area is a code: anything longer is not one (bounded input)
SORTABLE = ("left", "reported", "deadline", "level", "category", "place", "status", "source")
DEFAULT_SORT = ("left", False)  # open incidents by time left, most overdue first; closed after
PERIODS = {"today": None, "24h": timedelta(hours=24), "7d": timedelta(days=7), "all": None}
# an area's level (feeds.geo.codes.level_of) → the AreaRef field that holds it
AREA_FIELD = {"county": "county", "town": "town", "village": "village", "grid": "grid"}
FIELDS = ("area", "cat", "platform", "level", "status", "source", "flag", "period", "q", "set")


@dataclass(frozen=True)
class Filter:
    """What the duty officer asked for; every field optional. Lists are "any of"."""

    area: str = ""
    cat: tuple[str, ...] = ()
    platform: tuple[str, ...] = ()
    level: tuple[int, ...] = ()
    status: str = ""  # "open" | "closed" | ""
    source: tuple[str, ...] = ()
    flag: str = ""  # "overdue" | "due_soon" | "supervised" | "acknowledged" | "unacknowledged"
    period: str = ""  # "today" | "24h" | "7d" | "all" ("" = all)
    q: str = ""
    set: str = ""  # a KPI's numerator or denominator: see SETS

    @classmethod
    def parse(cls, raw: object) -> Filter:
        """From a URL query or a socket message; unknown values are dropped, never trusted."""
        raw = raw if isinstance(raw, dict) else {}

        def many(key: str, allowed: Iterable[str]) -> tuple[str, ...]:
            value = raw.get(key) or ()
            if isinstance(value, str):
                items: Iterable[object] = value.split(",")
            elif isinstance(value, list | tuple):
                items = value
            else:  # a number, an object ...: nothing asked for
                items = ()
            allowed = set(allowed)
            return tuple(dict.fromkeys(str(v) for v in items if str(v) in allowed))

        status = str(raw.get("status") or "")
        flag = str(raw.get("flag") or "")
        period = str(raw.get("period") or "")
        chosen = str(raw.get("set") or "")
        return cls(
            area=str(raw.get("area") or "")[:MAX_AREA_CHARS],
            cat=many("cat", CATEGORIES),
            platform=many("platform", PLATFORMS),
            level=tuple(int(v) for v in many("level", (str(n) for n in LEVELS))),
            status=status if status in (OPEN, CLOSED) else "",
            source=many("source", SOURCES),
            flag=flag if flag in FLAGS else "",
            period=period if period in PERIODS else "",
            q=str(raw.get("q") or "").strip()[:50],
            set=chosen if chosen in SETS else "",
        )

    def query(self) -> dict[str, str]:
        """The filter as a URL query (only what is set)."""
        out: dict[str, str] = {}
        for key in FIELDS:
            value = getattr(self, key)
            if value:
                out[key] = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        return out


@dataclass(frozen=True)
class Marks:
    """What operators did to incidents (from the actions), for the flag filters."""

    acknowledged: frozenset[str] | set[str] = frozenset()
    supervised: frozenset[str] | set[str] = frozenset()


def reported_at(incident: Incident) -> datetime:
    first = incident.first
    if first is None:  # every incident is made from a step: never, short of a bug
        raise ValueError(f"incident {incident.id!r} has no steps")
    return first.ts


_REPORTED = attrgetter("first.ts")  # the same, at C speed: the sort key of the default view


def _closed_at(incident: Incident) -> datetime | None:
    latest = incident.latest
    return latest.ts if latest is not None and latest.type == "closed" else None


def _midnight(now: datetime) -> datetime:
    return now.astimezone(CHINA_TZ).replace(hour=0, minute=0, second=0, microsecond=0)


# -- the incidents behind each KPI (docs/metrics.md) ------------------------------------------
Test = Callable[[Incident, datetime, datetime], bool]  # (incident, now, midnight)


def _closed_today(i: Incident, now: datetime, midnight: datetime) -> bool:
    closed = _closed_at(i)
    return closed is not None and closed >= midnight


def _due_today(i: Incident, now: datetime, midnight: datetime) -> bool:
    """In today's due cohort: its deadline falls today, and it is closed or past it."""
    return midnight <= i.deadline < midnight + timedelta(days=1) and (
        i.status == CLOSED or rules.overdue(i.deadline, now)
    )


def _due_closed(i: Incident, now: datetime, midnight: datetime) -> bool:
    return i.status == CLOSED and _due_today(i, now, midnight)


def _closed_on_time(i: Incident, now: datetime, midnight: datetime) -> bool:
    closed = _closed_at(i)
    return closed is not None and _due_today(i, now, midnight) and rules.on_time(closed, i.deadline)


def _closed_at_grid(i: Incident, now: datetime, midnight: datetime) -> bool:
    latest = i.latest  # when closed, the closing step
    return _closed_today(i, now, midnight) and latest is not None and rules.at_grid(latest.level)


def _overdue(i: Incident, now: datetime) -> bool:
    return i.status == OPEN and rules.overdue(i.deadline, now)


def _due_soon(i: Incident, now: datetime) -> bool:
    """Overdue within ``DUE_SOON`` but not yet (as the metrics' two deadline cutoffs)."""
    return (
        i.status == OPEN
        and rules.overdue(i.deadline, now + DUE_SOON)
        and not rules.overdue(i.deadline, now)
    )


SETS: dict[str, tuple[str, Test]] = {
    "reported": ("今日上报", lambda i, now, m: reported_at(i) >= m),
    "open": ("在办", lambda i, now, m: i.status == OPEN),
    "overdue": ("超期", lambda i, now, m: _overdue(i, now)),
    "due_soon": ("临期", lambda i, now, m: _due_soon(i, now)),
    "closed": ("今日办结", _closed_today),
    "reported_closed": (
        "今日上报且已办结",
        lambda i, now, m: reported_at(i) >= m and i.status == CLOSED,
    ),
    "due": (
        "应办结（今日到期已办结 + 超期未结）",
        lambda i, now, m: _due_closed(i, now, m) or _overdue(i, now),
    ),
    "due_closed": ("今日到期且已办结", _due_closed),
    "closed_on_time": ("今日到期且按期办结", _closed_on_time),
    "closed_at_grid": ("今日网格自办结", _closed_at_grid),
}
# A KPI's rate: (numerator set, denominator set); the duty page drills into either.
RATES = {
    "disposal_rate": ("due_closed", "due"),
    "on_time_rate": ("closed_on_time", "due"),
    "self_closure_rate": ("closed_at_grid", "closed"),
}
FLAGS = {
    "overdue": "已超期",
    "due_soon": "临期（2小时内）",
    "supervised": "已督办",
    "acknowledged": "已签收",
    "unacknowledged": "未签收",
}


# -- search ----------------------------------------------------------------------------------
class SearchText:
    """Each incident's searchable text, made once (titles and details do not change).

    Without ``reveal`` the text is the masked one: someone who may not read a phone number
    must not be able to find an incident by typing it either.
    """

    def __init__(self, reveal: bool = True) -> None:
        self.reveal = reveal
        self.texts: dict[str, str] = {}

    def of(self, incident: Incident) -> str:
        text = self.texts.get(incident.id)
        if text is None:
            text = searchable(incident.title, incident.detail, self.reveal)
            self.texts[incident.id] = text
        return text


def searchable(title: str, detail: str, reveal: bool) -> str:
    """What a search matches: title, detail and the title's pinyin initials, lower case;
    masked unless ``reveal``. The archive stores both (``dashboard.cold.summaries``)."""
    if not reveal:
        title, detail = mask_text(title), mask_text(detail)
    return f"{title}\n{detail}\n{initials(title)}".lower()


# -- the query -------------------------------------------------------------------------------
def matching(
    incidents: Iterable[Incident],
    f: Filter,
    scope: str,
    city: str,
    now: datetime,
    marks: Marks,
    search: SearchText,
    words: Terms | None = None,
) -> list[Incident]:
    """Every incident in ``scope`` that passes the filter (``words``: its search, read by
    ``terms.terms``; without them the search is one piece of text). Cheap tests run first."""
    # One pass per active test, most selective first: an empty filter costs one list copy,
    # and each later pass only sees what the earlier ones kept.
    midnight = _midnight(now)
    area = f.area if f.area and contains(scope, f.area) else scope
    found = list(incidents)
    if area != city:
        attr = AREA_FIELD.get(level_of(area) or "", "town")
        found = [i for i in found if getattr(i.area, attr) == area]
    if f.cat or f.platform:
        cats = {c for c in f.cat} if f.cat else set(CATEGORIES)
        if f.platform:
            cats = {c for c in cats if CATEGORIES[c].platform in f.platform}
        found = [i for i in found if i.category in cats]
    if f.source:
        sources = set(f.source)
        found = [i for i in found if i.source in sources]
    if f.status == OPEN:
        found = [i for i in found if not _is_closed(i)]
    elif f.status == CLOSED:
        found = [i for i in found if _is_closed(i)]
    if f.level:
        levels = set(f.level)
        found = [i for i in found if (i.latest.level if i.latest else 1) in levels]
    since = _since(f.period, now, midnight)
    if since is not None:
        found = [i for i in found if reported_at(i) >= since]
    if f.flag:
        found = [i for i in found if _flagged(i, f.flag, now, marks)]
    if f.set:
        test = SETS[f.set][1]
        found = [i for i in found if test(i, now, midnight)]
    if f.q:
        asked = words if words is not None else Terms(texts=(f.q.lower(),))
        for start in asked.ids:
            found = [i for i in found if i.id.lower().startswith(start)]
        texts, make = search.texts, search.of
        for needle in asked.texts:
            found = [i for i in found if needle in (texts.get(i.id) or make(i))]
        for word, codes in asked.places:
            found = [
                i
                for i in found
                if not codes.isdisjoint(_codes(i.area)) or word in (texts.get(i.id) or make(i))
            ]
    return found


def _codes(area: AreaRef) -> tuple[str | None, ...]:
    return (area.county, area.town, area.village, area.grid)


def _is_closed(i: Incident) -> bool:
    latest = i.latest
    return latest is not None and latest.type == "closed"


def _since(period: str, now: datetime, midnight: datetime) -> datetime | None:
    if period == "today":
        return midnight
    span = PERIODS.get(period)
    return now - span if span else None


def _flagged(i: Incident, flag: str, now: datetime, marks: Marks) -> bool:
    if flag == "overdue":
        return _overdue(i, now)
    if flag == "due_soon":
        return _due_soon(i, now)
    if flag == "supervised":
        return i.id in marks.supervised
    if flag == "acknowledged":
        return i.id in marks.acknowledged
    return i.status == OPEN and i.id not in marks.acknowledged  # unacknowledged


def sort(
    found: list[Incident], column: str, descending: bool, geo: Geography, limit: int | None = None
) -> list[Incident]:
    """Sorted by ``column``; with ``limit``, only the first ``limit`` (a heap, not a full sort:
    the table's first blocks are what is asked for almost always)."""
    keys: dict[str, Callable[[Incident], Any]] = {
        "left": _left,
        "reported": _REPORTED,
        "deadline": attrgetter("deadline"),
        "level": lambda i: i.level,
        "category": attrgetter("category"),
        "place": lambda i: i.area.grid or i.area.town,
        "status": lambda i: (i.status, i.deadline),
        "source": attrgetter("source"),
    }
    key = keys.get(column, _REPORTED)
    if column == "reported" and descending:
        return newest(found, limit if limit is not None else len(found))
    if limit is not None and limit < len(found) // 4:
        pick = heapq.nlargest if descending else heapq.nsmallest
        return pick(limit, found, key=key)  # the same order as sorted(...)[:limit]
    return sorted(found, key=key, reverse=descending)


def _left(i: Incident) -> tuple[int, float]:
    """Open ones by deadline (for all of them now is the same, so this is time left: the most
    overdue first), then closed ones by deadline, latest first. Closed ones take the order
    the archive can give (``ARCHIVE_ORDER``): its incidents are all closed, so they merge."""
    deadline = i.deadline.timestamp()
    return (1, -deadline) if i.status == CLOSED else (0, deadline)


# How the archive sorts its part of a sort (``dashboard.cold.store.ORDER``'s columns), with
# the direction flipped or not: "left" among closed incidents is the deadline, latest first.
ARCHIVE_ORDER = {"left": ("deadline", True)}


def archive_order(column: str, descending: bool) -> tuple[str, bool]:
    """The archive's column and direction for the table's ``column`` and ``descending``."""
    asked, flip = ARCHIVE_ORDER.get(column, (column, False))
    return asked, descending != flip


def newest(found: list[Incident], count: int = MAX_POINTS) -> list[Incident]:
    """The ``count`` most recently reported, newest first (the table's default order)."""
    # Incidents are held in arrival order, which is nearly report order: walked newest first,
    # the heap rarely changes and a full sort is nearly linear.
    if len(found) > count:
        return heapq.nlargest(count, reversed(found), key=_REPORTED)
    return sorted(reversed(found), key=_REPORTED, reverse=True)


def points(newest_first: list[Incident], now: datetime) -> list[list[Any]]:
    """[id, lat, lon, colour, overdue] of the first ``MAX_POINTS`` (newest) matches."""
    newest = newest_first[:MAX_POINTS]
    return [
        [
            i.id,
            round(i.lat, 5),
            round(i.lon, 5),
            CATEGORIES[i.category].colour,
            int(i.status == OPEN and rules.overdue(i.deadline, now)),
        ]
        for i in newest
    ]
