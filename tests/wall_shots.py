"""The wall in every shape, photographed for docs/: ``python -m tests.wall_shots [FOLDER]``.

As the browser tests do it: a real redis-server, the real server as a subprocess, Debian's
Chromium; the data is the simulator's (seeded, today since midnight and yesterday), so the
pictures show an ordinary day. Each shape gets a window of its size and ``wall-WxH.png``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from feeds.redis_server import start_redis
from tests.live import CHROMIUM, CHROMIUM_ARGS, ROOT, dashboard, sign_in_wall

SHAPES = [(1920, 1080), (3840, 1080), (5760, 1080), (3840, 2160)]
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


def shoot(url: str, server, folder: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for width, height in SHAPES:
                context = browser.new_context(
                    viewport={"width": width, "height": height},
                    locale="zh-CN",
                    timezone_id="Asia/Shanghai",
                )
                page = context.new_page()
                sign_in_wall(page, server)
                page.goto(f"{url}/wall")
                page.wait_for_selector("#wall-root[data-live='1']", timeout=60_000)
                page.wait_for_function(DRAWN, timeout=60_000)
                time.sleep(SETTLE_S)
                target = folder / f"wall-{width}x{height}.png"
                page.screenshot(path=str(target))
                written.append(target)
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
                for path in shoot(server.url, server, folder):
                    print(path)
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(timeout=10)
        redis.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs"))
