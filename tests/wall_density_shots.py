"""The city wall's density view, photographed for docs/: ``python -m tests.wall_density_shots``.

As tests/wall_shots.py: a real redis-server, the server as a subprocess, the simulator's seeded
day (today since midnight and yesterday), Debian's Chromium at 1920x1080. Writes
``wall-density-1920x1080.png`` (the city: incident density, worker counts) and
``wall-density-county-1920x1080.png`` (a county: clustered markers and worker dots).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from feeds.redis_server import start_redis
from tests.live import ROOT, dashboard, sign_in_wall
from tests.wall_shots import shot_browser, simulate, wall_picture

VIEWS = [("", "wall-density-1920x1080.png"), ("?area=330212", "wall-density-county-1920x1080.png")]


def shoot(server, folder: Path) -> list[Path]:
    with shot_browser() as new_page:
        page = new_page()
        sign_in_wall(page, server)
        return [wall_picture(page, server.url, folder / name, query) for query, name in VIEWS]


def main(folder: Path) -> None:
    redis = start_redis()
    simulator = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            simulator = simulate(redis.url, "shots", Path(tmp) / "simulate.log")
            with dashboard(redis.url, "shots", Path(tmp)) as server:
                for path in shoot(server, folder):
                    print(path)
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(timeout=10)
        redis.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs"))
