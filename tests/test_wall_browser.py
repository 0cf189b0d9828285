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
    labels = page.locator(".area-label .area-name").all_inner_texts()
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
    labels = page.locator(".area-label .area-name").all_inner_texts()
    assert sorted(labels) == sorted(a.short for a in geo.children(county))
    assert page.locator("#wall-scope").inner_text() == geo.counties[county].name
