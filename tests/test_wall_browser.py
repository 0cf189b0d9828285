"""/wall in a real headless Chromium against a real server and a real Redis."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.factories import event_dict, line
from tests.live import dashboard, run_cli, sign_in_wall

pytestmark = pytest.mark.browser
DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture
def wall_server(redis_server, prefix, tmp_path):
    with dashboard(redis_server.url, prefix, tmp_path) as server:
        yield server


def _open_wall(page, server, query: str = "") -> None:
    sign_in_wall(page, server)
    page.goto(f"{server.url}/wall{query}")
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)


def test_wall_draws_the_ten_counties_with_their_names(page, wall_server, geo):
    _open_wall(page, wall_server)
    labels = page.locator(".area-label .area-name").all_text_contents()  # some may be hidden
    assert sorted(labels) == sorted(a.short for a in geo.counties.values())
    assert page.locator("path.leaflet-interactive").count() >= 10
    assert page.js_errors == []


def test_wall_shows_an_event_published_through_the_cli(
    page, wall_server, redis_server, prefix, geo
):
    _open_wall(page, wall_server)
    title = f"井盖缺失 {uuid.uuid4().hex[:6]}"
    raw = line(event_dict(geo, 5, id=f"B-{uuid.uuid4().hex[:8]}", title=title))
    result = run_cli(["publish"], redis_server.url, prefix, raw + b"\n")
    assert result.returncode == 0, result.stdout + result.stderr
    item = page.locator(".ticker-item", has_text=title)
    item.wait_for(timeout=10_000)
    town = geo.towns[event_dict(geo, 5)["area"]["town"]]
    assert town.name in item.inner_text()
    assert page.evaluate("Object.keys(window.onemap.wall.incidents).length") >= 1


PAINTED_AT_MARKER = """(id) => {
  const layer = window.onemap.wall.map.incidentLayer, m = layer.get(id), v = layer.view;
  const x = Math.round(m.x * v.scale + v.dx), y = Math.round(m.y * v.scale + v.dy);
  return layer.canvas.getContext("2d").getImageData(x - 1, y - 1, 3, 3).data.some((c) => c > 0);
}"""


def test_wall_incident_marker_is_on_the_page_at_once_and_then_on_the_canvas(
    page, wall_server, redis_server, prefix, geo
):
    _open_wall(page, wall_server)
    incident = f"M-{uuid.uuid4().hex[:8]}"
    raw = line(event_dict(geo, 11, id=incident, title="路灯不亮"))
    assert run_cli(["publish"], redis_server.url, prefix, raw + b"\n").returncode == 0
    page.wait_for_function("(id) => !!window.onemap.wall.incidents[id]", arg=incident)
    # new: a DOM circle at once (what the latency benchmark's onSteps stamp counts on) ...
    assert page.locator(".fresh-marker").count() >= 1
    # ... merged into the canvas within a second or so, drawn where the marker is
    page.wait_for_function("() => document.querySelectorAll('.fresh-marker').length === 0")
    assert page.evaluate(PAINTED_AT_MARKER, incident)
    # a new page gets it twice, as a snapshot marker and as a snapshot step: still drawn
    page.reload()
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)
    page.wait_for_function("() => document.querySelectorAll('.fresh-marker').length === 0")
    assert page.evaluate(PAINTED_AT_MARKER, incident)
    assert page.js_errors == []


def test_wall_shows_hostile_text_as_text_and_runs_nothing(
    page, wall_server, redis_server, prefix, geo
):
    _open_wall(page, wall_server)
    title = '<img src=x onerror="window.__pwned=1">投诉<script>window.__pwned=2</script>'
    raw = line(event_dict(geo, 6, id=f"X-{uuid.uuid4().hex[:8]}", title=title))
    assert run_cli(["publish"], redis_server.url, prefix, raw + b"\n").returncode == 0
    item = page.locator(".ticker-title", has_text="投诉")
    item.wait_for(timeout=10_000)
    assert item.inner_text() == title
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator(".ticker img, .ticker script").count() == 0


def test_wall_county_view_shows_its_towns(page, wall_server, geo):
    county = "330212"
    _open_wall(page, wall_server, f"?area={county}")
    labels = page.locator(".area-label .area-name").all_text_contents()  # some may be hidden
    assert sorted(labels) == sorted(a.short for a in geo.children(county))
    assert page.locator("#wall-scope").inner_text() == geo.counties[county].name


def test_wall_ranking_shows_the_best_and_the_weakest_with_their_places(page, wall_server, geo):
    """鄞州's 25 towns: the panel's ten rows are places 1-5 and 21-25, a rule before 21, so
    the weakest town is on the wall; in a town, grids are named with their village."""
    _open_wall(page, wall_server, "?area=330212")
    page.wait_for_selector(".ranking-row")
    ranks = page.locator(".ranking-row").evaluate_all(
        "(rows) => rows.map((r) => Number(r.getAttribute('data-rank')))"
    )
    assert ranks == [1, 2, 3, 4, 5, 21, 22, 23, 24, 25]
    assert page.locator(".ranking-row.ranking-gap").count() == 1
    assert page.locator(".ranking-gap .ranking-pos").inner_text() == "21"
    page.goto(f"{wall_server.url}/wall?area=330281004")  # 阳明街道: two 富巷 villages
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)
    page.wait_for_function("() => document.querySelectorAll('.ranking-row').length === 10")
    names = page.locator(".ranking-name").evaluate_all("(ns) => ns.map((n) => n.title)")
    assert len(set(names)) == 10 and all(" 网格" in name for name in names)
    assert page.js_errors == []
