"""Publish → DOM latency of an event step on the wall, against a 1 s polling Dash page.

    .venv/bin/python -m bench.latency [--measure 30] [--json out.json]

Load, all real processes on this machine: a redis-server; the simulator (`onemap simulate`)
sending 10,000 workers' positions at ~1,000/s; the dashboard server; 20 screens on the city
scope (the measured headless Chromium on /wall at 1920×1080, and 19 python-socketio clients in
their own processes); and new event steps at a fixed 200/s with unique titles. The publisher
notes the wall clock just before each ``publish_many``; in the page a MutationObserver on
``.ticker`` notes the wall clock when a title first enters the DOM.

The same run, the same steps and the same measurement also drive the baseline: a Dash page
that polls Redis every second (``bench/polling_app.py``), served by its own process and open
in a second browser context. The ratio of the two medians is the headline: it does not depend
on how fast or noisy this machine is, the absolute figures do.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.clients import ClientFleet, ClientSpec, Record
from bench.common import (
    PY,
    ROOT,
    CpuMeter,
    banner,
    dashboard_server,
    descendants_named,
    kiosk_token,
    machine,
    rss_mb,
    stop_process,
    summary,
    table,
    wait_http,
    write_json,
)
from bench.load import event_messages, publish_events, simulator_speed, start_simulator
from feeds.bus import POSITIONS, Bus
from feeds.geo import load_geography
from feeds.redis_server import free_port, start_redis
from tests.live import CHROMIUM, CHROMIUM_ARGS

TARGET_P99_MS = 250.0
TARGET_RATIO = 20.0

# Installed before any page script: finds `.ticker` when the page renders it, then notes the
# first time each LAT-nnnnnn title is in it. New <li>s (the wall) and React rewriting the text
# of existing ones (the polling page) are both caught.
OBSERVER = """
(() => {
  const TAG = /LAT-\\d{6}/g;
  const seen = new Map();
  window.__bench = { seen: seen, attached: false };
  const stamp = () => performance.timeOrigin + performance.now();
  function note(node, now) {
    const text = node && node.textContent;
    if (!text || text.indexOf("LAT-") < 0) return;
    for (const m of text.matchAll(TAG)) if (!seen.has(m[0])) seen.set(m[0], now);
  }
  function watch(ticker) {
    window.__bench.attached = true;
    new MutationObserver((records) => {
      const now = stamp();
      for (const r of records) {
        if (r.type === "characterData") { note(r.target, now); continue; }
        r.addedNodes.forEach((n) => note(n, now));
        if (r.target !== ticker) note(r.target, now);
      }
    }).observe(ticker, { childList: true, subtree: true, characterData: true });
    note(ticker, stamp());
  }
  const finder = new MutationObserver(() => {
    const ticker = document.querySelector(".ticker");
    if (ticker) { finder.disconnect(); watch(ticker); }
  });
  finder.observe(document, { childList: true, subtree: true });
})();
"""


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    add = parser.add_argument
    add("--events-rate", type=float, default=200.0, help="event steps per second")
    add("--positions-rate", type=float, default=1000.0, help="simulated positions per second")
    add("--workers", type=int, default=10_000, help="simulated grid workers")
    add("--speed", type=float, default=None, help="simulator speed (default: from the rate)")
    add("--screens", type=int, default=20, help="the page + python clients on the city scope")
    add("--warmup", type=float, default=10.0, help="seconds of load before measuring")
    add("--measure", type=float, default=30.0, help="seconds of published steps measured")
    add("--poll-count", type=int, default=250, help="steps the polling page shows")
    add("--seed", type=int, default=7)
    add("--keep", action="store_true", help="keep the temporary directory (server logs)")
    add("--json", default=None, help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    banner("bench.latency: publish → DOM, push vs 1 s polling")
    tmp = Path(tempfile.mkdtemp(prefix="onemap-bench-latency-"))
    try:
        result = _run(args, tmp)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    _report(result)
    write_json(args.json, result)
    return 0


def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    geo = load_geography()
    city = geo.city.code
    prefix = "bench"
    ctx = mp.get_context("spawn")
    with ExitStack() as stack:
        redis_server = start_redis()
        stack.callback(redis_server.stop)
        speed = args.speed or simulator_speed(geo, args.workers, args.positions_rate, args.seed)
        print(f"-- simulator: {args.workers:,} workers at speed {speed:g}", flush=True)
        simulator = start_simulator(
            redis_server.url, prefix, args.workers, speed, args.seed, tmp / "simulate.log"
        )
        stack.callback(stop_process, simulator)
        bus = Bus(redis_server.client(), prefix=prefix)
        _wait_for(lambda: bus.client.xlen(bus.keys[POSITIONS]) > 0, "simulated positions")

        # Started with positions already flowing: the bridge never sees a quiet start.
        server = stack.enter_context(dashboard_server(redis_server.url, prefix, tmp))
        polling = _start_polling_app(redis_server.url, prefix, args.poll_count, tmp)
        stack.callback(stop_process, polling[0])

        token = kiosk_token(redis_server.url, prefix, city)
        spec = ClientSpec(server.url, city, token, 1, record_steps=True)
        fleet = ClientFleet(spec, args.screens - 1)
        stack.callback(fleet.stop)
        connected = fleet.start()
        print(f"-- {connected} python screens connected", flush=True)

        total = int(args.events_rate * (args.warmup + args.measure))
        messages = event_messages(geo, total)
        pages = _open_pages(stack, f"{server.url}/wall?kiosk={token}", polling[1])
        print("-- wall and polling page live; publishing", flush=True)

        start = time.time() + 1.0
        sent_q: mp.Queue = ctx.Queue()
        publisher = ctx.Process(
            target=publish_events,
            args=(redis_server.url, prefix, messages, args.events_rate, start, 0.01, sent_q),
            daemon=True,
        )
        publisher.start()
        stack.callback(_end, publisher)
        window = (start + args.warmup, start + args.warmup + args.measure)
        groups = {
            "server": [server.process.pid],
            "simulator": [simulator.pid],
            "publisher": [publisher.pid],
            "python screens": fleet.pids,
            "chromium (both pages)": descendants_named("chrom"),
            "polling app": [polling[0].pid],
            "redis": [redis_server.process.pid],
        }
        load = _measure_window(window, CpuMeter(groups), bus, pages["push"])
        sent: dict[str, float] = sent_q.get(timeout=args.warmup + args.measure + 60)
        time.sleep(3.0)  # the last steps reach both pages (the poller needs up to 1 s more)
        seen = {name: page.evaluate("Object.fromEntries(window.__bench.seen)") for name, page
                in pages.items()}  # fmt: skip
        wall_stats = pages["push"].evaluate("window.onemap.stats")
        records = fleet.flush()
        load["server_rss_mb"] = rss_mb(server.process.pid)
        load["server_tracebacks"] = server.tracebacks()
    measured = {t for t, at in sent.items() if window[0] * 1000 <= at < window[1] * 1000}
    return {
        "machine": machine(),
        "config": {**vars(args), "simulator_speed": speed, "screens_connected": connected + 1},
        "load": load,
        "wall_stats": wall_stats,
        "push": _latencies(measured, sent, seen["push"]),
        "polling": _latencies(measured, sent, seen["polling"]),
        "socket": _socket_latencies(measured, sent, records),
    }


def _wait_for(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {what} within {timeout}s")
        time.sleep(0.1)


def _end(process: mp.Process) -> None:
    if process.is_alive():
        process.terminate()
    process.join(timeout=10)


def _start_polling_app(
    redis_url: str, prefix: str, count: int, tmp: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [PY, "-m", "bench.polling_app", "--redis-url", redis_url, "--prefix", prefix,
               "--port", str(port), "--count", str(count)]  # fmt: skip
    with open(tmp / "polling.log", "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_http(url, process)
    except RuntimeError:
        stop_process(process)
        raise
    return process, url


def _open_pages(stack: ExitStack, wall_url: str, polling_url: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    playwright = stack.enter_context(sync_playwright())
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    stack.callback(browser.close)
    pages = {}
    for name, url in (("push", wall_url), ("polling", polling_url)):
        # A context each: two separate screens, neither sharing the other's page cache.
        context = browser.new_context(
            viewport={"width": 1920, "height": 1080}, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        page = context.new_page()
        page.add_init_script(OBSERVER)
        page.goto(url)
        pages[name] = page
    pages["push"].wait_for_selector("#wall-root[data-live='1']", timeout=60_000)
    pages["polling"].wait_for_function("window.__bench && window.__bench.attached", timeout=60_000)
    return pages


def _measure_window(
    window: tuple[float, float], cpu: CpuMeter, bus: Bus, wall: Any
) -> dict[str, Any]:
    """CPU of every process, and positions offered and drawn, over the measured window."""
    time.sleep(max(0.0, window[0] - time.time()))
    offered0 = bus.stats().get("accepted:position", 0)
    drawn0 = wall.evaluate("window.onemap.stats.positions")
    cpu.start()
    time.sleep(max(0.0, window[1] - time.time()))
    used = cpu.stop()
    seconds = window[1] - window[0]
    return {
        "cpu_percent": used,
        "positions_offered_per_s": (bus.stats().get("accepted:position", 0) - offered0) / seconds,
        "positions_drawn_per_s": (wall.evaluate("window.onemap.stats.positions") - drawn0)
        / seconds,
    }


def _latencies(
    measured: set[str], sent: dict[str, float], seen: dict[str, float]
) -> dict[str, Any]:
    values = [seen[t] - sent[t] for t in measured if t in seen]
    return {**summary(values), "published": len(measured), "missed": len(measured) - len(values)}


def _socket_latencies(
    measured: set[str], sent: dict[str, float], records: list[Record]
) -> dict[str, Any]:
    """Publish → python-socketio handler, over all python screens: the DOM's share is the rest."""
    values = [
        at * 1000 - sent[title]
        for record in records
        for title, at in record.steps
        if title in measured
    ]
    return summary(values)


