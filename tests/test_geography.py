"""Invariants of the geography layer (feeds/geo) and its committed data files."""

from __future__ import annotations

import csv
import json
import math
import random
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, box, mapping

from feeds.geo import CITY_CODE, DEFAULT_DATA_DIR, Geography, load_geography
from feeds.geo.build import gcj_to_wgs, village_short, wgs_to_gcj

# No promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

TOWNS_PER_COUNTY = {
    "330203": 17, "330205": 8, "330206": 12, "330211": 7, "330212": 25,
    "330213": 12, "330225": 18, "330226": 18, "330281": 21, "330282": 24,
}
CODE_LENGTH = {"city": 6, "county": 6, "town": 9, "village": 12, "grid": 15}
TILE_TOLERANCE = 1e-3  # relative area; rounding to 5 decimals costs ~1e-5 of a border
SNAP = 2e-5  # two output grid steps (~2 m): how far rounding may push a vertex across a border


@pytest.fixture(scope="module")
def geo() -> Geography:
    return Geography(DEFAULT_DATA_DIR)  # no env overrides: test the committed data


@pytest.fixture(scope="module")
def shapes(geo: Geography) -> dict[str, shapely.Geometry]:
    codes = [CITY_CODE, *geo.counties, *geo.towns, *geo.grids]
    return {c: geo.geometry(c) for c in codes}


