"""Heap growth of the wall over a long soak under the simulator's live feed.

    .venv/bin/python -m bench.wall_soak [--minutes 30] [--speed 1] [--json out.json]

Real processes on this machine: a redis-server; the simulator (`onemap simulate`, 10,000
workers, 8,000 events/day, with today's backfill, at ``--speed``); the dashboard server; and
headless Chromium (``--enable-precise-memory-info``) with two walls on the city, each in its
own context: the measured one on the simulator's prefix, and the baseline, the same page on
an empty prefix of a second server (no data: what the page's heap does by itself). A wall with
no data is "stale" and reloads itself after 10 minutes, which would reset its heap: the
baseline's health check is switched off in its page (the measured wall keeps its own).

The walls go live, settle for ``--warmup`` seconds, then every ``--interval`` seconds each
gets two full garbage collections through CDP (``HeapProfiler.collectGarbage``) and is sampled:
``performance.memory.usedJSHeapSize``, CDP ``Memory.getDOMCounters`` (nodes, JS listeners),
and the wall's own counters. Growth is (last − first) / first of the measured page; the wall
reloads itself past ``max_heap_mb`` or when stale, so reloads are counted and reported.
A sample can catch a transient (a pulse ring, a chart being redrawn: +1 MiB, +150 nodes), so
the steady growth, the median of the last three samples against the first three, and the
least-squares slope are reported beside it; the target is judged on both growths.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    banner,
    dashboard_server,
    machine,
    rss_mb,
    run_in_tmp,
    stop_process,
    table,
)
from bench.wall_common import CITY, Wall, chromium, chromium_version, open_wall
from feeds.redis_server import start_redis

TARGET_GROWTH_PERCENT = 10.0
MB = 2**20

SAMPLE_JS = """
() => {
  const o = window.onemap || {}, wall = o.wall, map = wall && wall.map;
  const fresh = window.__soak !== 1;  // the wall reloaded itself since the last sample
  window.__soak = 1;
  const health = document.querySelector(".wall-health");
  return {
    heap: performance.memory.usedJSHeapSize,
    heapTotal: performance.memory.totalJSHeapSize,
    elements: document.querySelectorAll("*").length,
    workers: map ? map.workerLayer.size : 0,
    incidents: map ? Object.keys(map.incidents).length : 0,
    tickerItems: document.querySelectorAll(".ticker-item").length,
    health: health ? health.getAttribute("data-state") : null,
    stats: o.stats || {},
    reloaded: fresh,
  };
}
"""


@dataclass
class Watched:
    """One wall under the soak, with its CDP session and its samples."""

    name: str
    page: Any
    cdp: Any
    samples: list[dict[str, Any]] = field(default_factory=list)
    reloads: int = -1  # the first sample finds no mark: that is the first load, not a reload

    def sample(self, minute: float) -> dict[str, Any]:
        for _ in range(2):  # a second pass also frees what the first one's finalizers let go
            self.cdp.send("HeapProfiler.collectGarbage")
        row = self.page.evaluate(SAMPLE_JS)
        row.update(self.cdp.send("Memory.getDOMCounters"))
        row["minute"] = minute
        self.reloads += int(row["reloaded"])
        self.samples.append(row)
        return row


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.wall_soak", description=__doc__)
    add = parser.add_argument
    add("--minutes", type=float, default=30.0, help="soak length after the warm-up")
    add("--interval", type=float, default=60.0, help="seconds between samples")
    add("--warmup", type=float, default=60.0, help="seconds live before the first sample")
    add("--workers", type=int, default=10_000)
    add("--events-per-day", type=int, default=8000)
    add("--speed", type=float, default=1.0, help="simulator time compression (10: compressed)")
    add("--seed", type=int, default=7)
    add("--scope", default=CITY, help="area the walls show (a county turns patrol tracks on)")
    add("--keep", action="store_true", help="keep the temporary directory (logs)")
    add("--json", default=None, help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    banner(f"bench.wall_soak: wall heap over {args.minutes:g} min at speed {args.speed:g}")
    print(f"   {chromium_version()}", flush=True)
    return run_in_tmp("wall-soak", args, _run, _report, keep=args.keep)


def _start_simulator(redis_url: str, prefix: str, args: argparse.Namespace, log: Path) -> Any:
    """`onemap simulate` with today's backfill, exactly as `onemap demo` runs it."""
    env = dict(os.environ, ONEMAP_REDIS_URL=redis_url, ONEMAP_PREFIX=prefix)
    command = [
        sys.executable,
        "-m",
        "onemap.cli",
        "simulate",
        "--workers",
        str(args.workers),
        "--events-per-day",
        str(args.events_per_day),
        "--speed",
        str(args.speed),
        "--seed",
        str(args.seed),
    ]
    with open(log, "wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_backfill(process: Any, log: Path, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        for line in text.splitlines():
            if line.startswith("backfill done"):
                return line
        if process.poll() is not None:
            raise RuntimeError(f"simulator exited: {text[-2000:]}")
        time.sleep(0.5)
    raise RuntimeError(f"simulator backfill not done within {timeout:g}s")


def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    with ExitStack() as stack:
        redis_server = start_redis()
        stack.callback(redis_server.stop)
        simulator = _start_simulator(redis_server.url, "soak", args, tmp / "simulate.log")
        stack.callback(stop_process, simulator)
        backfill = _wait_backfill(simulator, tmp / "simulate.log")
        print(f"-- simulator: {backfill}", flush=True)
        server = stack.enter_context(dashboard_server(redis_server.url, "soak", tmp))
        empty = stack.enter_context(dashboard_server(redis_server.url, "soak-empty", tmp))
        browser = stack.enter_context(chromium("--enable-precise-memory-info"))
        walls = [
            _watch(browser, "data", Wall(server.url, redis_server.url, "soak", args.scope)),
            _watch(
                browser, "baseline", Wall(empty.url, redis_server.url, "soak-empty", args.scope)
            ),
        ]
        walls[1].page.evaluate("() => { window.onemap.wall.checkHealth = () => {}; }")
        print(f"-- walls live; warming up {args.warmup:g}s", flush=True)
        time.sleep(args.warmup)
        rss = {"server_start_mb": rss_mb(server.process.pid)}
        feed = {"simulator": simulator, "server": server.process, "baseline server": empty.process}
        _soak(walls, args.minutes, args.interval, feed)
        rss["server_end_mb"] = rss_mb(server.process.pid)
        errors = {w.name: w.page.js_errors for w in walls}
        tracebacks = server.tracebacks()
    return {
        "machine": machine(),
        "chromium": chromium_version(),
        "config": vars(args),
        "backfill": backfill,
        "walls": {w.name: {"samples": w.samples, "reloads": w.reloads} for w in walls},
        "server": {**rss, "tracebacks": tracebacks},
        "js_errors": errors,
    }


def _watch(browser: Any, name: str, wall: Wall) -> Watched:
    context = wall.context(browser)
    page = open_wall(context, wall.page_url())
    return Watched(name, page, context.new_cdp_session(page))


def _soak(walls: list[Watched], minutes: float, interval: float, feed: dict[str, Any]) -> None:
    """Samples at absolute times, so a slow sample does not stretch the soak."""
    start = time.monotonic()
    count = int(minutes * 60 // interval)
    for k in range(count + 1):
        time.sleep(max(0.0, start + k * interval - time.monotonic()))
        # A wall whose feed died keeps a flat heap: that must fail, not pass.
        dead = [name for name, process in feed.items() if process.poll() is not None]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited during the soak (at sample {k})")
        minute = (time.monotonic() - start) / 60
        rows = [w.sample(minute) for w in walls]
        data = rows[0]
        print(
            f"   {minute:5.1f} min  heap {data['heap'] / MB:7.2f} MiB (baseline "
            f"{rows[1]['heap'] / MB:6.2f})  nodes {data['nodes']:,}  listeners "
            f"{data['jsEventListeners']:,}  workers {data['workers']:,}  "
            f"frames {data['stats'].get('frames', 0):,}  steps {data['stats'].get('steps', 0):,}"
            f"  health {data['health']}",
            flush=True,
        )


def growth(samples: list[dict[str, Any]], key: str = "heap") -> dict[str, float]:
    """First, last and max of ``key`` in MiB, growth % and the least-squares slope per hour."""
    values = [s[key] / MB for s in samples]
    minutes = [s["minute"] for s in samples]
    first, last = values[0], values[-1]
    head, tail = statistics.median(values[:3]), statistics.median(values[-3:])
    return {
        "start": first,
        "end": last,
        "max": max(values),
        "growth_percent": 100 * (last - first) / first,
        "steady_growth_percent": 100 * (tail - head) / head,
        "slope_per_hour": 60 * _slope(minutes, values),
    }


def _slope(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    if n < 2:
        return float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def _rates(samples: list[dict[str, Any]]) -> dict[str, float]:
    """What the measured wall received over the soak, per second."""
    first, last = samples[0], samples[-1]
    seconds = 60 * (last["minute"] - first["minute"]) or float("nan")
    stat = lambda s, k: s["stats"].get(k, 0)  # noqa: E731
    return {
        "positions_per_s": (stat(last, "positions") - stat(first, "positions")) / seconds,
        "frames_per_s": (stat(last, "frames") - stat(first, "frames")) / seconds,
        "steps_per_s": (stat(last, "steps") - stat(first, "steps")) / seconds,
        "max_frame_ms": stat(last, "maxFrameMs"),
    }


HEADER = ["wall", "heap start MiB", "end", "max", "growth %", "steady %", "MiB/h", "DOM nodes",
          "JS listeners", "reloads"]  # fmt: skip


def _row(name: str, wall: dict[str, Any]) -> list[object]:
    g = wall["growth"] = growth(wall["samples"])
    s0, s1 = wall["samples"][0], wall["samples"][-1]
    return [name, g["start"], g["end"], g["max"], g["growth_percent"],
            g["steady_growth_percent"], g["slope_per_hour"],
            f"{s0['nodes']:,} → {s1['nodes']:,}",
            f"{s0['jsEventListeners']:,} → {s1['jsEventListeners']:,}",
            wall["reloads"]]  # fmt: skip


def _report(result: dict[str, Any]) -> None:
    walls = result["walls"]
    print()
    print(table([_row(name, wall) for name, wall in walls.items()], HEADER))
    data = walls["data"]
    rates = data["rates"] = _rates(data["samples"])
    s1 = data["samples"][-1]
    print(
        f"measured wall received {rates['positions_per_s']:,.0f} positions/s in "
        f"{rates['frames_per_s']:.2f} frames/s and {rates['steps_per_s']:.3f} steps/s; "
        f"{s1['workers']:,} workers and {s1['incidents']:,} incident markers on the map; "
        f"max frame {rates['max_frame_ms']:.1f} ms"
    )
    server = result["server"]
    print(f"server RSS {server['server_start_mb']:.0f} → {server['server_end_mb']:.0f} MiB")
    for name, errors in result["js_errors"].items():
        if errors:
            print(f"!! {name} page errors: {errors[:5]}")
    if server["tracebacks"]:
        print(f"!! server log has tracebacks: {server['tracebacks']}")
    g, base = data["growth"], walls["baseline"]["growth"]
    print()
    print(f"RATIO heap end/start: data {1 + g['growth_percent'] / 100:.3f}, "
          f"baseline (no data) {1 + base['growth_percent'] / 100:.3f}")  # fmt: skip
    worst = max(g["growth_percent"], g["steady_growth_percent"])
    met = worst <= TARGET_GROWTH_PERCENT and data["reloads"] == 0
    verdict = "met" if met else "MISSED"
    print(f"heap growth = {g['growth_percent']:+.1f} % (steady {g['steady_growth_percent']:+.1f} "
          f"%, {g['slope_per_hour']:+.2f} MiB/h) over {s1['minute']:.0f} min, {data['reloads']} "
          f"reloads (target ≤ {TARGET_GROWTH_PERCENT:g} %: {verdict})")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
