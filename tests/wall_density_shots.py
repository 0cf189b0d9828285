"""The city wall's density view, photographed for docs/: ``python -m tests.wall_density_shots``.

As tests/wall_shots.py: a real redis-server, the server as a subprocess, the simulator's seeded
day (today since midnight and yesterday), Debian's Chromium at 1920x1080. Writes
``wall-density-1920x1080.png`` (the city: incident density, worker counts) and
``wall-density-county-1920x1080.png`` (a county: clustered markers and worker dots).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from feeds.redis_server import start_redis
from tests.live import CHROMIUM, CHROMIUM_ARGS, ROOT, dashboard, sign_in_wall
from tests.wall_shots import DRAWN, SETTLE_S, simulate

VIEWS = [("", "wall-density-1920x1080.png"), ("?area=330212", "wall-density-county-1920x1080.png")]


def shoot(server, folder: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": 1920, "height": 1080},
                locale="zh-CN",
                timezone_id="Asia/Shanghai",
            )
            page = context.new_page()
            sign_in_wall(page, server)
            for query, name in VIEWS:
                page.goto(f"{server.url}/wall{query}")
                page.wait_for_selector("#wall-root[data-live='1']", timeout=60_000)
                page.wait_for_function(DRAWN, timeout=60_000)
                time.sleep(SETTLE_S)
                page.screenshot(path=str(folder / name))
                written.append(folder / name)
            context.close()
        finally:
            browser.close()
    return written


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