def _by_parent(codes, length: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for c in codes:
        out[c[:length]].append(c)
    return out


def _assert_tiles(whole: shapely.Geometry, pieces: list[shapely.Geometry], what: str) -> None:
    union = shapely.union_all(pieces)
    gap = shapely.symmetric_difference(union, whole).area / whole.area
    overlap = (sum(p.area for p in pieces) - union.area) / whole.area
    assert gap < TILE_TOLERANCE, f"{what}: union differs from parent by {gap:.2%}"
    assert overlap < TILE_TOLERANCE, f"{what}: pieces overlap by {overlap:.2%}"


def _assert_inside(parent: shapely.Geometry, child: shapely.Geometry, what: str) -> None:
    outside = shapely.difference(child, parent.buffer(SNAP)).area / child.area
    assert outside < TILE_TOLERANCE, f"{what}: {outside:.2%} lies outside its parent"


# ---------------------------------------------------------------- counties / city


def test_there_are_exactly_ten_counties(geo: Geography) -> None:
    assert sorted(geo.counties) == sorted(TOWNS_PER_COUNTY)
    assert {a.parent for a in geo.counties.values()} == {CITY_CODE}


def test_counties_union_equals_city_outline(geo: Geography, shapes) -> None:
    union = shapely.union_all([shapes[c] for c in geo.counties])
    city = shapes[CITY_CODE]
    assert shapely.symmetric_difference(union, city).area < 0.001 * city.area


def test_counties_do_not_overlap(geo: Geography, shapes) -> None:
    codes = list(geo.counties)
    for i, a in enumerate(codes):
        for b in codes[i + 1:]:
            inter = shapely.intersection(shapes[a], shapes[b]).area
            assert inter < 1e-6 * shapes[a].area, f"{a} overlaps {b}"


def test_xiangshan_keeps_its_islands(shapes) -> None:
    assert len(shapely.get_parts(shapes["330225"])) >= 40


# ---------------------------------------------------------------- towns


def test_town_counts_per_county_match_nbs(geo: Geography) -> None:
    assert Counter(t.parent for t in geo.towns.values()) == Counter(TOWNS_PER_COUNTY)
    assert len(geo.towns) == 162


def test_towns_lie_inside_their_county(geo: Geography, shapes) -> None:
    for code, town in geo.towns.items():
        _assert_inside(shapes[town.parent], shapes[code], code)


def test_towns_tile_their_county(geo: Geography, shapes) -> None:
    for county, towns in _by_parent(geo.towns, 6).items():
        _assert_tiles(shapes[county], [shapes[t] for t in towns], county)


def test_every_part_of_xiangshan_belongs_to_exactly_one_town(geo: Geography, shapes) -> None:
    towns = [shapes[t] for t in geo.towns if t.startswith("330225")]
    for part in shapely.get_parts(shapes["330225"]):
        p = part.representative_point()
        assert sum(t.covers(p) for t in towns) >= 1
        assert sum(t.contains(p) for t in towns) <= 1


# ---------------------------------------------------------------- villages / grids


def test_village_count_matches_nbs(geo: Geography) -> None:
    assert len(geo.villages) == 3042
    assert all(v.parent in geo.towns for v in geo.villages.values())


def test_grid_total_is_about_10900(geo: Geography) -> None:
    assert 10_000 <= len(geo.grids) <= 12_000


def test_every_village_has_at_least_one_grid(geo: Geography) -> None:
    assert set(_by_parent(geo.grids, 12)) == set(geo.villages)


def test_communities_get_more_grids_than_rural_villages(geo: Geography) -> None:
    per_village = Counter(g[:12] for g in geo.grids)
    kind = {v: int(v[9:]) < 200 for v in geo.villages}  # NBS 001-199 = 居委会
    community = np.mean([n for v, n in per_village.items() if kind[v]])
    rural = np.mean([n for v, n in per_village.items() if not kind[v]])
    assert community > rural


def test_grids_lie_inside_their_town(geo: Geography, shapes) -> None:
    codes = list(geo.grids)
    grids = np.array([shapes[g] for g in codes], dtype=object)
    towns = {t: shapes[t].buffer(SNAP) for t in geo.towns}
    parents = np.array([towns[g[:9]] for g in codes], dtype=object)
    outside = shapely.area(shapely.difference(grids, parents)) / shapely.area(grids)
    worst = int(np.argmax(outside))
    assert outside[worst] < TILE_TOLERANCE, f"{codes[worst]} sticks out of its town"


def test_grids_tile_their_town(geo: Geography, shapes) -> None:
    for town, grids in _by_parent(geo.grids, 9).items():
        _assert_tiles(shapes[town], [shapes[g] for g in grids], town)


def test_grids_are_valid_nonempty_polygons(geo: Geography, shapes) -> None:
    grids = np.array([shapes[g] for g in geo.grids], dtype=object)
    assert shapely.is_valid(grids).all()
    assert (shapely.area(grids) > 0).all()


def test_village_points_lie_inside_their_village(geo: Geography) -> None:
    rng = random.Random(7)
    for code in rng.sample(sorted(geo.villages), 300):
        v = geo.villages[code]
        assert geo.geometry(code).buffer(1e-5).contains(Point(v.lon, v.lat)), code


def test_grid_points_lie_inside_their_grid(geo: Geography, shapes) -> None:
    codes = list(geo.grids)
    grids = np.array([shapes[g] for g in codes], dtype=object)
    pts = shapely.points([(geo.grids[g].lon, geo.grids[g].lat) for g in codes])
    assert shapely.covers(shapely.buffer(grids, 1e-5), pts).all()


# ---------------------------------------------------------------- codes


def test_codes_are_unique_and_hierarchical(geo: Geography) -> None:
    areas = [geo.city, *geo.counties.values(), *geo.towns.values(), *geo.villages.values(),
             *geo.grids.values()]
    assert len({a.code for a in areas}) == len(areas)
    for a in areas:
        assert len(a.code) == CODE_LENGTH[a.level] and a.code.isdigit(), a.code
        if a.level in ("town", "village", "grid"):
            assert a.code.startswith(a.parent), a.code
            assert len(a.parent) == CODE_LENGTH[a.level] - 3
    assert geo.city.parent is None


def test_geojson_files_carry_the_documented_properties() -> None:
    for name in ("city", "counties", "towns", "grids"):
        with (DEFAULT_DATA_DIR / f"{name}.geojson").open(encoding="utf-8") as fh:
            feat = json.load(fh)["features"][0]
        assert {"code", "name", "short", "parent"} <= set(feat["properties"]), name
    with (DEFAULT_DATA_DIR / "grids.geojson").open(encoding="utf-8") as fh:
        assert "village" in json.load(fh)["features"][0]["properties"]
    with (DEFAULT_DATA_DIR / "villages.csv").open(encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == ["code", "name", "short", "town", "county", "lon", "lat"]


# ---------------------------------------------------------------- coordinates


def test_all_coordinates_are_wgs84_within_ningbo(shapes) -> None:
    coords = shapely.get_coordinates(np.array(list(shapes.values()), dtype=object))
    assert coords[:, 0].min() >= 120.8 and coords[:, 0].max() <= 122.4
    assert coords[:, 1].min() >= 28.8 and coords[:, 1].max() <= 30.6


def test_coordinates_are_rounded_to_five_decimals(shapes) -> None:
    coords = shapely.get_coordinates(np.array(list(shapes.values()), dtype=object))
    assert np.abs(coords * 1e5 - np.round(coords * 1e5)).max() < 1e-6


def test_polygon_exteriors_are_counter_clockwise(shapes) -> None:
    polys = shapely.get_parts(np.array(list(shapes.values()), dtype=object))
    assert shapely.is_ccw(shapely.get_exterior_ring(polys)).all()
    holes = [r for p in polys for r in p.interiors]
    assert not any(shapely.is_ccw(r) for r in holes)


def test_gcj_to_wgs_round_trips() -> None:
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(120.8, 122.4, 500), rng.uniform(28.8, 30.6, 500)
    back_lon, back_lat = gcj_to_wgs(*wgs_to_gcj(lon, lat))
    assert np.abs(back_lon - lon).max() < 1e-6 and np.abs(back_lat - lat).max() < 1e-6


def test_gcj_offset_is_a_few_hundred_metres_in_ningbo() -> None:
    lon, lat = 121.55, 29.87
    glon, glat = wgs_to_gcj(lon, lat)
    metres = math.hypot((glon - lon) * math.cos(math.radians(lat)), glat - lat) * 111_320
    assert 200 < metres < 800
    assert glon > lon  # GCJ-02 shifts east (and north) here
    assert glat < lat + 0.01


# ---------------------------------------------------------------- API


def test_label_examples(geo: Geography) -> None:
    assert geo.label(CITY_CODE) == "宁波市"
    assert geo.label("330212") == "鄞州区"
    assert geo.label("330213002") == "奉化 岳林街道"
    grid = geo.children(geo.children("330213002")[0].code)[0]
    village = geo.villages[grid.parent]
    assert geo.label(grid.code) == f"奉化 岳林街道 {village.short} 网格001"
    assert geo.label("999") == "999"


def test_short_names(geo: Geography) -> None:
    assert geo.counties["330212"].short == "鄞州"
    assert geo.towns["330213002"].short == "岳林"
    assert village_short("朱梅村村委会") == "朱梅村"
    assert village_short("学院社区居委会") == "学院社区"
    assert village_short("邬隘村委会") == "邬隘村"


def test_hierarchy_lookups(geo: Geography) -> None:
    grid = next(iter(geo.grids))
    assert [a.level for a in geo.ancestors(grid)] == ["city", "county", "town", "village"]
    assert geo.county_of(grid) == grid[:6]
    assert geo.town_of(grid) == grid[:9]
    assert geo.village_of(grid) == grid[:12]
    assert geo.town_of(grid[:6]) is None and geo.county_of(CITY_CODE) is None
    assert geo.county_of("000000") is None
    assert [a.code for a in geo.children(CITY_CODE)] == sorted(geo.counties)
    assert geo.ancestors(CITY_CODE) == [] and geo.area("nope") is None


def test_populations_add_up_to_the_census(geo: Geography) -> None:
    assert geo.city.population == 9_404_283
    assert sum(c.population for c in geo.counties.values()) == 9_404_283
    for county in geo.counties:
        towns = geo.children(county)
        assert sum(t.population for t in towns) == geo.counties[county].population
    assert sum(v.population for v in geo.villages.values()) == 9_404_283
    assert sum(g.population for g in geo.grids.values()) == 9_404_283


def test_in_county_and_in_city(geo: Geography) -> None:
    yinzhou = geo.counties["330212"]
    assert geo.in_county("330212", yinzhou.lon, yinzhou.lat)
    assert not geo.in_county("330212", 120.0, 29.0)
    assert not geo.in_county("999999", yinzhou.lon, yinzhou.lat)
    assert geo.in_city(geo.city.lon, geo.city.lat)
    assert not geo.in_city(123.5, 29.8)
    # ~1 km off the coast: inside only with a tolerance
    xiangshan = geo.geometry("330225")
    minx, miny, maxx, maxy = xiangshan.bounds
    off = (maxx + 0.04, (miny + maxy) / 2)
    while xiangshan.distance(Point(off)) * 96_000 > 1500 and off[0] > minx:
        off = (off[0] - 0.002, off[1])
    assert not geo.in_county("330225", *off, tolerance_m=0)
    assert geo.in_county("330225", *off, tolerance_m=2000)


def test_random_point_lands_inside_its_grid(geo: Geography, shapes) -> None:
    rng = random.Random(42)
    for code in rng.sample(sorted(geo.grids), 200):
        lon, lat = geo.random_point(code, rng)
        assert shapes[code].buffer(1e-9).contains(Point(lon, lat)), code


def test_random_point_is_deterministic_for_a_seed(geo: Geography) -> None:
    grid = next(iter(geo.grids))
    assert geo.random_point(grid, random.Random(5)) == geo.random_point(grid, random.Random(5))


def test_geojson_filters_by_parent(geo: Geography) -> None:
    assert len(geo.geojson("county")["features"]) == 10
    assert len(geo.geojson("towns", CITY_CODE)["features"]) == 162
    towns = geo.geojson("town", "330213")["features"]
    assert len(towns) == 12 and all(f["properties"]["parent"] == "330213" for f in towns)
    grids = geo.geojson("grid", "330213001")["features"]
    assert grids and all(f["properties"]["code"].startswith("330213001") for f in grids)
    village = geo.children("330213001")[0].code
    assert len(geo.geojson("village", "330213001")["features"]) == len(geo.children("330213001"))
    assert geo.geojson("grid", village)["features"]
    with pytest.raises(ValueError):
        geo.geojson("province")


def test_geojson_properties_can_be_mutated_safely(geo: Geography) -> None:
    geo.geojson("county")["features"][0]["properties"]["fill"] = "red"
    assert "fill" not in geo.geojson("county")["features"][0]["properties"]


def test_load_geography_is_cached_per_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONEMAP_TOWNS_GEOJSON", raising=False)
    monkeypatch.delenv("ONEMAP_GEO_DIR", raising=False)
    assert load_geography() is load_geography(str(DEFAULT_DATA_DIR))


def test_towns_geojson_env_replaces_town_polygons(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    square = box(121.40, 29.64, 121.42, 29.66)
    feature = {"type": "Feature", "properties": {"code": "330213001"},
               "geometry": mapping(square)}
    path = tmp_path / "towns.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    monkeypatch.setenv("ONEMAP_TOWNS_GEOJSON", str(path))
    monkeypatch.delenv("ONEMAP_GEO_DIR", raising=False)
    load_geography.cache_clear()
    try:
        geo = load_geography()
        assert geo.geometry("330213001").equals(square)
        assert square.contains(Point(geo.towns["330213001"].lon, geo.towns["330213001"].lat))
        town = next(f for f in geo.geojson("town", "330213")["features"]
                    if f["properties"]["code"] == "330213001")
        assert shapely.geometry.shape(town["geometry"]).equals(square)
        assert len(geo.grids) == len(Geography(DEFAULT_DATA_DIR).grids)
    finally:
        load_geography.cache_clear()


def test_the_grids_label_points_file_is_made_from_the_grids_it_ships_with(tmp_path):
    """grid_points.json saves every start 10,907 polygons: it must be of this grids.geojson
    (else it is ignored and the points derived), and say what deriving them says."""
    import json
    import shutil

    from feeds.geo import DEFAULT_DATA_DIR, Geography
    from feeds.geo.points import POINTS_FILE, derive_points, points_digest

    shipped = json.loads((DEFAULT_DATA_DIR / POINTS_FILE).read_text(encoding="utf-8"))
    assert shipped["source"] == points_digest(DEFAULT_DATA_DIR), "python -m feeds.geo.make_points"
    grids = json.loads((DEFAULT_DATA_DIR / "grids.geojson").read_text(encoding="utf-8"))
    derived, _shapes = derive_points(grids["features"])
    assert shipped["points"] == derived
    # a points file of other grids is ignored: the points are derived again
    for name in DEFAULT_DATA_DIR.iterdir():
        shutil.copy(name, tmp_path / name.name)
    stale = dict(shipped, source="0" * 64, points={c: [0.0, 0.0] for c in shipped["points"]})
    (tmp_path / POINTS_FILE).write_text(json.dumps(stale), encoding="utf-8")
    geo = Geography(tmp_path)
    assert all([g.lon, g.lat] == derived[code] for code, g in geo.grids.items())
