"""The figures of one day's briefing for one area, from the sources the live views read.

Under the live state's lock only what the screens themselves read is taken, by the same
functions: the KPIs (``views.kpis.headline`` for today; for a past day the same counters the
wall's "same time yesterday" reads, at that day's 24:00, ``Metrics.day_end``), the index and
its reasons (``views.ranking.governance``, ``analytics.index_for``, ``explain``) and a list
copy of the incidents. Grouping them (categories, hours, the overdue list) and the trends
(``views.trends.Trends``, the tablet's) run after the lock is released.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from dashboard.access.privacy import mask_text
from dashboard.analytics import Figures, explain, index_for
from dashboard.analytics.epoch import day_date, day_of, day_start
from dashboard.briefing.store import Store
from dashboard.live.livestate import LiveState
from dashboard.state import Incident
from dashboard.views.kpis import headline, yesterday
from dashboard.views.panels import hourly, in_scope
from dashboard.views.ranking import CHILD_LEVEL, governance
from dashboard.views.search import SETS, reported_at
from dashboard.views.trends import Trends
from feeds.catalogue import CATEGORIES
from feeds.geo.codes import level_of
from feeds.schema import CHINA_TZ

# (key, label, kind): the briefing's KPI table, in the order of the wall's tiles
KPIS = (
    ("reported", "上报事件", "count"),
    ("closed", "办结事件", "count"),
    ("open", "在办事件", "count"),
    ("overdue", "超期事件", "count"),
    ("due", "应办结", "count"),
    ("disposal_rate", "处置率", "rate"),
    ("on_time_rate", "按期办结率", "rate"),
    ("self_closure_rate", "网格自办结率", "rate"),
    ("patrol_workers", "巡查人员", "count"),
    ("patrol_visits", "巡查人次", "count"),
)
TREND_DAYS = 8  # the day and the seven before it
MEAN_DAYS = 7
OVERDUE_ROWS = 200  # kept in the figures (the sheet); the PDF shows fewer
_OVERDUE = SETS["overdue"][1]


class NotHeld(ValueError):
    """A day whose counters the live state no longer keeps (or has not reached)."""


@dataclass
class AreaLine:
    code: str
    name: str
    figures: Figures
    score: float | None = None
    colour: str | None = None
    score_before: float | None = None
    why: list[str] = field(default_factory=list)


@dataclass
class Briefing:
    day: date
    area: str
    name: str
    moment: datetime  # what the figures are as of: the day's 24:00, or now for today
    generated: datetime
    today: bool
    kpis: Figures
    previous: Figures  # the day before (at its end), or the same time yesterday (today)
    previous_label: str
    means: dict[str, float | None]
    mean_days: dict[str, int]
    series: list[dict[str, Any]]  # the tablet's trends rows, ``TREND_DAYS`` of them
    hours: list[int]  # reports per hour of the day
    categories: list[tuple[str, str, int]]  # (code, name, reports), most first
    own: AreaLine  # the area's index
    areas: list[AreaLine]  # its counties or towns
    overdue: list[dict[str, Any]]  # open past their deadline at ``generated``, longest first
    overdue_total: int
    history: dict[str, Any] | None  # where a trimmed log begins (the screens' note)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("day", "moment", "generated"):
            data[key] = data[key].isoformat()
        return data


def held_days(live: LiveState, now: datetime) -> range:
    """The local days a briefing can be made for: those the live counters keep."""
    today = day_of(now)
    keep = live.state.metrics.config.keep_days
    return range(today - keep + 1, today + 1)


def gather(
    live: LiveState, trends: Trends, store: Store, area: str, day: date, now: datetime
) -> Briefing:
    number = (day - date(1970, 1, 1)).days
    if number not in held_days(live, now):
        raise NotHeld(f"{day} is not held: only {_days_text(held_days(live, now))}")
    geo = live.geo
    place = geo.area(area)
    if place is None or place.level not in ("city", "county"):
        raise ValueError(f"not the city or a county: {area}")
    today = number == day_of(now)
    children = [a.code for a in geo.children(area)] if place.level in CHILD_LEVEL else []
    with live.read() as state:  # what the screens read, by their functions; nothing else
        if today:
            moment, label = now, "昨日同时"
            kpis, previous = headline(state, area, now), yesterday(state, area, now)
            parts = {c: headline(state, c, now) for c in children}
        else:
            moment, label = day_start(number + 1), "前一日"
            kpis, previous = state.metrics.day_end(area, number), {}
            parts = {c: state.metrics.day_end(c, number) for c in children}
        index = governance(state, area, now)
        own_index = _own_index(state, area, now)
        incidents = list(state.incidents.values())
        history = state.history()
    before = store.figures(day - timedelta(days=1), area)
    series = trends.series(
        area, TREND_DAYS, now if today else day_start(number) + timedelta(hours=12)
    )
    if not today:
        previous = _previous(before, series)
    for key in ("reported", "closed"):  # the day's own point is its KPIs, as the tablet draws it
        if kpis.get(key) is not None:
            series[-1][key] = kpis[key]
    means, mean_days = _means(store, area, day, series)
    mine = [i for i in incidents if in_scope(i, area, geo.city.code)]
    start = day_start(number)
    of_day = [i for i in mine if start <= reported_at(i) < start + timedelta(days=1)]
    kept_index = {a["code"]: a.get("score") for a in (before or {}).get("areas", [])}
    overdue = sorted((i for i in mine if _OVERDUE(i, now, now)), key=lambda i: i.deadline)
    return Briefing(
        day=day,
        area=area,
        name=place.name,
        moment=moment.astimezone(CHINA_TZ),
        generated=now.astimezone(CHINA_TZ),
        today=today,
        kpis=kpis,
        previous=previous,
        previous_label=label,
        means=means,
        mean_days=mean_days,
        series=series,
        hours=hourly(of_day, start, 24, {i.id: reported_at(i) for i in of_day}),
        categories=_categories(of_day),
        own=AreaLine(
            area,
            place.name,
            {},
            own_index["score"],
            own_index["colour"],
            ((before or {}).get("own") or {}).get("score"),
            explain(own_index),
        ),
        areas=[
            AreaLine(
                code,
                index.get(code, {}).get("name") or _name(live, code),
                parts[code],
                index.get(code, {}).get("score"),
                index.get(code, {}).get("colour"),
                kept_index.get(code),
                list(index.get(code, {}).get("why", [])),
            )
            for code in children
        ],
        overdue=[_overdue_row(live, i, now) for i in overdue[:OVERDUE_ROWS]],
        overdue_total=len(overdue),
        history=dict(history) if history else None,
    )


def _own_index(state: Any, area: str, now: datetime) -> Any:
    level = level_of(area) or "city"
    parent = None if level == "city" else state.geo.city.code
    return index_for(state, level, parent, now)[area]


def _previous(before: dict[str, Any] | None, series: list[dict[str, Any]]) -> Figures:
    """The day before at its end: its kept briefing; without one, its reports and closures
    from the trends (the tablet's counts of that day)."""
    if before is not None and isinstance(before.get("kpis"), dict):
        return dict(before["kpis"])
    row = series[-2] if len(series) >= 2 else {}
    return {k: row.get(k) for k in ("reported", "closed") if row.get(k) is not None}


def _means(
    store: Store, area: str, day: date, series: list[dict[str, Any]]
) -> tuple[dict[str, float | None], dict[str, int]]:
    """The mean of each KPI over the seven days before: reports and closures from the trends
    (archive and log), the rest from the briefings kept for those days."""
    values: dict[str, list[float]] = {key: [] for key, _label, _kind in KPIS}
    for back in range(1, MEAN_DAYS + 1):
        kept = store.figures(day - timedelta(days=back), area) or {}
        for key, value in (kept.get("kpis") or {}).items():
            if key in values and key not in ("reported", "closed") and value is not None:
                values[key].append(float(value))
    for row in series[:-1][-MEAN_DAYS:]:
        for key in ("reported", "closed"):
            if row.get(key) is not None:
                values[key].append(float(row[key]))
    means = {k: (sum(v) / len(v) if v else None) for k, v in values.items()}
    return means, {k: len(v) for k, v in values.items()}


def _categories(incidents: list[Incident]) -> list[tuple[str, str, int]]:
    counts = Counter(i.category for i in incidents)
    named = [(code, _category_name(code), n) for code, n in counts.items()]
    return sorted(named, key=lambda c: (-c[2], c[0]))


def _category_name(code: str) -> str:
    category = CATEGORIES.get(code)
    return category.name if category is not None else code


def _overdue_row(live: LiveState, incident: Incident, now: datetime) -> dict[str, Any]:
    """What a briefing says of an overdue incident: masked (a briefing is passed on)."""
    geo = live.geo
    town = geo.area(incident.area.town)
    county = geo.area(incident.area.county)
    return {
        "id": incident.id,
        "category": _category_name(incident.category),
        "county": county.short if county is not None else incident.area.county,
        "town": town.name if town is not None else incident.area.town,
        "title": mask_text(incident.title),
        "level": incident.level,
        "reported": reported_at(incident).astimezone(CHINA_TZ).isoformat(),
        "deadline": incident.deadline.astimezone(CHINA_TZ).isoformat(),
        "late_h": round((now - incident.deadline).total_seconds() / 3600, 1),
    }


def _name(live: LiveState, code: str) -> str:
    area = live.geo.area(code)
    return area.name if area is not None else code


def _days_text(days: range) -> str:
    return "、".join(day_date(d).isoformat() for d in days)
