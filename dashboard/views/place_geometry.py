"""Places of the city's own layers as geometry: parsed from GeoJSON, and how far they are.

A place is a point, a line or an area (GeoJSON Point, LineString, Polygon and their Multi*
forms), kept in WGS84 degrees with its bounding box. Its distance from an incident is measured
in an equirectangular projection about the incident, in metres at the WGS84 ellipsoid's scale
at the incident's latitude (``scales``): across the few hundred metres a detail asks about it is
exact to well under a metre. A point's
distance is to the point, a line's to its nearest segment, an area's 0 inside it (holes are
outside) and otherwise to its nearest edge. Pure: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

KINDS = {
    "Point": "point",
    "MultiPoint": "point",
    "LineString": "line",
    "MultiLineString": "line",
    "Polygon": "area",
    "MultiPolygon": "area",
}

Position = tuple[float, float]  # lon, lat
Ring = list[Position]


class BadGeometry(ValueError):
    """A geometry this module cannot use; its message says why, for the log."""


def scales(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at a latitude (WGS84 ellipsoid; the usual
    series, good to centimetres per degree)."""
    phi = math.radians(lat)
    north = 111_132.954 - 559.822 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
    east = 111_412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi) + 0.118 * math.cos(5 * phi)
    return east, north


@dataclass(frozen=True)
class Shape:
    kind: str  # point, line or area
    points: list[Position]  # point
    lines: list[Ring]  # line: each a path of at least 2 positions
    areas: list[list[Ring]]  # area: each an exterior ring, then its holes (closed rings)
    bbox: tuple[float, float, float, float]  # west, south, east, north

    def near_box(self, lon: float, lat: float, dlon: float, dlat: float) -> bool:
        west, south, east, north = self.bbox
        return west - dlon <= lon <= east + dlon and south - dlat <= lat <= north + dlat

    def metres(self, lon: float, lat: float) -> tuple[float, bool]:
        """(distance in metres, inside) from a WGS84 position."""
        metres, inside, _ = self.nearest(lon, lat)
        return metres, inside

    def nearest(self, lon: float, lat: float) -> tuple[float, bool, Position]:
        """(distance in metres, inside, the shape's nearest WGS84 position) from a position;
        inside an area, the position itself."""
        kx, ky = scales(lat)

        def xy(p: Position) -> Position:
            return (p[0] - lon) * kx, (p[1] - lat) * ky

        if self.kind == "point":
            found = min((xy(p) for p in self.points), key=lambda q: math.hypot(*q))
        elif self.kind == "line":
            paths = ([xy(p) for p in line] for line in self.lines)
            found = min(map(_path_nearest, paths), key=lambda q: math.hypot(*q))
        else:
            candidates = []
            for polygon in self.areas:
                rings = [[xy(p) for p in ring] for ring in polygon]
                if _inside(rings[0]) and not any(_inside(hole) for hole in rings[1:]):
                    return 0.0, True, (lon, lat)
                candidates += [_path_nearest(ring) for ring in rings]
            found = min(candidates, key=lambda q: math.hypot(*q))
        return math.hypot(*found), False, (lon + found[0] / kx, lat + found[1] / ky)


def shape_of(geometry: Any) -> Shape:
    """A GeoJSON geometry (a dict) as a Shape, or BadGeometry saying what is wrong with it."""
    if not isinstance(geometry, dict):
        raise BadGeometry("no geometry")
    name = str(geometry.get("type"))
    kind = KINDS.get(name)
    if kind is None:
        raise BadGeometry(f"geometry type {name[:30]!r} is not supported")
    coordinates = geometry.get("coordinates")
    multi = name.startswith("Multi")
    parts = coordinates if multi else [coordinates]
    if not isinstance(parts, list) or not parts:
        raise BadGeometry("no coordinates")
    points: list[Position] = []
    lines: list[Ring] = []
    areas: list[list[Ring]] = []
    if kind == "point":
        points = [_position(p) for p in parts]
    elif kind == "line":
        lines = [_path(p, 2) for p in parts]
    else:
        areas = [_polygon(p) for p in parts]
    every = points + [p for line in lines for p in line] + [p for a in areas for p in a[0]]
    lons, lats = [p[0] for p in every], [p[1] for p in every]
    return Shape(kind, points, lines, areas, (min(lons), min(lats), max(lons), max(lats)))


def _position(value: Any) -> Position:
    if not isinstance(value, list) or len(value) < 2:
        raise BadGeometry("a position is not [lon, lat]")
    lon, lat = value[0], value[1]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lon, lat)):
        raise BadGeometry("a coordinate is not a number")
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise BadGeometry(f"position {lon}, {lat} is not a WGS84 longitude, latitude")
    return float(lon), float(lat)


def _path(value: Any, least: int) -> Ring:
    if not isinstance(value, list) or len(value) < least:
        raise BadGeometry(f"a line or ring has fewer than {least} positions")
    return [_position(p) for p in value]


def _polygon(value: Any) -> list[Ring]:
    if not isinstance(value, list) or not value:
        raise BadGeometry("a polygon has no rings")
    rings = [_path(ring, 4) for ring in value]
    if any(ring[0] != ring[-1] for ring in rings):
        raise BadGeometry("a polygon ring is not closed (first position != last)")
    return rings


def _path_nearest(path: list[Position]) -> Position:
    """The point of a path of projected positions nearest the origin (one position: it)."""
    if len(path) == 1:
        return path[0]
    nearest = (_segment(a, b) for a, b in zip(path, path[1:], strict=False))
    return min(nearest, key=lambda q: math.hypot(*q))


def _segment(a: Position, b: Position) -> Position:
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
    return ax + t * dx, ay + t * dy


def _inside(ring: list[Position]) -> bool:
    """Whether the origin is inside a closed ring (even-odd ray casting)."""
    inside = False
    for (ax, ay), (bx, by) in zip(ring, ring[1:], strict=False):
        if (ay > 0) != (by > 0) and 0 < ax + (0 - ay) * (bx - ax) / (by - ay):
            inside = not inside
    return inside
