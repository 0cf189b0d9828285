"""Base maps and layers photographed for docs/: ``python -m tests.maps_shots [FOLDER]``.

As tests/wall_shots.py: a real redis-server, the server as a subprocess, the simulator's seeded
day, Debian's Chromium; the base map is the local WMTS tile server of
tests/tile_server.py (each tile shows its z, x and y), the layers the fixtures of
tests/data/layers. Writes ``wall-wmts-1920x1080.png`` (the city wall on the WMTS base map) and
``duty-layers.png`` (2560x1440: the desk with the layers ticked, zoomed to an incident among
them, whose detail lists the places near it).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from feeds.bus import Bus
from feeds.geo import load_geography
from feeds.redis_server import start_redis
from feeds.schema import decode_trusted
from tests.factories import line
from tests.live import CITY, ROOT, dashboard, sign_in_page, sign_in_wall
from tests.test_maps_browser import LAT, LAYERS, LON, _incident
from tests.tile_server import TileServer
from tests.wall_shots import shot_browser, simulate, wall_picture

PREFIX = "shots"


def _env(tiles: TileServer) -> dict[str, str]:
    return {
        "ONEMAP_TILE_URL": f"{tiles.url}/wmts",
        "ONEMAP_TILE_SERVICE": "wmts",
        "ONEMAP_TILE_LAYERS": "vec",
        "ONEMAP_TILE_PARAMS": "TILEMATRIXSET=w&FORMAT=tiles&tk=demo",
        "ONEMAP_LAYERS_DIR": str(LAYERS),
        "ONEMAP_COOKIE_SECURE": "0",
    }


def shoot(server, incident_id: str, folder: Path) -> list[Path]:
    with shot_browser() as new_page:
        page = new_page()
        sign_in_wall(page, server)
        wall = wall_picture(page, server.url, folder / "wall-wmts-1920x1080.png", "?layers=all")
        # the desk wider: its detail pane covers the map's right 480 px
        desk = _desk(new_page(2560, 1440), server, incident_id, folder)
    return [wall, desk]


def _desk(page, server, incident_id: str, folder: Path) -> Path:
    sign_in_page(page, server.url, "duty-shots")
    page.goto(f"{server.url}/duty?open={incident_id}")
    page.wait_for_selector("#duty-detail .detail-places .place-row", timeout=60_000)
    page.click("#duty-map .layers-toggle")
    for layer in ("hazchem", "rivers", "schools"):
        page.check(f"#duty-map input[data-layer={layer}]")
    page.wait_for_function(
        "() => (document.getElementById('duty-map').dataset.layers || '').split(',').length === 3"
    )
    time.sleep(2)  # the table's first blocks, the area shapes
    # the incident and its neighbourhood in the strip of map the detail pane leaves, and the
    # pane scrolled to its list of the places near the incident
    page.evaluate(
        """([lat, lon]) => { const m = window.onemap.maps['duty-map'];
        const box = m.getContainer().getBoundingClientRect();
        const pane = document.getElementById('duty-detail');
        const strip = (pane.getBoundingClientRect().left - box.left) / 2;
        m.setView([lat, lon], 15, { animate: false });
        m.panBy([m.getSize().x / 2 - strip, -m.getSize().y * 0.05], { animate: false });
        const title = [...pane.querySelectorAll('h3')]
          .find((h) => h.textContent.startsWith('附近重点场所'));
        pane.scrollTop = Math.max(0, title.offsetTop + 260 - pane.clientHeight); }""",
        [LAT, LON],
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('#duty-map img.leaflet-tile')].every((i) =>"
        " i.complete)"
    )
    time.sleep(1)
    target = folder / "duty-layers.png"
    page.screenshot(path=str(target))
    return target


def main(folder: Path) -> None:
    redis = start_redis()
    simulator = None
    try:
        with tempfile.TemporaryDirectory() as tmp, TileServer() as tiles:
            simulator = simulate(redis.url, PREFIX, Path(tmp) / "simulate.log")
            with dashboard(redis.url, PREFIX, Path(tmp), **_env(tiles)) as server:
                incident = _incident(load_geography(), PREFIX)
                Bus(redis.client(), prefix=PREFIX).publish(decode_trusted(line(incident)))
                server.add_user("duty-shots", "duty", CITY, cli=False)
                for path in shoot(server, incident["id"], folder):
                    print(path)
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(timeout=10)
        redis.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs"))
