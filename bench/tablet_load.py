"""First load of /tablet on a throttled "Fast 3G" link: time to a usable page, and the bytes.

    .venv/bin/python -m bench.tablet_load [--loads 5] [--wall-loads 1] [--screenshots docs]

Real processes on this machine: a redis-server; the simulator's data (``bench.wall_common.
populate``: 10,000 workers, 8,000 events/day, seed 7, today's backfill and ``--history-days``
whole days before it, then the simulator stops); one dashboard server; Debian's headless
Chromium emulating a tablet (768×1024, touch, mobile viewport, device pixel ratio 1).

Each load is a first visit: a fresh context (empty cache) holding a leader's session (signed
in through the real form), then a navigation to /tablet. The link is Chrome DevTools' "Fast
3G" preset through CDP ``Network.emulateNetworkConditions``: 562.5 ms latency, 180,000 B/s
down (1.44 Mbit/s), 84,375 B/s up (675 kbit/s). **Usable** is, in the page on
``performance.now()`` from navigation start, the first animation frame where all of these
hold: the snapshot has been applied (``#tablet-root[data-live='1']``), the map shows its areas
(``#tablet-map[data-areas]`` > 0), the KPI tiles show figures, and the risk list has been
drawn from the server's ``risks`` reply.

Baselines in the same run: the same page unthrottled, and /wall (what a leader would otherwise
open) on the same Fast 3G link. Loads alternate tablet-throttled/tablet-unthrottled; a first,
unthrottled warm-up load is discarded. Bytes: HTTP as transferred (CDP ``encodedDataLength``,
headers included) and WebSocket messages received (their payload, after the socket's
permessage-deflate is undone, so an upper bound of what crossed the link).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import banner, dashboard_server, machine, table, write_json
from bench.wall_common import chromium, chromium_version, populate
from feeds.bus import Bus
from feeds.geo import load_geography
from feeds.redis_server import start_redis
from feeds.sim.options import SimConfig
from tests.live import PASSWORD, sign_in

FAST_3G = {
    "offline": False,
    "latency": 562.5,
    "downloadThroughput": 180_000,
    "uploadThroughput": 84_375,
}
TARGET_MS = 5000.0
TABLET = {"width": 768, "height": 1024}
SHOTS = [("portrait", 768, 1024), ("landscape", 1366, 1024)]

# Installed before any page script: notes the first frame where the page is usable.
WATCH = """
(() => {
  const done = (window.__usable = { at: null });
  function check() {
    const root = document.getElementById("tablet-root");
    const wall = document.getElementById("wall-root");
    if (wall && wall.getAttribute("data-live") === "1") { done.at = performance.now(); return; }
    const map = document.getElementById("tablet-map");
    const kpi = document.querySelector(".tkpi-reported .tkpi-value");
    // the risk list drawn from the server's reply (not the empty list drawn before it)
    const tablet = window.onemap && window.onemap.tablet;
    const risks = document.querySelector("#tablet-risks .risk-group") && tablet
      && tablet.risks && tablet.risks.scope;
    if (root && root.getAttribute("data-live") === "1" && map
        && Number(map.getAttribute("data-areas") || 0) > 0 && kpi && kpi.textContent !== "—"
        && risks) { done.at = performance.now(); return; }
    requestAnimationFrame(check);
  }
  requestAnimationFrame(check);
})();
"""

TIMING = """
() => {
  const nav = performance.getEntriesByType("navigation")[0];
  return { document: nav.responseEnd, domContentLoaded: nav.domContentLoadedEventEnd };
}
"""


class Bytes:
    """HTTP bytes as transferred and WebSocket payloads received, from CDP Network events."""

    def __init__(self, cdp: Any) -> None:
        self.http = 0
        self.requests = 0
        self.ws_in = 0
        self.by_url: Counter[str] = Counter()
        self._urls: dict[str, str] = {}
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.webSocketFrameReceived", self._frame)

    def _sent(self, event: dict[str, Any]) -> None:
        self._urls[event["requestId"]] = event["request"]["url"]

    def _finished(self, event: dict[str, Any]) -> None:
        size = int(event["encodedDataLength"])
        self.http += size
        self.requests += 1
        url = self._urls.get(event["requestId"], "?").split("?")[0]
        self.by_url[url.rsplit("/", 1)[-1] or url] += size

    def _frame(self, event: dict[str, Any]) -> None:
        self.ws_in += len(event["response"]["payloadData"].encode())


def load(
    browser: Any,
    url: str,
    cookie: dict[str, str],
    path: str,
    throttled: bool,
    viewport: dict[str, int] = TABLET,
) -> dict[str, Any]:
    context = browser.new_context(
        viewport=viewport,
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
    )
    try:
        context.add_cookies([{**cookie, "url": url}])
        context.add_init_script(WATCH)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        counted = Bytes(cdp)
        cdp.send("Network.enable")
        if throttled:
            cdp.send("Network.emulateNetworkConditions", FAST_3G)
        started = time.monotonic()
        page.goto(url + path, wait_until="commit", timeout=300_000)
        _wait_usable(page)
        wall_clock = (time.monotonic() - started) * 1000
        usable = page.evaluate("window.__usable.at")
        timing = page.evaluate(TIMING)
        page.wait_for_timeout(500)  # let the last responses' loadingFinished arrive
        return {
            "usable": usable,
            "wall_clock": wall_clock,
            **timing,
            "http": counted.http,
            "requests": counted.requests,
            "ws_in": counted.ws_in,
            "by_url": dict(counted.by_url.most_common(40)),
        }
    finally:
        context.close()


def _wait_usable(page: Any, timeout_s: float = 300.0) -> None:
    """Poll from here: the page's CSP forbids the eval behind ``wait_for_function``. The
    moment itself is noted in the page, so the polling interval does not enter the figure."""
    deadline = time.monotonic() + timeout_s
    while page.evaluate("() => window.__usable.at") is None:
        if time.monotonic() > deadline:
            raise TimeoutError("page not usable in time")
        time.sleep(0.1)


def screenshots(browser: Any, url: str, cookie: dict[str, str], folder: Path) -> list[str]:
    written = []
    for name, width, height in SHOTS:
        context = browser.new_context(
            viewport={"width": width, "height": height},
            device_scale_factor=1,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
        )
        try:
            context.add_cookies([{**cookie, "url": url}])
            page = context.new_page()
            page.goto(url + "/tablet")
            page.wait_for_selector("#tablet-root[data-live='1']", timeout=60_000)
            page.wait_for_selector("#tablet-risks .risk-group", timeout=60_000)
            if width > 1200:  # the trend chart shows beside the map: wait for its data
                page.wait_for_selector("#tablet-trend svg", timeout=60_000)
            page.wait_for_timeout(6000)  # the first panels push colours the map
            target = folder / f"tablet-{name}-{width}x{height}.png"
            page.screenshot(path=str(target))
            written.append(str(target))
        finally:
            context.close()
    return written


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    usable = [r["usable"] for r in rows]
    return {
        "loads": len(rows),
        "usable_median": statistics.median(usable),
        "usable_min": min(usable),
        "usable_max": max(usable),
        "dcl_median": statistics.median(r["domContentLoaded"] for r in rows),
        "http_kib": statistics.median(r["http"] for r in rows) / 1024,
        "requests": statistics.median(r["requests"] for r in rows),
        "ws_kib": statistics.median(r["ws_in"] for r in rows) / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=5, help="measured loads of each tablet kind")
    parser.add_argument("--wall-loads", type=int, default=1, help="/wall on Fast 3G (0: none)")
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--events-per-day", type=float, default=8_000)
    parser.add_argument("--history-days", type=int, default=2)
    parser.add_argument("--screenshots", metavar="DIR", help="also write tablet-*.png here")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args(argv)
    banner("tablet first load, Fast 3G")
    print(f"   {chromium_version()}", flush=True)
    info = machine()
    geo = load_geography()
    redis_server = start_redis()
    try:
        with tempfile.TemporaryDirectory(prefix="tablet-load-") as tmp:
            result = _run(args, redis_server, geo, Path(tmp))
    finally:
        redis_server.stop()
    result["machine"] = info
    write_json(args.json, result)
    return 0


def _run(args: argparse.Namespace, redis_server: Any, geo: Any, tmp: Path) -> dict[str, Any]:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    bus = Bus(redis_server.client(), prefix=prefix)
    config = SimConfig(
        workers=args.workers,
        events_per_day=args.events_per_day,
        seed=7,
        history_days=args.history_days,
    )
    data = populate(bus, geo, config)
    print(
        f"   data: {data.steps:,} event steps, {data.workers:,} workers "
        f"({data.seconds:.0f} s to publish)",
        flush=True,
    )
    from dashboard.access.store import UserStore

    UserStore(bus.client, prefix).add_user("bench-leader", "leader", "330200", PASSWORD)
    with dashboard_server(redis_server.url, prefix, tmp) as server:
        name, _, value = sign_in(server, "bench-leader").partition("=")
        cookie = {"name": name, "value": value}
        runs: dict[str, list[dict[str, Any]]] = {"tablet, Fast 3G": [], "tablet, unthrottled": []}
        with chromium() as browser:
            load(browser, server.url, cookie, "/tablet", throttled=False)  # warm-up
            for i in range(args.loads):
                for kind, throttled in (("tablet, Fast 3G", True), ("tablet, unthrottled", False)):
                    row = load(browser, server.url, cookie, "/tablet", throttled)
                    runs[kind].append(row)
                    print(
                        f"   {kind} #{i + 1}: usable {row['usable']:,.0f} ms, "
                        f"{row['http'] / 1024:,.0f} KiB HTTP, {row['ws_in'] / 1024:,.1f} KiB WS",
                        flush=True,
                    )
            if args.wall_loads:
                runs["/wall, Fast 3G"] = []
            for i in range(args.wall_loads):
                row = load(browser, server.url, cookie, "/wall", throttled=True)
                runs["/wall, Fast 3G"].append(row)
                print(f"   /wall, Fast 3G #{i + 1}: live {row['usable']:,.0f} ms", flush=True)
            shots = (
                screenshots(browser, server.url, cookie, Path(args.screenshots))
                if args.screenshots
                else []
            )
    summary = {kind: _summary(rows) for kind, rows in runs.items()}
    print()
    print(
        table(
            [
                [
                    kind,
                    s["loads"],
                    s["usable_median"],
                    f"{s['usable_min']:,.0f}–{s['usable_max']:,.0f}",
                    s["dcl_median"],
                    s["http_kib"],
                    s["requests"],
                    s["ws_kib"],
                ]
                for kind, s in summary.items()
            ],
            [
                "page",
                "loads",
                "usable ms (median)",
                "min–max",
                "DOMContentLoaded",
                "HTTP KiB",
                "requests",
                "WS KiB",
            ],
        )
    )
    fast = summary["tablet, Fast 3G"]["usable_median"]
    print(
        f"\nTARGET usable on Fast 3G ≤ {TARGET_MS:,.0f} ms: median {fast:,.0f} ms → "
        f"{'met' if fast <= TARGET_MS else 'MISSED'}"
    )
    heaviest = runs["tablet, Fast 3G"][-1]["by_url"]
    print("heaviest responses of a throttled tablet load (bytes):")
    for url, size in heaviest.items():
        print(f"   {size:>9,}  {url}")
    for path in shots:
        print(f"screenshot: {path}")
    return {
        "data": data.__dict__,
        "fast3g": FAST_3G,
        "summary": summary,
        "runs": runs,
        "screenshots": shots,
    }


if __name__ == "__main__":
    raise SystemExit(main())
