"""Base maps and the city's own layers in Chromium, against a real server, Redis and a local
tile server (tests/tile_server.py; docs/maps.md).

One server for most of the module: a WMTS base map (天地图's way: the service's address, a
layer, TILEMATRIXSET=w, FORMAT=tiles and a tk key) and the fixture layers of tests/data/layers
(学校 points, a 河道 line, 危化品企业 areas, and a broken file the server skips), with one
incident in 下应 amid them. A second server draws a WMS base map in GCJ-02.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from pathlib import Path

import pytest

from feeds.bus import Bus
from feeds.geo.build import wgs_to_gcj
from feeds.schema import decode_trusted
from tests.factories import event_dict, line
from tests.live import CITY, PASSWORD, dashboard, fetch, sign_in, sign_in_page, sign_in_wall
from tests.test_map_layers import EVILTRANSFORM
from tests.tile_server import TileServer, wms_tile

pytestmark = [pytest.mark.browser, pytest.mark.parallel]

LAYERS = Path(__file__).resolve().parent / "data" / "layers"
LON, LAT = 121.5687, 29.8653  # the incident; the fixture places are around it
GRID = "330212001207002"  # 鄞州 下应街道 河东村 网格002, which holds it
TK = "testkey"


def _incident(geo, prefix: str) -> dict:
    area = {"county": "330212", "town": "330212001", "village": geo.village_of(GRID), "grid": GRID}
    return event_dict(
        geo, 1, id=f"{prefix}-MAP-1", area=area, lon=LON, lat=LAT, title="河东村路面塌陷"
    )


@pytest.fixture(scope="module")
def tiles():
    with TileServer() as server:
        yield server


@pytest.fixture(scope="module")
def mapped(redis_server, geo, tiles, tmp_path_factory):
    prefix = f"t{uuid.uuid4().hex[:10]}"
    env = {
        "ONEMAP_TILE_URL": f"{tiles.url}/wmts",
        "ONEMAP_TILE_SERVICE": "wmts",
        "ONEMAP_TILE_LAYERS": "vec",
        "ONEMAP_TILE_PARAMS": f"TILEMATRIXSET=w&FORMAT=tiles&tk={TK}",
        "ONEMAP_LAYERS_DIR": str(LAYERS),
        "ONEMAP_COOKIE_SECURE": "0",
    }
    with dashboard(redis_server.url, prefix, tmp_path_factory.mktemp("maps"), **env) as server:
        incident = _incident(geo, prefix)
        Bus(redis_server.client(), prefix=prefix).publish(decode_trusted(line(incident)))
        server.add_user("duty-maps", "duty", CITY, cli=False)
        server.incident = incident
        yield server


def _wall(page, server, query: str = "") -> None:
    sign_in_wall(page, server)
    page.goto(f"{server.url}/wall{query}")
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)


# The tiles the view needs at the tile zoom (Leaflet's: the map's zoom rounded): those under
# its centre and corners, as Leaflet numbers them (x right, y down), and what the page loaded.
VIEW_TILES = """() => {
  const map = window.onemap.maps["wall-map"], z = Math.round(map.getZoom()), size = map.getSize();
  const at = (x, y) => map.project(map.containerPointToLatLng([x, y]), z)
    .unscaleBy(L.point(256, 256)).floor();
  const w = size.x - 1, h = size.y - 1;
  const corners = [[size.x / 2, size.y / 2], [1, 1], [w, 1], [1, h], [w, h]];
  const loaded = [...document.querySelectorAll("#wall-map img.leaflet-tile-loaded")];
  return { z, need: corners.map(([x, y]) => { const t = at(x, y); return [t.x, t.y]; }),
           loaded: loaded.map((img) => [img.src, img.naturalWidth, img.naturalHeight]),
           opacity: getComputedStyle(document.querySelector("#wall-map .onemap-basemap")).opacity };
}"""


def test_wall_draws_the_wmts_base_map_tiles_its_view_needs(page, mapped, tiles):
    _wall(page, mapped)
    page.wait_for_function(  # beside other browsers on two cores: tiles may take their time
        "() => document.querySelectorAll('#wall-map img.leaflet-tile-loaded').length >= 4",
        timeout=30_000,
    )
    page.wait_for_timeout(500)  # the map has fitted its area: no tile is still on its way
    view = page.evaluate(VIEW_TILES)
    asked = tiles.tiles("/wmts")
    kvp = {
        (
            r["SERVICE"],
            r["REQUEST"],
            r["VERSION"],
            r["LAYER"],
            r["STYLE"],
            r["TILEMATRIXSET"],
            r["FORMAT"],
            r["TK"],
        )
        for r in asked
    }
    assert kvp == {("WMTS", "GetTile", "1.0.0", "vec", "default", "w", "tiles", TK)}
    at_zoom = {
        (int(r["TILECOL"]), int(r["TILEROW"])) for r in asked if int(r["TILEMATRIX"]) == view["z"]
    }
    assert {tuple(t) for t in view["need"]} <= at_zoom  # TILECOL is x, TILEROW is y
    # in the page: images from the tile server, whole tiles, of this zoom, faint on the wall
    assert len(view["loaded"]) >= len({tuple(t) for t in view["need"]})
    for src, width, height in view["loaded"]:
        assert src.startswith(f"{tiles.url}/wmts?") and (width, height) == (256, 256)
    on_page = {
        (int(_param(src, "TILECOL")), int(_param(src, "TILEROW")))
        for src, *_ in view["loaded"]
        if int(_param(src, "TILEMATRIX")) == view["z"]
    }
    assert {tuple(t) for t in view["need"]} <= on_page
    assert float(view["opacity"]) == pytest.approx(0.35)
    assert page.js_errors == []


def _param(url: str, key: str) -> str:
    return re.search(rf"[?&]{key}=([^&]*)", url).group(1)


def test_layers_are_for_signed_in_screens_only_and_the_broken_file_is_skipped(mapped):
    assert fetch(f"{mapped.url}/api/layers").status == 401
    assert fetch(f"{mapped.url}/api/layers/schools.json").status == 401
    cookie = sign_in(mapped, "duty-maps")
    listed = json.loads(fetch(f"{mapped.url}/api/layers", cookie=cookie).body)
    assert [(layer["id"], layer["name"], layer["count"]) for layer in listed["layers"]] == [
        ("hazchem", "危化品企业", 2),
        ("rivers", "河道", 1),
        ("schools", "学校", 3),
    ]
    assert listed["nearM"] == 500
    schools = json.loads(fetch(f"{mapped.url}/api/layers/schools.json", cookie=cookie).body)
    assert [f["properties"] for f in schools["features"]][0] == {"name": "河东示例小学"}
    assert fetch(f"{mapped.url}/api/layers/broken.json", cookie=cookie).status == 404
    assert "broken.geojson skipped" in mapped.log()


def _desk(page, server, query: str = "") -> None:
    sign_in_page(page, server.url, "duty-maps")
    page.goto(f"{server.url}/duty{query}")
    page.wait_for_selector("#duty-root[data-total]", state="attached", timeout=30_000)


def test_desk_detail_lists_the_places_near_the_incident_and_the_map_shows_a_layer(page, mapped):
    _desk(page, mapped, f"?open={mapped.incident['id']}")
    page.wait_for_selector("#duty-detail .detail-places .place-row", timeout=15_000)
    assert page.locator("#duty-detail h3", has_text="附近重点场所（500 米内）").count() == 1
    rows = page.locator("#duty-detail .detail-places .place-row")
    got = [
        (
            row.locator(".place-name").inner_text(),
            row.locator(".place-layer").inner_text(),
            row.locator(".place-dist").inner_text(),
        )
        for row in rows.all()
    ]
    assert got == [
        ("示例化工仓储", "危化品企业", "区域内"),
        ("河东示例小学", "学校", "200 米"),
        ("示例河", "河道", "300 米"),
        ("示例加油站", "危化品企业", "350 米"),
        ("下应示例中学", "学校", "450 米"),
    ]
    # and on the detail's map, each at its nearest point
    page.wait_for_function(
        "() => document.querySelectorAll('#duty-detail .detail-minimap path.mini-place').length"
        " === 5",
        timeout=30_000,
    )
    # the layer control: off by default; ticking 学校 draws its three places
    page.click("#duty-map .layers-toggle")
    boxes = page.locator("#duty-map .layers-list input[type=checkbox]")
    assert boxes.count() == 3 and not any(b.is_checked() for b in boxes.all())
    page.check("#duty-map input[data-layer=schools]")
    page.wait_for_selector("#duty-map[data-layers='schools']", state="attached")
    drawn = page.evaluate(
        "window.onemap.maps['duty-map'].onemapLayers.drawn.schools.getLayers().length"
    )
    assert drawn == 3
    # remembered for this view: a reload shows it again
    page.reload()
    page.wait_for_selector("#duty-map[data-layers='schools']", state="attached", timeout=30_000)
    assert page.js_errors == []


def test_a_wall_link_shows_the_layers_it_names_with_a_key(page, mapped):
    _id, link = mapped.add_kiosk(CITY, cli=False)
    page.goto(f"{mapped.url}{link}&layers=schools,rivers,nonesuch")
    page.wait_for_url(re.compile(r"/wall\?layers="))  # the token gone, the layers kept
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)
    page.wait_for_function(
        "() => (document.getElementById('wall-map').dataset.layers || '').split(',').length === 2",
        timeout=30_000,
    )
    # in the folder's order, whatever the link's
    assert page.get_attribute("#wall-map", "data-layers") == "rivers,schools"
    assert page.locator(".onemap-places-key .key-row").all_inner_texts() == ["河道", "学校"]
    drawn = "window.onemap.maps['wall-map'].onemapLayers.drawn"
    assert (
        page.evaluate(f"{drawn}.schools.getLayers().length + {drawn}.rivers.getLayers().length")
        == 4
    )
    assert page.js_errors == []


def test_tablet_ticks_a_layer_by_touch_and_its_incident_card_lists_the_places(browser, mapped):
    context = browser.new_context(
        viewport={"width": 768, "height": 1024},
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{mapped.url}/login?next=/tablet")
        page.fill("input[name=username]", "duty-maps")
        page.fill("input[name=password]", PASSWORD)
        page.tap("button[type=submit]")
        page.wait_for_selector("#tablet-root[data-live='1']", timeout=30_000)
        page.tap("#tablet-map .layers-toggle")
        page.tap("#tablet-map input[data-layer=hazchem]")
        page.wait_for_selector("#tablet-map[data-layers='hazchem']", state="attached")
        page.evaluate("(id) => window.onemap.tablet.openIncident(id)", mapped.incident["id"])
        page.wait_for_selector("#tablet-card .card-places .place-row", timeout=15_000)
        assert page.locator(".card-places-title").inner_text() == "附近重点场所（500 米内）"
        rows = page.locator("#tablet-card .card-places .place-name").all_inner_texts()
        assert rows[:2] == ["示例化工仓储", "河东示例小学"] and len(rows) == 5
        assert errors == []
    finally:
        context.close()


# -- WMS in GCJ-02 ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gcj(redis_server, tiles, tmp_path_factory):
    prefix = f"t{uuid.uuid4().hex[:10]}"
    env = {
        "ONEMAP_TILE_URL": f"{tiles.url}/wms",
        "ONEMAP_TILE_SERVICE": "wms",
        "ONEMAP_TILE_LAYERS": "roads,labels",
        "ONEMAP_TILE_CRS": "gcj02",
        "ONEMAP_COOKIE_SECURE": "0",
    }
    with dashboard(redis_server.url, prefix, tmp_path_factory.mktemp("gcj"), **env) as server:
        yield server


def _pixels(lon: float, lat: float, zoom: float) -> tuple[float, float]:
    """Leaflet's EPSG:3857 projection: the position in pixels at ``zoom``."""
    scale = 256 * 2**zoom
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return scale * (0.5 + lon / 360), scale * (0.5 - y / (2 * math.pi))


