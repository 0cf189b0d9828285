"""OneMap geography: Ningbo city -> 10 counties -> towns -> villages -> grids.

    from feeds.geo import load_geography
    geo = load_geography()
    geo.label("330213001201003")          # '奉化 岳林街道 xx村 网格003'
    geo.in_county("330212", 121.55, 29.82)

County outlines, names and codes are real; town, village and grid polygons are an
approximate synthetic partition (see docs/geography.md). Coordinates are WGS84.
Shapely geometries are built lazily, so loading stays well under a second.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import os
import random
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.polygon import orient

from feeds.geo.codes import CITY_CODE, SCOPE_LEVELS, chain, contains, prefix, scopes_of
from feeds.geo.points import GRIDS_FILE, derive_points, made_points

__all__ = [
    "Area", "Geography", "load_geography", "CITY_CODE", "LEVELS", "chain", "contains",
    "scopes_of",
]

LEVELS = ("city", "county", "town", "village", "grid")
DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "data"
# Distances are measured in a local plane: x = lon * KX, y = lat, in degrees of latitude.
# Across Ningbo (28.8-30.6 N) this is within ~1% of true metres.
LAT0 = 29.7
KX = math.cos(math.radians(LAT0))
M_PER_DEG = 111_320.0

_PLURAL = {"cities": "city", "counties": "county", "towns": "town", "villages": "village",
           "grids": "grid"}
# A prepared plane-coordinate geometry and its bounds, for fast point tests.
_Zone = tuple[shapely.Geometry, tuple[float, ...]]
# A GeoJSON object as json reads it: the format, not the type checker, fixes its shape.
JSON = dict[str, Any]
_LEVEL_FILES = {"city": "city.geojson", "county": "counties.geojson", "town": "towns.geojson",
                "grid": GRIDS_FILE}


@dataclass(frozen=True, slots=True)
class Area:
    code: str  # "330200" city, 6-digit county, 9-digit town, 12-digit village, 15-digit grid
    name: str  # full Chinese name
    short: str  # short label
    level: str  # "city" | "county" | "town" | "village" | "grid"
    parent: str | None
    lon: float  # representative point inside the area (WGS84)
    lat: float
    population: int  # residents (census 2020 for counties; modelled below that)


def _read_features(path: Path) -> list[JSON]:
    with path.open(encoding="utf-8") as fh:
        features: list[JSON] = json.load(fh)["features"]
    return features


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    polys = [orient(p, sign=1.0) for p in shapely.get_parts(geom) if isinstance(p, Polygon)]
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def _split_evenly(total: int, n: int) -> list[int]:
    base, extra = divmod(total, n)
    return [base + (1 if i < extra else 0) for i in range(n)]


class Geography:
    """All areas of the city, indexed by code. Build with load_geography()."""

    city: Area
    counties: dict[str, Area]
    towns: dict[str, Area]
    villages: dict[str, Area]
    grids: dict[str, Area]
    bounds: tuple[float, float, float, float]

    def __init__(self, data_dir: str | os.PathLike[str],
                 towns_geojson: str | os.PathLike[str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self._source = (str(data_dir), str(towns_geojson) if towns_geojson else None)
        self._features = {lvl: _read_features(self.data_dir / f) for lvl, f in _LEVEL_FILES.items()}
        if towns_geojson:
            self._override_towns(Path(towns_geojson))
        self._by_code: dict[str, JSON] = {
            f["properties"]["code"]: f for feats in self._features.values() for f in feats
        }
        self._shapes: dict[str, shapely.Geometry] = {}
        with (self.data_dir / "populations.json").open(encoding="utf-8") as fh:
            pops = json.load(fh)
        self._build_areas(pops)
        self._kids: dict[str, list[Area]] = {}
        for a in self._all.values():
            if a.parent is not None:
                self._kids.setdefault(a.parent, []).append(a)
        for kids in self._kids.values():
            kids.sort(key=lambda a: a.code)
        self.bounds = self._city_bounds()
        self._zones: dict[tuple[str, float], _Zone] = {}
        self._tris: dict[str, tuple[list[tuple[float, ...]], list[float]]] = {}

    # ------------------------------------------------------------------ loading

    def _override_towns(self, path: Path) -> None:
        """Operator-supplied town polygons replace the approximate ones (grids stay ours)."""
        own = {f["properties"]["code"]: f for f in self._features["town"]}
        for feat in _read_features(path):
            code = str((feat.get("properties") or {}).get("code", ""))
            if code not in own:
                warnings.warn(f"{path}: town {code!r} is not a Ningbo town code; ignored",
                              stacklevel=3)
                continue
            geom = _polygonal(shape(feat["geometry"]))
            point = geom.representative_point()
            props = {**own[code]["properties"], "lon": round(point.x, 5), "lat": round(point.y, 5)}
            own[code].clear()
            own[code].update({"type": "Feature", "properties": props, "geometry": mapping(geom)})

    def _build_areas(self, pops: dict[str, dict[str, int]]) -> None:
        def area(props: Mapping[str, Any], level: str, population: int) -> Area:
            return Area(props["code"], props["name"], props["short"], level, props["parent"],
                        float(props["lon"]), float(props["lat"]), int(population))

        city_props = self._features["city"][0]["properties"]
        self.city = area(city_props, "city", pops["city"][CITY_CODE])
        self.counties = {f["properties"]["code"]: area(f["properties"], "county",
                                                      pops["counties"][f["properties"]["code"]])
                         for f in self._features["county"]}
        self.towns = {f["properties"]["code"]: area(f["properties"], "town",
                                                   pops["towns"][f["properties"]["code"]])
                      for f in self._features["town"]}
        self.villages = {}
        with (self.data_dir / "villages.csv").open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                row["parent"] = row["town"]
                self.villages[row["code"]] = area(row, "village", pops["villages"][row["code"]])
        self._grid_points()
        per_village: dict[str, list[JSON]] = {}
        for f in self._features["grid"]:
            per_village.setdefault(f["properties"]["parent"], []).append(f["properties"])
        self.grids = {}
        for vcode, plist in per_village.items():
            shares = _split_evenly(self.villages[vcode].population, len(plist))
            for props, pop in zip(plist, shares, strict=True):
                self.grids[props["code"]] = area(props, "grid", pop)
        self._all: dict[str, Area] = {CITY_CODE: self.city, **self.counties, **self.towns,
                                      **self.villages, **self.grids}

    def _grid_points(self) -> None:
        """grids.geojson has no label points (size); they are in grid_points.json, made from
        this very grids.geojson (its digest says so) by ``python -m feeds.geo.make_points``, else
        derived here (0.35 s of every start: 10,907 polygons built to find them)."""
        feats = [f for f in self._features["grid"] if "lon" not in f["properties"]]
        if not feats:
            return
        made = made_points(self.data_dir)
        if made is None or not all(f["properties"]["code"] in made for f in feats):
            made, shapes = derive_points(feats)
            self._shapes.update(shapes)
        for f in feats:
            f["properties"]["lon"], f["properties"]["lat"] = made[f["properties"]["code"]]

    def _city_bounds(self) -> tuple[float, float, float, float]:
        b = shapely.bounds(self.geometry(CITY_CODE))
        return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))

    def __reduce__(self) -> tuple[object, tuple[str, str | None]]:
        """Pickled as a reference (a checkpoint holds areas, not maps): unpickled, it is the
        geography the process loaded from the same files (``_load`` caches it)."""
        return _load, self._source

    # ------------------------------------------------------------------ hierarchy

    def area(self, code: str) -> Area | None:
        return self._all.get(code)

    def children(self, code: str) -> list[Area]:
        return list(self._kids.get(code, ()))

    def ancestors(self, code: str) -> list[Area]:
        """City first ... parent last; [] for the city and for unknown codes."""
        out: list[Area] = []
        a = self._all.get(code)
        while a is not None and a.parent is not None:
            a = self._all.get(a.parent)
            if a is not None:
                out.append(a)
        return out[::-1]

    def _prefix_of(self, code: str, level: str) -> str | None:
        return prefix(code, level) if code in self._all else None

    def county_of(self, code: str) -> str | None:
        return self._prefix_of(code, "county")

    def town_of(self, code: str) -> str | None:
        return self._prefix_of(code, "town")

    def village_of(self, code: str) -> str | None:
        return self._prefix_of(code, "village")

    def is_scope(self, code: str) -> bool:
        """A known area a page can watch: the city, a county or a town."""
        a = self._all.get(code)
        return a is not None and a.level in SCOPE_LEVELS

    def label(self, code: str) -> str:
        """'宁波市', '鄞州区', '奉化 岳林街道', '奉化 岳林街道 xx村', '奉化 岳林街道 xx村 网格007'.

        Unknown codes come back unchanged."""
        a = self._all.get(code)
        if a is None:
            return code
        if a.level in ("city", "county"):
            return a.name
        _, county, town, *below = chain(code)
        parts = [self.counties[county].short, self.towns[town].name]
        if below:
            parts.append(self.villages[below[0]].short)
        if a.level == "grid":
            parts.append(a.short)
        return " ".join(parts)

    # ------------------------------------------------------------------ geometry

    def geometry(self, code: str) -> shapely.Geometry | None:
        """Shapely polygon of any area (villages are dissolved from their grids)."""
        geom = self._shapes.get(code)
        if geom is not None:
            return geom
        if code in self._by_code:
            geom = shape(self._by_code[code]["geometry"])
        elif code in self.villages:
            grids = [self.geometry(g.code) for g in self._kids.get(code, ())]
            geom = _polygonal(shapely.coverage_union_all(grids))
        else:
            return None
        self._shapes[code] = geom
        return geom

    def _zone(self, code: str, tolerance_m: float) -> _Zone | None:
        key = (code, float(tolerance_m))
        zone = self._zones.get(key)
        if zone is None:
            geom = self.geometry(code)
            if geom is None:
                return None
            plane = shapely.transform(geom, lambda c: c * (KX, 1.0))
            if tolerance_m > 0:
                plane = plane.buffer(tolerance_m / M_PER_DEG, quad_segs=4)
            shapely.prepare(plane)
            zone = (plane, tuple(plane.bounds))
            self._zones[key] = zone
        return zone

    def _within(self, code: str, lon: float, lat: float, tolerance_m: float) -> bool:
        zone = self._zone(code, tolerance_m)
        if zone is None:
            return False
        geom, (minx, miny, maxx, maxy) = zone
        x = lon * KX
        if not (minx <= x <= maxx and miny <= lat <= maxy):
            return False
        return bool(shapely.contains_xy(geom, x, lat))

    def in_county(self, county: str, lon: float, lat: float, tolerance_m: float = 2000) -> bool:
        """True if (lon, lat) is in the county or within tolerance_m of it."""
        return county in self.counties and self._within(county, lon, lat, tolerance_m)

    def in_city(self, lon: float, lat: float, tolerance_m: float = 2000) -> bool:
        return self._within(CITY_CODE, lon, lat, tolerance_m)

    def random_point(self, grid: str, rng: random.Random) -> tuple[float, float]:
        """A point uniform over the area's polygon (any level works; meant for grids)."""
        tris, cum = self._triangles(grid)
        i = min(bisect.bisect_right(cum, rng.random() * cum[-1]), len(tris) - 1)
        ax, ay, bx, by, cx, cy = tris[i]
        u, v = rng.random(), rng.random()
        if u + v > 1.0:  # fold the far half of the parallelogram back into the triangle
            u, v = 1.0 - u, 1.0 - v
        return (ax + u * (bx - ax) + v * (cx - ax), ay + u * (by - ay) + v * (cy - ay))

    def _triangles(self, code: str) -> tuple[list[tuple[float, ...]], list[float]]:
        cached = self._tris.get(code)
        if cached is None:
            geom = self.geometry(code)
            if geom is None:
                raise KeyError(code)
            tris: list[tuple[float, ...]] = []
            cum: list[float] = []
            total = 0.0
            for tri in shapely.get_parts(shapely.constrained_delaunay_triangles(geom)):
                (ax, ay), (bx, by), (cx, cy) = list(tri.exterior.coords)[:3]
                total += abs((bx - ax) * (cy - ay) - (cx - ax) * (by - ay)) / 2.0
                tris.append((ax, ay, bx, by, cx, cy))
                cum.append(total)
            cached = (tris, cum)
            self._tris[code] = cached
        return cached

    # ------------------------------------------------------------------ GeoJSON

    def geojson(self, level: str, parent: str | None = None) -> JSON:
        """FeatureCollection of one level, optionally only the areas under parent (any
        ancestor code). Properties are fresh dicts (add styling freely); geometries are
        shared with the cache, so don't mutate coordinates."""
        lvl = _PLURAL.get(level, level)
        if lvl not in LEVELS:
            raise ValueError(f"unknown level {level!r}; expected one of {LEVELS}")
        if lvl == "village":
            feats = self._village_features(parent)
        else:
            feats = self._features[lvl]
            if parent and parent != CITY_CODE:
                feats = [f for f in feats
                         if f["properties"]["code"] != parent
                         and contains(parent, f["properties"]["code"])]
        out = []
        for f in feats:
            code = f["properties"]["code"]
            props = {**f["properties"], "population": self._all[code].population}
            out.append({"type": "Feature", "properties": props, "geometry": f["geometry"]})
        return {"type": "FeatureCollection", "features": out}

    def _village_features(self, parent: str | None) -> list[JSON]:
        codes = [c for c in self.villages
                 if not parent or parent == CITY_CODE or (c != parent and contains(parent, c))]
        feats = []
        for code in codes:
            v = self.villages[code]
            props = {"code": code, "name": v.name, "short": v.short, "parent": v.parent,
                     "lon": v.lon, "lat": v.lat}
            feats.append({"type": "Feature", "properties": props,
                          "geometry": mapping(self.geometry(code))})
        return feats


@lru_cache(maxsize=8)
def _load(data_dir: str, towns_geojson: str | None) -> Geography:
    return Geography(data_dir, towns_geojson)


class _GeographyLoader:
    """``load_geography``: a callable object rather than a function so that its
    ``cache_clear()`` (tests load other data dirs) is a typed attribute."""

    def __call__(self, data_dir: str | None = None) -> Geography:
        """The Geography for data_dir (default: $ONEMAP_GEO_DIR, else the packaged data),
        cached per data_dir. $ONEMAP_TOWNS_GEOJSON, if set, swaps in real town polygons."""
        directory = data_dir or os.environ.get("ONEMAP_GEO_DIR") or str(DEFAULT_DATA_DIR)
        towns = os.environ.get("ONEMAP_TOWNS_GEOJSON") or None
        return _load(str(Path(directory).resolve()), towns)

    def cache_clear(self) -> None:
        """Forget every loaded Geography: the next call reads its data dir again."""
        _load.cache_clear()


load_geography = _GeographyLoader()