def _report(result: dict[str, Any]) -> None:
    push, polling, socket_ = result["push"], result["polling"], result["socket"]
    load = result["load"]
    print()
    print(
        f"load: {load['positions_offered_per_s']:,.0f} positions/s offered, "
        f"{load['positions_drawn_per_s']:,.0f}/s drawn by the wall; "
        f"{result['config']['events_rate']:g} steps/s; "
        f"{result['config']['screens_connected']} screens"
    )
    rows = [
        [name, r["count"], r.get("missed", "—"), r["p50"], r["p95"], r["p99"], r["max"]]
        for name, r in (
            ("push: publish → wall DOM", push),
            ("push: publish → python socket", socket_),
            ("polling 1 s: publish → DOM", polling),
        )
    ]
    print(table(rows, ["publish → ... (ms)", "n", "missed", "p50", "p95", "p99", "max"]))
    print()
    print(table(sorted(load["cpu_percent"].items()), ["CPU over the window", "% of one core"]))
    print(f"server RSS {load['server_rss_mb']:.0f} MiB")
    if load["server_tracebacks"]:
        print(f"!! server log has tracebacks: {load['server_tracebacks']}")
    ratio = polling["p50"] / push["p50"] if push["p50"] else float("nan")
    print()
    print(f"RATIO p50 polling / p50 push = {ratio:.1f}x  (target ≥ {TARGET_RATIO:g}x: "
          f"{'met' if ratio >= TARGET_RATIO else 'MISSED'})")  # fmt: skip
    print(f"p99 push = {push['p99']:.0f} ms  (target ≤ {TARGET_P99_MS:g} ms: "
          f"{'met' if push['p99'] <= TARGET_P99_MS else 'MISSED'})")  # fmt: skip
    result["ratio_p50"] = ratio


if __name__ == "__main__":
    raise SystemExit(main())
