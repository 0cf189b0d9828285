"""What a new incident is: category, severity, source and how far up it will have to go.

The probabilities live here as tables so docs/simulator.md can quote them and tests can check
the produced shares against them.
"""

from __future__ import annotations

import random
from itertools import accumulate

from feeds.catalogue import CATEGORIES
from feeds.schema import Severity, Source

CATEGORY_CODES: tuple[str, ...] = tuple(CATEGORIES)
_CATEGORY_CUM = tuple(accumulate(c.weight for c in CATEGORIES.values()))

# Safety and fire reports are the ones that turn out serious; most of the rest are routine.
_SEVERITY_BY_GROUP = {
    "safety": (0.67, 0.25, 0.08),  # normal, major, urgent
    "sensitive": (0.89, 0.10, 0.01),
    "routine": (0.957, 0.04, 0.003),
}
_GROUP = {"zz03": "safety", "zz04": "safety"} | dict.fromkeys(
    ("zz02", "zz06", "sc01", "sc02", "sc05", "zf04", "zf05"), "sensitive"
)
SEVERITY_NAMES: tuple[Severity, ...] = ("normal", "major", "urgent")

# A new incident is a grid worker's find with this probability if a worker of its grid (or of
# one of a few other grids of its town) is on duty; otherwise (and when nobody is on duty, as
# mostly at night) it comes from the other sources in these proportions. With 10,000 workers
# and the shift pattern, ~70 % of all reports come from grid workers (docs/simulator.md).
GRID_WORKER_WANTED = 0.80
FINDER_TRIES = 3  # grids of the town tried for an on-duty worker
OTHER_SOURCE_WEIGHTS: dict[Source, float] = {
    "hotline_12345": 0.40, "app": 0.27, "wechat": 0.20, "inspection": 0.13
}
_OTHER_SOURCES = tuple(OTHER_SOURCE_WEIGHTS)
_OTHER_CUM = tuple(accumulate(OTHER_SOURCE_WEIGHTS.values()))

# Which problems a grid cannot settle alone: illegal buildings and petitions need law
# enforcement or higher offices, litter and street stalls almost never do.
_ESCALATION_BY_CATEGORY = {
    "zf01": 2.2, "zz06": 2.2, "sc02": 1.6, "zf04": 1.6, "zz03": 1.4, "zf05": 1.3, "sc05": 1.3,
    "zz07": 0.8, "zf03": 0.7, "zf02": 0.6, "bm02": 0.8,
}
_ESCALATION_BY_SEVERITY = {"normal": 1.0, "major": 1.9, "urgent": 3.0}
TARGET_SELF_CLOSURE = 0.80  # share of incidents the grid closes itself at level 1
# Once escalated to level n, the chance it has to go one level further.
CLIMB_FURTHER = {2: 0.40, 3: 0.25, 4: 0.15}


def category(rng: random.Random) -> str:
    return rng.choices(CATEGORY_CODES, cum_weights=_CATEGORY_CUM)[0]


def severity(rng: random.Random, category_code: str) -> Severity:
    shares = _SEVERITY_BY_GROUP[_GROUP.get(category_code, "routine")]
    return rng.choices(SEVERITY_NAMES, weights=shares)[0]


def wants_grid_worker(rng: random.Random) -> bool:
    return rng.random() < GRID_WORKER_WANTED


def other_source(rng: random.Random) -> Source:
    return rng.choices(_OTHER_SOURCES, cum_weights=_OTHER_CUM)[0]


def _raw_escalation(category_code: str, severity_name: str) -> float:
    return _ESCALATION_BY_CATEGORY.get(category_code, 1.0) * _ESCALATION_BY_SEVERITY[severity_name]


def _escalation_scale() -> float:
    """Calibrate the factors above so that, over the whole mix, 20 % leave the grid."""
    expected = 0.0
    for code, cat in CATEGORIES.items():
        shares = _SEVERITY_BY_GROUP[_GROUP.get(code, "routine")]
        for name, share in zip(SEVERITY_NAMES, shares, strict=True):
            expected += cat.weight * share * _raw_escalation(code, name)
    return (1 - TARGET_SELF_CLOSURE) / expected


_SCALE = _escalation_scale()


def top_level(rng: random.Random, category_code: str, severity_name: str) -> int:
    """The level that will finally handle the incident (1 = the grid itself)."""
    if rng.random() >= min(0.95, _SCALE * _raw_escalation(category_code, severity_name)):
        return 1
    level = 2
    while level < 5 and rng.random() < CLIMB_FURTHER[level]:
        level += 1
    return level
