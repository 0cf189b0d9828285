"""The three-colour governance index: one explainable 0-100 score per area.

Each component is a failure rate (cases overdue, closed late, passed up, reopened, grids not
patrolled) set against the seed system's standard for it (docs/metrics.md, "The governance
index"), on a scale that does not saturate:

1. *Adjust* for small numbers: ``(failures + k × reference) / (cases + k)``, ``k = prior``, where
   the reference is the city's rate (itself adjusted towards the standard the same way): a grid
   with two incidents today is not red because one of them is late, and an area with nothing
   to measure gets the city's rate.
2. *Points*: ``100 − 10 × log2(1 + adjusted / standard)``: 100 only with no failure at all, 90
   exactly at the standard, 80 at three times it, 70 at seven times. An area better than the
   standard still scores above one that just meets it, so areas stay apart on a good day.
3. *Weight*: the score is the weighted mean of the points. Colours: green from ``green`` up,
   yellow from ``yellow``, red below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, TypedDict

from dashboard.analytics.percent import percent
from feeds.geo import Geography, contains

if TYPE_CHECKING:
    from dashboard.analytics.metrics import Figures, Metrics
    from dashboard.state import State

Better = Literal["higher", "lower"]
AT_STANDARD = 90.0  # the points of a component exactly at its standard
STEP = 10.0  # points per doubling of (1 + failures / standard)


@dataclass(frozen=True)
class Component:
    name: str
    label: str  # for people
    numerator: str  # keys of the index's inputs (``inputs``): figures, and a day's worth
    denominator: str
    better: Better
    target: float  # the standard, as the rate itself (99 % on time, 5 ‰ overdue)
    weight: float
    unit: str = "%"  # how the rate is written: "%" or "‰"

    def failures(self, numerator: float, denominator: float) -> float:
        return denominator - numerator if self.better == "higher" else numerator

    @property
    def standard(self) -> float:
        """The standard as a failure rate (1 % closed late, 19.5 % passed up)."""
        return 1 - self.target if self.better == "higher" else self.target


_C = Component
# The standards: the seed system's published figures (99.52 % of incidents handled in 2019,
# 80.5 % closed by the grid in 2016); the others are service goals, adjust freely. Why these
# components and weights: docs/metrics.md.
COMPONENTS: tuple[Component, ...] = (
    _C("overdue_backlog", "超期积压", "overdue", "day_reports", "lower", 0.005, 0.45, "‰"),
    _C("closed_on_time", "办结按期率", "closed_on_time", "due_closed", "higher", 0.99, 0.15),
    _C("self_closure_rate", "网格自办结率", "closed_at_grid", "closed", "higher", 0.805, 0.15),
    _C("reopen_rate", "重办率", "reported_reopened", "reported_ever_closed", "lower", 0.01, 0.10),
    _C("patrol_coverage", "巡查覆盖率", "day_grids_visited", "grids", "higher", 0.90, 0.15),
)
COLOURS = ("green", "yellow", "red")


class ComponentScore(TypedDict):
    """One component of an area's index, with every step shown (docs/metrics.md)."""

    label: str
    value: float | None  # the area's own rate (None: nothing to measure)
    reference: float  # the standard
    adjusted: float  # the rate after step 1
    normalised: float  # its points, 0-100
    weight: float
    better: Better
    unit: str
    lost: float  # points of score it costs below the standard (0 when at or above it)


class AreaIndex(TypedDict):
    """An area's index: its score, its colour and why."""

    score: float
    colour: str
    components: dict[str, ComponentScore]


@dataclass(frozen=True)
class IndexConfig:
    components: tuple[Component, ...] = COMPONENTS
    # pseudo-cases of the reference added to every area: 20 keeps one late case of a grid's
    # two from making it red, and the early hours of a day from flipping towns' colours
    prior: float = 20.0
    # 90 is every component at its standard. Green: at most about twice the standard's
    # failures on (weighted) average; red: more than about five times. docs/metrics.md
    green: float = 85.0
    yellow: float = 75.0


def colour(score: float, config: IndexConfig) -> str:
    if score >= config.green:
        return "green"
    return "yellow" if score >= config.yellow else "red"


def points(failure: float, standard: float) -> float:
    """A failure rate's points: 100 at none, 90 at the standard, 10 fewer per doubling of
    ``1 + failure / standard``, never below 0."""
    return max(0.0, 100.0 - STEP * math.log2(1.0 + failure / standard))


