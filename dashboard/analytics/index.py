"""The three-colour governance index: one explainable 0-100 score per area.

Each component is a rate from docs/metrics.md, taken from an area's figures and compared with
the city's. Three steps, each shown in the components so the wall can answer "why is it red":

1. *Adjust* for small numbers: ``(numerator + k × city rate) / (denominator + k)``, so a grid
   with two incidents today is not red because one of them is late (``k = prior``). An area
   with nothing to measure gets the city's rate.
2. *Normalise* against the city: 100 when the area does as well as the city or better, falling
   linearly to 0 when it is worse by ``tolerance`` (e.g. 10 points of on-time rate).
3. *Weight*: the score is the weighted mean of the normalised components.

The city itself is compared with the configured targets instead (the seed system's published
rates). Colours: green from ``green`` up, yellow from ``yellow``, red below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, TypedDict

from dashboard.analytics.percent import percent
from feeds.geo import Geography, contains

if TYPE_CHECKING:
    from dashboard.analytics.metrics import Figures, Metrics
    from dashboard.state import State

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Component:
    name: str  # the rate's key in the figures
    label: str  # for people
    numerator: str
    denominator: str
    better: Better
    tolerance: float  # how far worse than the reference scores 0
    weight: float
    target: float  # the city's own reference


_C = Component
# name, label, numerator, denominator, better, tolerance, weight, target (seed-system figures
# where published: 80.5 % self-closure in 2016, 99.52 % disposal in 2019; the others are
# service goals, adjust freely)
COMPONENTS: tuple[Component, ...] = (
    _C("on_time_rate", "按期办结率", "closed_on_time", "due", "higher", 0.10, 0.25, 0.99),
    _C("disposal_rate", "办结率", "due_closed", "due", "higher", 0.25, 0.20, 0.995),
    _C(
        "self_closure_rate", "网格自办结率", "closed_at_grid", "closed", "higher", 0.20, 0.15, 0.805
    ),
    _C("overdue_share", "超期占比", "overdue", "open", "lower", 0.05, 0.15, 0.005),
    _C(
        "reopen_rate",
        "重办率",
        "reported_reopened",
        "reported_ever_closed",
        "lower",
        0.05,
        0.10,
        0.01,
    ),
    _C("patrol_coverage", "巡查覆盖率", "grids_visited", "grids", "higher", 0.30, 0.15, 0.90),
)
COLOURS = ("green", "yellow", "red")


class ComponentScore(TypedDict):
    """One component of an area's index, with every step shown (docs/metrics.md)."""

    label: str
    value: float | None  # the area's own rate (None: nothing to measure)
    reference: float  # the city's rate, or the target for the city itself
    adjusted: float
    normalised: float
    weight: float
    better: Better
    lost: float  # points of score this one costs


class AreaIndex(TypedDict):
    """An area's index: its score, its colour and why."""

    score: float
    colour: str
    components: dict[str, ComponentScore]


@dataclass(frozen=True)
class IndexConfig:
    components: tuple[Component, ...] = COMPONENTS
    # pseudo-observations of the city's rate added to every area: 20 keeps the early hours of
    # a day (one late case of two) from flipping towns' colours; measured in docs/metrics.md
    prior: float = 20.0
    green: float = 85.0
    yellow: float = 70.0


def colour(score: float, config: IndexConfig) -> str:
    if score >= config.green:
        return "green"
    return "yellow" if score >= config.yellow else "red"


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
    city = metrics.figures(metrics.geo.city.code, now)
    result: dict[str, AreaIndex] = {}
    for code in areas_at(metrics.geo, level, parent):
        figures = city if code == metrics.geo.city.code else metrics.figures(code, now)
        result[code] = score(figures, None if figures is city else city, config)
    return result


def score(figures: Figures, city: Figures | None, config: IndexConfig) -> AreaIndex:
    """The index of one area from its figures and the city's (None: the city, vs targets)."""
    components: dict[str, ComponentScore] = {}
    total = weights = 0.0
    for c in config.components:
        part = _component(c, figures, city, config.prior)
        components[c.name] = part
        total += part["normalised"] * c.weight
        weights += c.weight
    value = round(total / weights, 1) if weights else 100.0
    return {"score": value, "colour": colour(value, config), "components": components}


def _component(
    c: Component, figures: Figures, city: Figures | None, prior: float
) -> ComponentScore:
    reference = c.target if city is None else _rate(city, c)
    if reference is None:
        reference = c.target
    num, den = figures.get(c.numerator) or 0, figures.get(c.denominator) or 0
    adjusted = (num + prior * reference) / (den + prior)
    gap = reference - adjusted if c.better == "higher" else adjusted - reference
    normalised = 100.0 if gap <= 0 else max(0.0, 100.0 * (1 - gap / c.tolerance))
    return {
        "label": c.label,
        "value": figures.get(c.name),
        "reference": round(reference, 4),
        "adjusted": round(adjusted, 4),
        "normalised": round(normalised, 1),
        "weight": c.weight,
        "better": c.better,
        "lost": round((100.0 - normalised) * c.weight, 1),  # points of score this one costs
    }


def _rate(figures: Figures, c: Component) -> float | None:
    den = figures.get(c.denominator) or 0
    return (figures.get(c.numerator) or 0) / den if den else None


def explain(entry: AreaIndex, limit: int = 3) -> list[str]:
    """The components that cost the most points, in Chinese, worst first."""
    parts = sorted(entry["components"].values(), key=lambda p: -p["lost"])
    lines = []
    for part in parts[:limit]:
        if part["lost"] <= 0:
            break
        value = "无数据" if part["value"] is None else f"{percent(part['value'])}%"
        reference = f"{percent(part['reference'])}%"
        lines.append(f"{part['label']} {value}（参照 {reference}）扣 {part['lost']:.1f} 分")
    return lines
