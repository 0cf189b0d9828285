"""The wall's city-scale views in Chromium: incident density, clusters, worker counts.

One real server for the module, fed before the pages open: 320 open incidents of one category
(市容环境, platform 综合执法) in one town of 鄞州 (下应), one of them overdue; 160 more in a town
of 慈溪 (浒山), reported three hours ago; in a town of 北仑 (大榭), 4 open incidents of 市政设施
(platform 便民服务) a few metres apart, due within the hour, and 5 more reported and closed
earlier today; 40 workers on duty in 下应. The density, clusters and counts are read from the
page (the layers' own figures and the canvases' pixels), never timed.

A page is sent only the last 5 steps of its area (``ONEMAP_TICKER_SIZE``): what it knows of the
others' report times, deadlines and closed incidents comes from the snapshot's markers and
closed rows alone (docs/wall.md, "What the page knows").
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from feeds.bus import Bus
from feeds.schema import CHINA_TZ, decode_trusted
from tests.factories import event_dict, line, position_dict
from tests.live import dashboard, sign_in_wall

pytestmark = [pytest.mark.browser, pytest.mark.parallel]

TOWN = "330212001"  # 下应, 鄞州: the recent incidents and the workers
OLD_TOWN = "330282004"  # 浒山, 慈溪: incidents reported three hours ago
COUNTY = "330212"
AMBER_TOWN = "330206001"  # 大榭, 北仑: due soon, and closed today
AMBER_COUNTY = "330206"
RECENT, OLD, WORKERS = 320, 160, 40
AMBER, CLOSED = 4, 5  # 市政设施 (bm01): due within the hour; reported and closed today
TICKER = 5  # steps a snapshot carries: none of 北仑's reports
FAR = (29.2, 121.45)  # lat, lon in 宁海's south: no incident within 40 km


def _grids(geo, town: str) -> list[str]:
    return sorted(g for g in geo.grids if geo.town_of(g) == town)


def _incidents(geo, town: str, count: int, start: int, age: timedelta, **extra) -> list[dict]:
    grids, rng, out = _grids(geo, town), random.Random(start), []
    ts = datetime.now(UTC).astimezone(CHINA_TZ) - age
    for n in range(count):
        grid = grids[n % len(grids)]
        lon, lat = geo.random_point(grid, rng)
        area = {"county": geo.county_of(grid), "town": town, "village": geo.village_of(grid),
                "grid": grid}  # fmt: skip
        out.append(event_dict(geo, start + n, id=f"D-{start + n:05d}", area=area, lon=lon,
                              lat=lat, ts=ts.isoformat(),
                              deadline=(ts + timedelta(days=1)).isoformat(), **extra))  # fmt: skip
    return out


def _earlier_today(share: float) -> datetime:
    """A moment between China's midnight and now: ``share`` of the way."""
    now = datetime.now(UTC).astimezone(CHINA_TZ)
    return now - (1 - share) * (now - now.replace(hour=0, minute=0, second=0, microsecond=0))


def _beilun(geo) -> list[dict]:
    """北仑's: AMBER open ones due within the hour, side by side (one cluster at county zoom),
    then CLOSED reported and closed earlier today, each with its closing step."""
    now = datetime.now(UTC).astimezone(CHINA_TZ)
    reported, closed = _earlier_today(0.3), _earlier_today(0.6)
    amber = _incidents(geo, AMBER_TOWN, AMBER, 5000, now - reported, category="bm01")
    for n, incident in enumerate(amber):
        incident.update(lon=amber[0]["lon"] + 0.0001 * n, lat=amber[0]["lat"],
                        deadline=(now + timedelta(hours=1)).isoformat())  # fmt: skip
    shut = _incidents(geo, AMBER_TOWN, CLOSED, 6000, now - reported, category="bm01")
    closing = [{**i, "seq": 2, "type": "closed", "ts": closed.isoformat()} for i in shut]
    return amber + shut + closing


@pytest.fixture(scope="module")
def density_server(redis_server, geo, tmp_path_factory):
    bus = Bus(redis_server.client(), prefix="density")
    beilun = _beilun(geo)
    bus.publish_many(decode_trusted(line(m)) for m in beilun)  # first: no snapshot step of them
    old = _incidents(geo, OLD_TOWN, OLD, 0, timedelta(hours=3))
    recent = _incidents(geo, TOWN, RECENT, 1000, timedelta(minutes=2))
    late = datetime.now(UTC).astimezone(CHINA_TZ) - timedelta(hours=3)
    recent[0].update(ts=late.isoformat(), deadline=(late + timedelta(hours=1)).isoformat())
    bus.publish_many(decode_trusted(line(m)) for m in old + recent)  # the old first
    grids = _grids(geo, TOWN)
    workers = [
        position_dict(geo, n, worker=f"W9{n:05d}", grid=grids[n % len(grids)],
                      lon=recent[n]["lon"], lat=recent[n]["lat"])
        for n in range(WORKERS)
    ]  # fmt: skip
    bus.publish_many(decode_trusted(line(w)) for w in workers)
    tmp = tmp_path_factory.mktemp("density")
    with dashboard(redis_server.url, "density", tmp, ONEMAP_TICKER_SIZE=str(TICKER)) as server:
        server.recent, server.old, server.beilun = recent, old, beilun
        yield server


