"""The city's own layers and the base map settings, without a browser: the layer files read
(good and bad), distances to points, lines and areas, the places near an incident, the tile
templates built from the ONEMAP_TILE_* settings and the GCJ-02 formula (docs/maps.md)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from dashboard.config import SettingError, Settings
from dashboard.views.basemap import base_layers, image_origins
from dashboard.views.place_geometry import BadGeometry, scales, shape_of
from dashboard.views.places import Places, read_layer, style_of
from feeds.geo.build import wgs_to_gcj

pytestmark = pytest.mark.parallel

FIXTURES = Path(__file__).resolve().parent / "data" / "layers"
LON, LAT = 121.5687, 29.8653  # the fixture layers are placed around this point, in 下应
KX, KY = scales(LAT)


def at(east: float, north: float) -> list[float]:
    """The position ``east`` and ``north`` metres from (LON, LAT)."""
    return [LON + east / KX, LAT + north / KY]


def _file(folder: Path, name: str, data: object) -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False))
    return path


def _collection(*features: dict, **members: object) -> dict:
    return {"type": "FeatureCollection", "features": list(features), **members}


def _feature(name: object, kind: str, coordinates: object) -> dict:
    geometry = {"type": kind, "coordinates": coordinates}
    return {"type": "Feature", "properties": {"name": name}, "geometry": geometry}


# -- distances ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("geometry", "metres", "inside"),
    [
        ({"type": "Point", "coordinates": at(200, 0)}, 200, False),
        ({"type": "MultiPoint", "coordinates": [at(0, 900), at(-120, 160)]}, 200, False),
        # a line's nearest point is on a segment, not at a vertex
        ({"type": "LineString", "coordinates": [at(-300, -1000), at(-300, 1000)]}, 300, False),
        (
            {
                "type": "MultiLineString",
                "coordinates": [[at(50, 500), at(50, 900)], [at(400, 0), at(400, 10)]],
            },
            400,
            False,
        ),
        # inside an area: 0; outside: to its nearest edge
        (
            {
                "type": "Polygon",
                "coordinates": [[at(-50, -50), at(50, -50), at(50, 50), at(-50, 50), at(-50, -50)]],
            },
            0,
            True,
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [
                    [at(100, -50), at(300, -50), at(300, 50), at(100, 50), at(100, -50)]
                ],
            },
            100,
            False,
        ),
    ],
)
def test_distance_to_a_point_line_or_area(geometry, metres, inside):
    got, within = shape_of(geometry).metres(LON, LAT)
    assert got == pytest.approx(metres, abs=0.5)
    assert within is inside


@pytest.mark.parametrize(
    ("geometry", "east", "north"),
    [
        ({"type": "Point", "coordinates": at(30, 40)}, 30, 40),
        # a line from 200 m west to 200 m east, 150 m north: its point straight north
        ({"type": "LineString", "coordinates": [at(-200, 150), at(200, 150)]}, 0, 150),
        # past a line's end: the end
        ({"type": "LineString", "coordinates": [at(100, 0), at(300, 0)]}, 100, 0),
        # an area's nearest edge, the west one, level with the incident
        (
            {
                "type": "Polygon",
                "coordinates": [
                    [at(100, -50), at(300, -50), at(300, 50), at(100, 50), at(100, -50)]
                ],
            },
            100,
            0,
        ),
        # inside an area: the incident's own position
        (
            {
                "type": "Polygon",
                "coordinates": [[at(-50, -50), at(50, -50), at(50, 50), at(-50, 50), at(-50, -50)]],
            },
            0,
            0,
        ),
    ],
)
def test_the_nearest_point_of_a_place_is_where_the_map_marks_it(geometry, east, north):
    metres, _inside, (lon, lat) = shape_of(geometry).nearest(LON, LAT)
    kx, ky = scales(LAT)
    assert (lon - LON) * kx == pytest.approx(east, abs=0.5)
    assert (lat - LAT) * ky == pytest.approx(north, abs=0.5)
    assert metres == pytest.approx((east**2 + north**2) ** 0.5, abs=0.5)


def test_an_incident_in_a_hole_of_an_area_is_outside_it():
    outer = [at(-500, -500), at(500, -500), at(500, 500), at(-500, 500), at(-500, -500)]
    hole = [at(-100, -100), at(100, -100), at(100, 100), at(-100, 100), at(-100, -100)]
    polygon = {"type": "MultiPolygon", "coordinates": [[outer, hole]]}
    assert shape_of(polygon).metres(LON, LAT) == (pytest.approx(100, abs=0.5), False)
    assert shape_of({"type": "Polygon", "coordinates": [outer]}).metres(LON, LAT)[1] is True


def test_distances_are_in_metres_of_the_wgs84_ellipsoid():
    """A degree at 30° N is 110,852 m of latitude and 96,486 m of longitude (the published
    table of the length of a degree on the WGS84 ellipsoid)."""
    east, north = scales(30.0)
    assert (round(east), round(north)) == (96_486, 110_852)
    point = {"type": "Point", "coordinates": [121.5, 30.01]}
    assert shape_of(point).metres(121.5, 30.0)[0] == pytest.approx(1108.5, abs=0.5)


@pytest.mark.parametrize(
    ("geometry", "said"),
    [
        (None, "no geometry"),
        ({"type": "GeometryCollection", "geometries": []}, "not supported"),
        ({"type": "Point", "coordinates": [121.5]}, "not [lon, lat]"),
        ({"type": "Point", "coordinates": ["121.5", 29.8]}, "not a number"),
        ({"type": "Point", "coordinates": [3_400_000.0, 29.8]}, "not a WGS84"),
        ({"type": "LineString", "coordinates": [[121.5, 29.8]]}, "fewer than 2"),
        (
            {
                "type": "Polygon",
                "coordinates": [[[121.5, 29.8], [121.6, 29.8], [121.6, 29.9], [121.5, 29.9]]],
            },
            "not closed",
        ),
        ({"type": "MultiPolygon", "coordinates": []}, "no coordinates"),
    ],
)
def test_a_geometry_that_cannot_be_used_says_why(geometry, said):
    with pytest.raises(BadGeometry, match=re.escape(said)):
        shape_of(geometry)


# -- the layer files ---------------------------------------------------------------------------
def test_the_fixture_folder_loads_its_three_layers_and_skips_the_broken_file(caplog):
    with caplog.at_level(logging.INFO):
        places = Places.load(str(FIXTURES), 500, "schools,nonesuch")
    assert [(layer.id, layer.name, len(layer.places)) for layer in places.layers] == [
        ("hazchem", "危化品企业", 2),
        ("rivers", "河道", 1),
        ("schools", "学校", 3),
    ]
    assert places.rejected == [("broken.geojson", places.rejected[0][1])]
    assert "not JSON" in places.rejected[0][1]
    assert "broken.geojson skipped: not JSON" in caplog.text
    assert "map layers: 3 loaded" in caplog.text and "1 files skipped" in caplog.text
    assert places.on == ["schools"]  # an unknown name is no layer
    assert places.layer("schools").style["color"] == "#f48fb1"


def test_an_incidents_nearby_places_are_listed_nearest_first_within_the_distance():
    near = Places.load(str(FIXTURES), 500).near(LON, LAT)
    assert [(p["name"], p["layerName"], p["metres"], p["inside"]) for p in near["items"]] == [
        ("示例化工仓储", "危化品企业", 0, True),
        ("河东示例小学", "学校", 200, False),
        ("示例河", "河道", 300, False),
        ("示例加油站", "危化品企业", 350, False),
        ("下应示例中学", "学校", 450, False),
    ]  # the kindergarten, 1,200 m away, is not
    assert near["within"] == 500 and near["more"] == 0
    assert Places.load(str(FIXTURES), 250).near(LON, LAT)["items"][-1]["name"] == "河东示例小学"
    assert Places.load(str(FIXTURES), 500).near(121.0, 29.0)["items"] == []  # far from all


def test_a_layer_lists_at_most_five_places_and_counts_the_rest(tmp_path):
    points = [_feature(f"点{n}", "Point", at(10 * n, 0)) for n in range(8)]
    _file(tmp_path, "many.geojson", _collection(*points))
    near = Places.load(str(tmp_path), 500).near(LON, LAT)
    assert [p["name"] for p in near["items"]] == ["点0", "点1", "点2", "点3", "点4"]
    assert near["more"] == 3


def test_a_bad_layer_file_is_skipped_with_its_reason_and_the_others_load(tmp_path, caplog):
    good = _collection(_feature("好", "Point", at(0, 0)))
    _file(tmp_path, "good.geojson", good)
    _file(tmp_path, "notjson.geojson", "{")
    _file(tmp_path, "list.geojson", [good])
    _file(tmp_path, "feature.json", good["features"][0])
    _file(tmp_path, "empty.geojson", _collection())
    _file(tmp_path, "allbad.geojson", _collection(_feature("x", "Point", [999, 999])))
    _file(tmp_path, "bad name.geojson", good)
    _file(tmp_path, "readme.txt", "not a layer")
    (tmp_path / "folder.geojson").mkdir()
    with caplog.at_level(logging.WARNING):
        places = Places.load(str(tmp_path))
    assert [layer.id for layer in places.layers] == ["good"]
    reasons = dict(places.rejected)
    assert set(reasons) == {
        "notjson.geojson",
        "list.geojson",
        "feature.json",
        "empty.geojson",
        "allbad.geojson",
        "bad name.geojson",
    }
    assert "not a GeoJSON FeatureCollection" in reasons["list.geojson"]
    assert "not a GeoJSON FeatureCollection" in reasons["feature.json"]
    assert reasons["empty.geojson"] == "no usable feature"
    assert "not a WGS84" in reasons["allbad.geojson"]
    assert "letters, digits" in reasons["bad name.geojson"]
    assert caplog.text.count("skipped:") == 6


def test_features_that_cannot_be_used_are_skipped_counted_and_logged(tmp_path, caplog):
    _file(
        tmp_path,
        "mixed.geojson",
        _collection(
            _feature("好", "Point", at(0, 0)),
            _feature("坏", "Point", [121.5]),
            {
                "type": "Feature",
                "properties": None,
                "geometry": {"type": "Point", "coordinates": at(5, 0)},
            },
            "not a feature",
        ),
    )
    with caplog.at_level(logging.WARNING):
        layer = Places.load(str(tmp_path)).layers[0]
    assert [p.name for p in layer.places] == ["好", ""] and layer.skipped == 2
    assert "mixed.geojson: 2 of 4 features skipped (feature 1: a position is not" in caplog.text


def test_a_layer_is_named_by_its_file_and_sends_only_names_and_geometry(tmp_path):
    feature = _feature("<img src=x onerror=alert(1)>\u0007学校", "Point", at(0, 0))
    feature["properties"]["phone"] = "13800000000"
    layer = read_layer(_file(tmp_path, "sites.geojson", _collection(feature)), "#123456")
    assert layer.name == "sites" and layer.style["color"] == "#123456"
    sent = json.loads(layer.geojson)
    assert sent["features"][0]["properties"] == {"name": "<img src=x onerror=alert(1)>学校"}
    assert "13800000000" not in layer.geojson.decode()


def test_a_style_keeps_known_checked_keys_only(caplog):
    given = {
        "color": "#abc",
        "weight": 4,
        "fillOpacity": 0.5,
        "radius": 99,
        "fillColor": "red;background:url(x)",
        "dashArray": "4 2",
        "onclick": "x",
    }
    with caplog.at_level(logging.WARNING):
        style = style_of(given, "#4fc3f7", "f.geojson")
    assert style == {
        "color": "#abc",
        "weight": 4,
        "opacity": 0.9,
        "fillOpacity": 0.5,
        "radius": 5,
        "dashArray": "4 2",
        "fillColor": "#abc",
    }
    assert caplog.text.count("ignored") == 3


def test_no_folder_no_layers_and_a_missing_folder_is_said(tmp_path, caplog):
    assert Places.load("").layers == []
    with caplog.at_level(logging.ERROR):
        assert Places.load(str(tmp_path / "nowhere")).layers == []
    assert "is not a folder" in caplog.text


# -- the base map settings ---------------------------------------------------------------------
TIANDITU = "http://t{s}.tianditu.gov.cn/{layer}_w/wmts"


def _settings(**env: str) -> Settings:
    return Settings.from_env({f"ONEMAP_{k.upper()}": v for k, v in env.items()})


def test_no_tile_url_no_base_map():
    assert base_layers(_settings()) == [] and image_origins(_settings()) == []


def test_an_xyz_template_is_drawn_as_it_is():
    (layer,) = base_layers(_settings(tile_url="https://tiles.example/{z}/{x}/{y}.png"))
    assert (layer.kind, layer.url, layer.gcj02) == (
        "tile",
        "https://tiles.example/{z}/{x}/{y}.png",
        False,
    )
    assert layer.class_name == "onemap-basemap"


def test_tianditu_wmts_from_its_address_gives_a_kvp_template_per_layer():
    settings = _settings(
        tile_url=TIANDITU,
        tile_service="wmts",
        tile_layers="vec,cva",
        tile_params="tk=KEY&tilematrixset=w&FORMAT=tiles",
        tile_subdomains="01234567",
    )
    vec, cva = base_layers(settings)
    assert vec.url == (
        "http://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&LAYER=vec&tk=KEY"
        "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
    )
    assert cva.url.startswith("http://t{s}.tianditu.gov.cn/cva_w/wmts?") and "LAYER=cva" in cva.url
    assert vec.subdomains == "01234567"
    assert image_origins(settings) == [f"http://t{n}.tianditu.gov.cn" for n in range(8)]


def test_wmts_templates_kvp_and_restful_are_filled_for_leaflet():
    kvp = "http://gis.local/wmts?LAYER=img&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
    (layer,) = base_layers(_settings(tile_url=kvp, tile_service="wmts", tile_params="tk=1"))
    assert layer.url == kvp + "&tk=1"
    rest = "http://gis.local/wmts/img/default/w/{TileMatrix}/{TileRow}/{TileCol}.png"
    (layer,) = base_layers(_settings(tile_url=rest, tile_service="wmts"))
    assert layer.url == "http://gis.local/wmts/img/default/w/{z}/{y}/{x}.png"


def test_a_wms_base_map_takes_its_layers_and_request_options():
    settings = _settings(
        tile_url="http://gis.local/wms",
        tile_service="wms",
        tile_layers="a,b",
        tile_params="FORMAT=image/jpeg&VERSION=1.3.0&token=T",
    )
    (layer,) = base_layers(settings)
    assert (layer.kind, layer.url, layer.wms_layers) == (
        "wms",
        "http://gis.local/wms?token=T",
        "a,b",
    )
    assert (layer.wms_format, layer.wms_version, layer.transparent) == (
        "image/jpeg",
        "1.3.0",
        False,
    )


def test_several_addresses_stack_and_one_that_cannot_work_is_left_out(caplog):
    urls = "https://a.example/{z}/{x}/{y}.png https://b.example/{z}/{x}/{nope}.png"
    with caplog.at_level(logging.ERROR):
        layers = base_layers(_settings(tile_url=urls, tile_crs="gcj02"))
    assert [layer.url for layer in layers] == ["https://a.example/{z}/{x}/{y}.png"]
    assert layers[0].class_name == "onemap-basemap onemap-gcj02"
    assert "unknown placeholder {nope}" in caplog.text
    with caplog.at_level(logging.ERROR):
        assert base_layers(_settings(tile_url="http://gis.local/wms", tile_service="wms")) == []
    assert "needs ONEMAP_TILE_LAYERS" in caplog.text


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"tile_service": "tms"}, "ONEMAP_TILE_SERVICE must be"),
        ({"tile_crs": "bd09"}, "ONEMAP_TILE_CRS"),
    ],
)
def test_a_tile_service_or_datum_that_does_not_exist_is_refused(env, said):
    with pytest.raises(SettingError, match=said):
        _settings(**env)


# -- GCJ-02 -----------------------------------------------------------------------------------
# Published test vectors (googollee/eviltransform): WGS84 lat, lon -> GCJ-02 lat, lon
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]


@pytest.mark.parametrize(("lat", "lon", "glat", "glon"), EVILTRANSFORM)
def test_the_python_gcj02_formula_gives_the_published_values(lat, lon, glat, glon):
    got_lon, got_lat = wgs_to_gcj(lon, lat)
    assert float(got_lat) == pytest.approx(glat, abs=1e-9)
    assert float(got_lon) == pytest.approx(glon, abs=1e-9)