def areas_at(geo: Geography, level: str, parent: str | None) -> list[str]:
    """Codes of ``level`` (city, county, town, village, grid) under ``parent`` (any ancestor)."""
    if level == "city":
        return [geo.city.code]
    table = {"county": geo.counties, "town": geo.towns, "village": geo.villages, "grid": geo.grids}[
        level
    ]
    if parent is None or parent == geo.city.code:
        return list(table)
    return [code for code in table if code != parent and contains(parent, code)]


def index_for(
    state: State,
    level: str,
    parent: str | None,
    now: datetime,
    config: IndexConfig | None = None,
) -> dict[str, AreaIndex]:
    """{area: {"score", "colour", "components"}} for the areas of ``level`` under ``parent``."""
    return index_of(state.metrics, level, parent, now, config)


def index_of(
    metrics: Metrics,
    level: str,
    parent: str | None,
    now: datetime,
    config: IndexConfig | None = None,
) -> dict[str, AreaIndex]:
    config = config or metrics.config.index
    city_code = metrics.geo.city.code
    city = inputs(metrics, city_code, now)
    standards = {c.name: c.standard for c in config.components}
    reference = {
        c.name: _adjusted(c, city, standards[c.name], config.prior) for c in config.components
    }
    result: dict[str, AreaIndex] = {}
    for code in areas_at(metrics.geo, level, parent):
        if code == city_code:
            result[code] = score(city, standards, config)
        else:
            result[code] = score(inputs(metrics, code, now), reference, config)
    return result


def inputs(metrics: Metrics, area: str, now: datetime) -> Figures:
    """The area's figures and a day's worth of two of them: the larger of today's and
    yesterday's reports (``day_reports``) and grids patrolled (``day_grids_visited``), so
    neither sags in the small hours, nor on a weekend's few deadlines."""
    figures = dict(metrics.figures(area, now))
    before = metrics.day_before(area, now)
    figures["day_reports"] = max(figures["reported"] or 0, before["reported"] or 0)
    figures["day_grids_visited"] = max(figures["grids_visited"] or 0, before["grids_visited"] or 0)
    return figures


def score(figures: Figures, reference: dict[str, float], config: IndexConfig) -> AreaIndex:
    """The index of one area from its inputs and the failure rates its own lean on (the
    city's, adjusted; for the city itself, the standards)."""
    components: dict[str, ComponentScore] = {}
    weights = sum(c.weight for c in config.components)
    total = 0.0
    for c in config.components:
        part = _component(c, figures, reference[c.name], config.prior, weights)
        components[c.name] = part
        total += part["normalised"] * c.weight
    value = round(total / weights, 1) if weights else 100.0
    return {"score": value, "colour": colour(value, config), "components": components}


def _adjusted(c: Component, figures: Figures, reference: float, prior: float) -> float:
    """The failure rate of ``c`` leaning on ``reference`` by ``prior`` pseudo-cases."""
    num, den = figures.get(c.numerator) or 0, figures.get(c.denominator) or 0
    return (c.failures(num, den) + prior * reference) / (den + prior)


def _component(
    c: Component, figures: Figures, reference: float, prior: float, weights: float
) -> ComponentScore:
    num, den = figures.get(c.numerator) or 0, figures.get(c.denominator) or 0
    failure = _adjusted(c, figures, reference, prior)
    normalised = points(failure, c.standard)
    return {
        "label": c.label,
        "value": num / den if den else None,
        "reference": c.target,
        "adjusted": round(1 - failure if c.better == "higher" else failure, 6),
        "normalised": round(normalised, 1),
        "weight": c.weight,
        "better": c.better,
        "unit": c.unit,
        "lost": round(max(0.0, AT_STANDARD - normalised) * c.weight / weights, 1),
    }


def _rate(value: float, unit: str) -> str:
    return f"{value * 1000:.1f}‰" if unit == "‰" else f"{percent(value)}%"


def explain(entry: AreaIndex, limit: int = 3) -> list[str]:
    """The components below their standard that cost the most points, in Chinese, worst
    first: ``超期积压 12.5‰（参照 5.0‰）扣 3.1 分``."""
    parts = sorted(entry["components"].values(), key=lambda p: -p["lost"])
    lines = []
    for part in parts[:limit]:
        if part["lost"] <= 0:
            break
        unit = part.get("unit", "%")
        value = "无数据" if part["value"] is None else _rate(part["value"], unit)
        reference = _rate(part["reference"], unit)
        lines.append(f"{part['label']} {value}（参照 {reference}）扣 {part['lost']:.1f} 分")
    return lines
