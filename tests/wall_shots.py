"""The wall in every shape, photographed for docs/: ``python -m tests.wall_shots [FOLDER]``.

As the browser tests do it: a real redis-server, the real server as a subprocess, Debian's
Chromium; the data is the simulator's (seeded, today since midnight and yesterday), so the
pictures show an ordinary day. Each shape gets a window of its size and ``wall-WxH.png``
(``wall-WxH-seams.png`` with ``?seams=``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from feeds.redis_server import start_redis
from tests.live import CHROMIUM, CHROMIUM_ARGS, ROOT, dashboard, sign_in_wall

# (width, height, query): spliced grids of 1080p screens also with their seams kept clear
SHAPES = [
    (1920, 1080, ""),
    (3840, 1080, ""),
    (5760, 1080, ""),
    (3840, 2160, ""),
    (3840, 2160, "?seams=2x2"),
    (5760, 3240, "?seams=3x3"),
]
SETTLE_S = 8  # the ticker fills, the charts and index arrive, the labels are placed
DRAWN = """() => ['wall-trend', 'wall-categories', 'wall-flow'].every((id) =>
  document.querySelectorAll('#' + id + ' .main-svg .trace').length > 0)"""


def simulate(redis_url: str, prefix: str, log: Path) -> subprocess.Popen[bytes]:
    """The simulator, once its backfill is in the log."""
    env = dict(os.environ, ONEMAP_REDIS_URL=redis_url, ONEMAP_PREFIX=prefix)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "onemap.cli", "simulate", "--seed", "7", "--history-days", "1"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    while "backfill done" not in log.read_text(errors="replace"):
        if process.poll() is not None:
            raise RuntimeError(f"the simulator stopped:\n{log.read_text(errors='replace')}")
        time.sleep(0.5)
    return process


@contextmanager
def shot_browser() -> Iterator[Callable[..., Any]]:
    """Chromium for the pictures: yields ``new_page(width, height)``, a page in a window of its
    own, in China's language and time zone (closed with the browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def new_page(width: int = 1920, height: int = 1080) -> Any:
            viewport = {"width": width, "height": height}
            context = browser.new_context(
                viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai"
            )
            return context.new_page()

        try:
            yield new_page
        finally:
            browser.close()


def wall_picture(page: Any, url: str, target: Path, query: str = "") -> Path:
    """The wall at ``url`` (the page signed in as a wall) once live, drawn and settled."""
    page.goto(f"{url}/wall{query}")
    page.wait_for_selector("#wall-root[data-live='1']", timeout=60_000)
    page.wait_for_function(DRAWN, timeout=60_000)
    time.sleep(SETTLE_S)
    page.screenshot(path=str(target))
    return target


def shoot(url: str, server, folder: Path) -> list[Path]:
    written = []
    with shot_browser() as new_page:
        for width, height, query in SHAPES:
            page = new_page(width, height)
            sign_in_wall(page, server)
            name = f"wall-{width}x{height}{'-seams' if query else ''}.png"
            written.append(wall_picture(page, url, folder / name, query))
            page.context.close()
    return written


def main(folder: Path) -> None:
    redis = start_redis()
    simulator = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            simulator = simulate(redis.url, "shots", Path(tmp) / "simulate.log")
            with dashboard(redis.url, "shots", Path(tmp)) as server:
                for path in shoot(server.url, server, folder):
                    print(path)
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(timeout=10)
        redis.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs"))
