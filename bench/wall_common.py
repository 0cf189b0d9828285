"""What the wall benchmarks share: the data, the browser, signed-in pages, CDP helpers.

The data is the simulator's own: ``feeds.sim.run.run`` backfills today's incidents since local
midnight into a fresh key prefix and publishes its first round of fixes, then stops, so every
load sees the same, static state. The simulator only sends fixes for workers on duty, which is
15 % of them at night: ``full_roster`` also publishes every worker's fix at the two shift peaks
(the day shift at 10:30, the night duty at 22:00, taken from the same seeded model and stamped
now), so the wall carries all ``workers`` points whatever the hour the benchmark runs at.

Processes are our own children, stopped by their handles in ``finally`` blocks; the browser is
Debian's Chromium driven by playwright (``tests.live.CHROMIUM``), never a downloaded one.
"""

from __future__ import annotations

import io
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from bench.common import kiosk_token, session_cookie
from feeds.bus import EVENTS, Bus
from feeds.geo import Geography
from feeds.schema import PositionMessage
from feeds.sim.model import Model
from feeds.sim.options import SimConfig
from feeds.sim.run import run as run_simulator
from feeds.sim.simtime import HOUR, MINUTE, local_midnight, to_datetime, to_ms
from tests.live import CHROMIUM, CHROMIUM_ARGS

CITY = "330200"
VIEWPORT = {"width": 1920, "height": 1080}  # the wall's own resolution
SHIFT_PEAKS = (10 * HOUR + 30 * MINUTE, 22 * HOUR)  # day shift, night duty: all on at once
BACKFILL_TIMEOUT_S = 600.0


# -- data -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Populated:
    steps: int  # event steps in the log
    workers: int  # workers with a fix in the hash (what the snapshot sends)
    seconds: float


class _BackfillDone(io.StringIO):
    """The simulator's progress stream: notes when its backfill is over."""

    def __init__(self) -> None:
        super().__init__()
        self.done = threading.Event()

    def write(self, text: str) -> int:
        if "backfill done" in text:
            self.done.set()
        return len(text)


def roster_fixes(geo: Geography, config: SimConfig, now: datetime) -> list[PositionMessage]:
    """One fix per worker of the seeded roster: where it stands at its shift's peak, now."""
    now_ms = to_ms(now)
    quiet = SimConfig(workers=config.workers, events_per_day=0, seed=config.seed, backfill=False)
    latest: dict[str, PositionMessage] = {}
    for offset in SHIFT_PEAKS:
        at = to_datetime(local_midnight(now_ms) + offset)
        for fix in Model(geo, quiet, at, at).take(to_ms(at), 10**7):
            assert isinstance(fix, PositionMessage)
            latest[fix.worker] = msgspec.structs.replace(fix, ts=now)
    return list(latest.values())


def populate(bus: Bus, geo: Geography, config: SimConfig, full_roster: bool = True) -> Populated:
    """Today's events and the workers' fixes in ``bus``'s prefix; returns what is there."""
    assert config.seed is not None, "a fixed seed: the roster must be the simulator's"
    started = time.monotonic()
    if full_roster:
        fixes = roster_fixes(geo, config, datetime.now(UTC) - timedelta(seconds=5))
        for i in range(0, len(fixes), 500):
            bus.publish_many(fixes[i : i + 500])
    progress, stop = _BackfillDone(), threading.Event()
    thread = threading.Thread(
        target=run_simulator, args=(bus, geo, config), kwargs={"stop": stop, "progress": progress}
    )
    thread.start()
    try:
        # The backfill ends with every on-duty worker's first fix (all due by now).
        if not progress.done.wait(BACKFILL_TIMEOUT_S):
            raise RuntimeError(f"simulator backfill not done within {BACKFILL_TIMEOUT_S:g}s")
    finally:
        stop.set()
        thread.join(timeout=30)
    return Populated(
        steps=int(bus.client.xlen(bus.keys[EVENTS])),
        workers=int(bus.client.hlen(bus.keys["workers"])),
        seconds=time.monotonic() - started,
    )


# -- browser --------------------------------------------------------------------------------
def chromium_version() -> str:
    out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or out.stderr.strip()


@contextmanager
def chromium(*extra_args: str) -> Iterator[Any]:
    """Debian's Chromium, headless, with the tests' flags plus ``extra_args``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield browser
        finally:
            browser.close()


class Wall:
    """Signs walls in: one kiosk token per server, one session cookie per browser context."""

    def __init__(self, server_url: str, redis_url: str, prefix: str, scope: str = CITY) -> None:
        self.url = server_url
        self.scope = scope
        self.token = kiosk_token(redis_url, prefix, scope)

    def context(self, browser: Any) -> Any:
        """A fresh context (empty cache: a first load) already holding a wall session."""
        context = browser.new_context(
            viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        name, _, value = session_cookie(self.url, self.token).partition("=")
        context.add_cookies([{"name": name, "value": value, "url": self.url}])
        return context

    def page_url(self) -> str:
        return f"{self.url}/wall" + ("" if self.scope == CITY else f"?area={self.scope}")


def open_wall(context: Any, url: str, timeout_ms: float = 60_000) -> Any:
    """A page on ``url``, waited for until live; page errors collected in ``page.js_errors``."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    page.goto(url)
    page.wait_for_selector("#wall-root[data-live='1']", timeout=timeout_ms)
    return page