def test_gcj02_wms_tiles_are_shifted_by_the_offset_at_the_maps_centre(page, gcj, tiles):
    _wall(page, gcj, "?area=330212")
    page.wait_for_function(
        "() => document.querySelectorAll('#wall-map img.leaflet-tile-loaded').length >= 2",
        timeout=30_000,
    )
    asked = tiles.tiles("/wms")
    assert {(r["LAYERS"], r["SRS"], r["FORMAT"], r["WIDTH"]) for r in asked} == {
        ("roads,labels", "EPSG:3857", "image/png", "256")
    }
    assert all(len(wms_tile(r["BBOX"])) == 3 for r in asked)
    view = page.evaluate(
        """() => { const m = window.onemap.maps["wall-map"], c = m.getCenter();
        return { lat: c.lat, lon: c.lng, zoom: m.getZoom(), shift: m.onemapShift,
                 transform: m.getPane("tilePane").style.transform }; }"""
    )
    glon, glat = (float(v) for v in wgs_to_gcj(view["lon"], view["lat"]))
    wx, wy = _pixels(view["lon"], view["lat"], view["zoom"])
    gx, gy = _pixels(glon, glat, view["zoom"])
    assert view["shift"] == pytest.approx([wx - gx, wy - gy], abs=0.01)
    assert view["shift"][0] < 0  # the tiles move west: GCJ-02 draws Ningbo east of WGS84
    assert view["transform"].startswith("translate(")
    # the page's formula is the Python one, at the published points and across the city
    points = [(lat, lon) for lat, lon, _, _ in EVILTRANSFORM]
    points += [(28.9 + 0.15 * i, 120.9 + 0.13 * i) for i in range(11)]
    got = page.evaluate(
        "(pts) => pts.map(([lat, lon]) => window.onemap.wgsToGcj(lat, lon))", points
    )
    for (lat, lon), (glat_js, glon_js) in zip(points, got, strict=True):
        want_lon, want_lat = (float(v) for v in wgs_to_gcj(lon, lat))
        assert (glat_js, glon_js) == pytest.approx((want_lat, want_lon), abs=1e-9)
    assert page.js_errors == []