def _open(page, server, query: str = "") -> None:
    sign_in_wall(page, server)
    page.goto(f"{server.url}/wall{query}")
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)


def _settled(page, mode: str) -> None:
    """The snapshot applied, the map in ``mode`` and every layer redrawn after it."""
    page.wait_for_function(
        "(mode) => { const m = window.onemap.wall.map; return m.density.count() > 0 && "
        "m.panel.dataset.incidents === mode && !m.density.pending && !m.incidentLayer.pending && "
        "!m.incidentLayer.fresh.length; }",  # new markers are DOM circles for a second
        arg=mode,
    )
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 50)))")


# The largest alpha of a layer's canvas within `r` pixels of a point (lat, lon); -1: not on it
ALPHA_AT = """([layer, lat, lon, r]) => {
  const m = window.onemap.wall.map, p = m.map.latLngToContainerPoint([lat, lon]);
  const canvas = m[layer].canvas, x = Math.round(p.x) - r, y = Math.round(p.y) - r;
  if (x < 0 || y < 0 || x + 2 * r >= canvas.width || y + 2 * r >= canvas.height) return -1;
  const px = canvas.getContext("2d").getImageData(x, y, 2 * r + 1, 2 * r + 1).data;
  let top = 0;
  for (let i = 3; i < px.length; i += 4) top = Math.max(top, px[i]);
  return top;
}"""
PAINTED = """(layer) => { const c = window.onemap.wall.map[layer].canvas;
  const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < px.length; i += 4) if (px[i]) n++; return n; }"""


def _centre(incidents: list[dict]) -> tuple[float, float]:
    return (sum(i["lat"] for i in incidents) / len(incidents),
            sum(i["lon"] for i in incidents) / len(incidents))  # fmt: skip


def test_wall_density_is_drawn_where_the_incidents_are_and_nowhere_far(page, density_server):
    _open(page, density_server)
    _settled(page, "density")
    assert page.evaluate("window.onemap.wall.map.density.matched") == RECENT + OLD + AMBER
    lat, lon = _centre(density_server.recent)
    assert page.evaluate(ALPHA_AT, ["density", lat, lon, 3]) > 100
    assert page.evaluate(ALPHA_AT, ["density", *_centre(density_server.old), 3]) > 100
    assert page.evaluate(ALPHA_AT, ["density", *FAR, 20]) == 0
    # density instead of dots: the marker canvas is blank, its markers kept for a closer view
    assert page.evaluate(PAINTED, "incidentLayer") == 0
    assert page.locator(".wall-legend .only-density").first.is_visible()
    assert page.js_errors == []


def test_wall_density_counts_what_the_url_asks_for(page, density_server):
    lat, lon = _centre(density_server.recent)
    old = _centre(density_server.old)
    # a platform with no incidents: nothing counted, nothing drawn, no markers either
    _open(page, density_server, "?density=sc")
    page.wait_for_function("() => window.onemap.wall.map.density.count() > 0")
    _settled(page, "markers")
    assert page.evaluate("window.onemap.wall.map.density.matched") == 0
    assert page.evaluate(PAINTED, "density") == 0
    assert page.evaluate(PAINTED, "incidentLayer") == 0
    assert page.locator(".legend-filter").inner_text() == "仅 市场监管"
    # the incidents' own category: all of them
    _open(page, density_server, "?density=zf02")
    _settled(page, "density")
    assert page.evaluate("window.onemap.wall.map.density.matched") == RECENT + OLD
    # the last hour: the recent reports, not those of three hours ago (the overdue one among
    # them); the report times come from the snapshot's markers
    _open(page, density_server, "?density=zf&window=1h")
    _settled(page, "density")
    assert page.evaluate("window.onemap.wall.map.density.matched") == RECENT - 1
    assert page.evaluate(ALPHA_AT, ["density", lat, lon, 3]) > 100
    assert page.evaluate(ALPHA_AT, ["density", *old, 12]) == 0
    assert "近1小时" in page.locator(".wall-legend").inner_text()


