"""Map data for one jurisdiction: the shapes of its children, their labels and its bounds.

A wall drills and tours by fetching these (cached, a few kB to a few hundred kB) instead of
reloading the page, so the live connection and the page's state survive a change of area.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from feeds.geo import Geography

CHILD_LEVEL = {"city": "county", "county": "town", "town": "grid"}


def focus_of(geo: Geography, code: str | None) -> tuple[str, str | None]:
    """The area a map shows for a requested code, and the grid to highlight if it was a grid.

    A village or a grid is shown inside its town: a wall's finest view is a town's grids.
    """
    area = geo.area(code) if code else None
    if area is None:
        return geo.city.code, None
    if area.level in ("village", "grid"):
        town = geo.town_of(area.code)
        assert town is not None
        return town, area.code if area.level == "grid" else None
    return area.code, None


def area_map(geo: Geography, code: str) -> dict[str, Any]:
    return _area_map(geo, code)


@lru_cache(maxsize=256)
def _area_map(geo: Geography, code: str) -> dict[str, Any]:
    area = geo.area(code)
    if area is None or area.level not in CHILD_LEVEL:
        raise KeyError(code)
    shapes = geo.geojson(CHILD_LEVEL[area.level], parent=code)
    return {
        "code": area.code,
        "name": area.name,
        "level": area.level,
        "childLevel": CHILD_LEVEL[area.level],
        "path": [{"code": a.code, "name": a.name} for a in [*geo.ancestors(code), area]],
        "shapes": shapes,
        "labels": [
            {"code": child.code, "text": child.short, "lat": child.lat, "lon": child.lon}
            for child in geo.children(code)
            if child.level == CHILD_LEVEL[area.level] or area.level == "town"
        ],
        "bounds": bounds_of(shapes),
        "tour": [c.code for c in geo.children(code)] if area.level == "city" else [],
    }


def bounds_of(shapes: dict[str, Any]) -> list[list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for feature in shapes["features"]:
        for lon, lat in _coordinates(feature["geometry"]["coordinates"]):
            xs.append(lon)
            ys.append(lat)
    return [[min(ys), min(xs)], [max(ys), max(xs)]]


def _coordinates(nested: list[Any]) -> list[tuple[float, float]]:
    if nested and isinstance(nested[0], int | float):
        return [(nested[0], nested[1])]
    return [pair for part in nested for pair in _coordinates(part)]
