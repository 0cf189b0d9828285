"""The governance index of the areas on a wall's map, and their ranking (docs/metrics.md).

``governance`` is what the map colours and the tablet lists: each area's score, colour, the
reasons it lost points and a name unique among them. ``ranking`` is the ranking panel: every
area when there are few, else the best and the weakest, so the weakest is never left out.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from dashboard.analytics import explain, index_for
from dashboard.state import State
from feeds.geo import Geography

CHILD_LEVEL = {"city": "county", "county": "town", "town": "grid"}
RANK_ROWS = 10  # rows of the wall's ranking panel
RANK_BEST = 3  # the best shown however many areas are weak


def governance(state: State, scope: str, now: datetime) -> dict[str, dict[str, Any]]:
    """Name, score, colour and the main reasons for each area drawn on the map of ``scope``."""
    area = state.geo.area(scope)
    if area is None or area.level not in CHILD_LEVEL:
        return {}
    scores = index_for(state, CHILD_LEVEL[area.level], scope, now)
    names = area_names(state.geo, list(scores))
    return {
        code: {
            "name": names[code],
            "score": entry["score"],
            "colour": entry["colour"],
            "why": explain(entry, 2),
        }
        for code, entry in scores.items()
    }


def ranking(
    state: State, index: dict[str, dict[str, Any]], rows: int = RANK_ROWS
) -> list[dict[str, Any]]:
    """The areas of ``index`` by score, best first, each with its ``rank`` among all of them.

    When there are more than ``rows``, the best and the weakest: the bottom half of the rows,
    or every area that is not green if there are more (leaving ``RANK_BEST`` for the best).
    The weakest area is always in it: it is what a leader has to see."""
    ordered = sorted(index.items(), key=lambda item: (-item[1]["score"], item[0]))
    names = {code: entry.get("name") for code, entry in ordered}
    if not all(names.values()):
        names = dict(area_names(state.geo, list(names)))
    table = [
        {
            "code": code,
            "name": names[code],
            "score": entry["score"],
            "colour": entry["colour"],
            "rank": rank,
        }
        for rank, (code, entry) in enumerate(ordered, start=1)
    ]
    if len(table) <= rows:
        return table
    weak = sum(row["colour"] != "green" for row in table)
    bottom = min(rows - RANK_BEST, max(rows // 2, weak))
    return table[: rows - bottom] + table[-bottom:]


def area_names(geo: Geography, codes: list[str]) -> dict[str, str]:
    """Short names, unique among ``codes``: a grid's with its village ("杖锡村 网格001", not
    five "网格001" in one town); where two still read the same (a town with two villages of
    one short name), the full names, then the code."""
    names = {code: _name(geo, code, full=False) for code in codes}
    for code in _repeated(names):
        names[code] = _name(geo, code, full=True)
    for code in _repeated(names):
        names[code] = f"{names[code]}（{code}）"
    return names


def _repeated(names: dict[str, str]) -> list[str]:
    seen = Counter(names.values())
    return [code for code, name in names.items() if seen[name] > 1]


def _name(geo: Geography, code: str, full: bool) -> str:
    area = geo.area(code)
    if area is None:
        return code
    village = geo.villages.get(area.parent or "") if area.level == "grid" else None
    if village is not None:
        return f"{village.name if full else village.short} {area.short}"
    return area.name if full else area.short