CLUSTERS = """() => { const d = window.onemap.wall.map.incidentLayer.drawn;
  return {singles: d.singles, clusters: d.clusters.map((c) => [c.n, c.state])}; }"""


def test_wall_cluster_counts_add_up_to_the_incidents_drawn(page, density_server):
    _open(page, density_server, f"?area={COUNTY}")
    _settled(page, "markers")
    drawn = page.evaluate(CLUSTERS)
    counts = [n for n, _ in drawn["clusters"]]
    assert sum(counts) + drawn["singles"] == RECENT  # 鄞州's: the old ones are 慈溪's
    assert max(counts) > 1
    # the overdue incident's cluster is red (worst state first), the others open (blue)
    assert sorted({state for _, state in drawn["clusters"]}) == [0, 2]
    assert [state for _, state in drawn["clusters"]].count(2) == 1
    assert page.js_errors == []


def test_wall_county_zoom_shows_the_markers_again(page, density_server):
    _open(page, density_server)
    _settled(page, "density")
    page.goto(f"{density_server.url}/wall?area={COUNTY}")
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)
    _settled(page, "markers")
    assert page.evaluate(PAINTED, "density") == 0
    assert page.evaluate(PAINTED, "incidentLayer") > 1000
    lat, lon = _centre(density_server.recent)
    assert page.evaluate(ALPHA_AT, ["incidentLayer", lat, lon, 25]) > 200
    assert page.locator(".wall-legend .only-markers").first.is_visible()
    assert not page.locator(".wall-legend .only-density").first.is_visible()


WORKERS_IN = "(n) => window.onemap.wall.map.workerLayer.size === n"


def test_wall_city_counts_the_workers_instead_of_dotting_them(page, density_server):
    _open(page, density_server)
    page.wait_for_function(WORKERS_IN, arg=WORKERS)
    page.wait_for_function("() => !!window.onemap.wall.map.workerLayer.badges")
    badges = page.evaluate("window.onemap.wall.map.workerLayer.badges.map((b) => b.n)")
    hidden = page.evaluate("window.onemap.wall.map.workerLayer.hiddenWorkers")
    assert sum(badges) + hidden == WORKERS and len(badges) <= 3  # one town: a cell or a few
    page.goto(f"{density_server.url}/wall?area={COUNTY}")
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)
    page.wait_for_function(WORKERS_IN, arg=WORKERS)
    assert page.evaluate("window.onemap.wall.map.workerLayer.badges") is None  # dots
    assert page.evaluate(PAINTED, "workerLayer") > 0


MATCHED = "window.onemap.wall.map.density.matched"


def test_wall_density_window_counts_incidents_closed_earlier_today(page, density_server):
    closed = {i["id"] for i in density_server.beilun[AMBER : AMBER + CLOSED]}
    # the last 24 hours: every incident reported in them, the closed ones too
    _open(page, density_server, "?window=24h")
    _settled(page, "density")
    assert page.evaluate(MATCHED) == RECENT + OLD + AMBER + CLOSED
    assert "近24小时" in page.locator(".wall-legend").inner_text()
    # 便民服务's alone: few enough for markers; the closed ones counted, never drawn
    _open(page, density_server, "?density=bm&window=24h")
    _settled(page, "markers")
    assert page.evaluate(MATCHED) == AMBER + CLOSED
    markers = set(page.evaluate("Object.keys(window.onemap.wall.map.incidents)"))
    assert len(markers) == AMBER and not markers & closed
    # open incidents (the default): the closed ones are not counted
    _open(page, density_server, "?density=bm")
    _settled(page, "markers")
    assert page.evaluate(MATCHED) == AMBER
    # a county wall counts its own closed incidents, never another county's
    _open(page, density_server, f"?area={COUNTY}&window=24h")
    _settled(page, "markers")
    assert page.evaluate(MATCHED) == RECENT
    _open(page, density_server, f"?area={AMBER_COUNTY}&window=today")
    _settled(page, "markers")
    assert page.evaluate(MATCHED) == AMBER + CLOSED
    assert page.js_errors == []


def test_wall_cluster_is_amber_from_the_snapshot_alone(page, density_server):
    """Due within 2 hours, no step of them since the page opened nor in its snapshot: the
    markers' deadlines colour the cluster."""
    _open(page, density_server, f"?area={AMBER_COUNTY}")
    _settled(page, "markers")
    drawn = page.evaluate(CLUSTERS)
    assert drawn == {"singles": 0, "clusters": [[AMBER, 1]]}
    assert page.js_errors == []
