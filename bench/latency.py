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
import json
import math
import multiprocessing as mp
import subprocess
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import redis

from bench.clients import ClientFleet, ClientSpec, Record
from bench.common import (
    PY,
    ROOT,
    CpuMeter,
    PySpy,
    banner,
    dashboard_server,
    descendants_named,
    kiosk_token,
    machine,
    print_profile,
    rss_mb,
    run_in_tmp,
    say,
    stop_process,
    summary,
    table,
    wait_http,
    worker_pid,
)
from bench.load import event_messages, publish_events, simulator_speed, start_simulator
from feeds.bus import POSITIONS, Bus
from feeds.geo import load_geography
from feeds.redis_server import free_port, start_redis
from tests.live import CHROMIUM, CHROMIUM_ARGS

PREFIX = "bench"  # of every Redis key; the benchmark's redis-server is its own anyway
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


# The wall's ticker paces what it shows (≤ ~7 items/s, folding the rest into a "+N" count), so at
# 200 steps/s the ticker shows a few of them, late by design. Where every step lands on the page
# at once is the wall's own `onSteps` handler: it puts the incident on the map (a DOM circle,
# merged into the marker canvas within a second) and hands the step to the ticker. This wraps
# that handler on the running wall and notes the wall clock when it returns, i.e. after the
# step's DOM work.
ON_STEPS_PROBE = """
() => {
  const wall = window.onemap && window.onemap.wall;
  if (!wall) return false;
  const applied = (window.__bench.applied = new Map());
  const original = wall.onSteps;
  wall.onSteps = function (steps) {
    const result = original.apply(this, arguments);
    const now = performance.timeOrigin + performance.now();
    for (const s of steps) {
      const m = /LAT-\\d{6}/.exec(s.title || "");
      if (m && !applied.has(m[0])) applied.set(m[0], now);
    }
    return result;
  };
  return true;
}
"""


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    add = parser.add_argument
    add("--events-rate", type=float, default=200.0, help="event steps per second")
    add("--positions-rate", type=float, default=1000.0, help="simulated positions per second")
    add("--workers", type=int, default=10_000, help="simulated grid workers")
    add("--speed", type=float, default=None, help="simulator speed (default: from the rate)")
    add("--screens", type=int, default=20, help="the page + python clients on the city scope")
    add(
        "--screen-client",
        choices=("lean", "python"),
        default="lean",
        help="the other screens: raw websockets decoding nothing (lean), or python-socketio",
    )
    add("--warmup", type=float, default=10.0, help="seconds of load before measuring")
    add("--measure", type=float, default=30.0, help="seconds of published steps measured")
    add("--poll-count", type=int, default=250, help="steps the polling page shows")
    add("--seed", type=int, default=7)
    add("--without-pulse", action="store_true",
        help="diagnosis only: the wall with WallMap.pulse made a no-op")  # fmt: skip
    add("--profile", action="store_true", help="profile the wall (CDP) and server (py-spy)")
    add("--trace", action="store_true",
        help="trace 5 s of the window: the wall's main thread by event")  # fmt: skip
    add("--keep", action="store_true", help="keep the temporary directory (server logs)")
    add("--json", default=None, help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    banner("bench.latency: publish → DOM, push vs 1 s polling")
    return run_in_tmp("latency", args, _run, _report, keep=args.keep)


def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    info = machine()  # the load average before the run, not after it
    geo = load_geography()
    city = geo.city.code
    prefix = PREFIX
    with ExitStack() as stack:
        redis_server = start_redis()
        stack.callback(redis_server.stop)
        bus = Bus(redis_server.client(), prefix=prefix)
        simulator, speed = _start_positions(stack, args, geo, redis_server.url, prefix, tmp)
        # Started with positions already flowing: the bridge never sees a quiet start.
        server = stack.enter_context(dashboard_server(redis_server.url, prefix, tmp))
        polling, polling_url = _start_polling_app(redis_server.url, prefix, args.poll_count, tmp)
        stack.callback(stop_process, polling)
        token = kiosk_token(redis_server.url, prefix, city)
        if args.screen_client == "lean":  # one process of raw websockets (bench.clients)
            spec = ClientSpec(
                server.url, city, token, args.screens - 1, record_steps=True, lean=True
            )
            fleet = ClientFleet(spec, 1)
        else:  # a python-socketio client per process, decoding everything
            spec = ClientSpec(server.url, city, token, count=1, record_steps=True)
            fleet = ClientFleet(spec, args.screens - 1)
        stack.callback(fleet.stop)
        connected = fleet.start()
        say(f"{connected} python screens connected")
        messages = event_messages(geo, int(args.events_rate * (args.warmup + args.measure)))
        wall_url = f"{server.url}/wall?kiosk={token}"
        pages = _open_pages(stack, wall_url, polling_url, args.without_pulse)
        say("wall and polling page live; publishing")
        publisher, sent_q, window = _start_publisher(stack, args, redis_server.url, messages)
        groups = {
            "server": [server.process.pid],
            "simulator": [simulator.pid] if simulator else [],
            "publisher": [publisher.pid],
            "python screens": fleet.pids,
            "chromium (both pages)": descendants_named("chrom"),
            "polling app": [polling.pid],
            "redis": [redis_server.process.pid],
        }
        profiler = _PageProfiler(pages["push"]) if args.profile else None
        tracer = _PageTracer(pages["push"], tmp / "trace.json") if args.trace else None
        spy = PySpy(worker_pid(server.process.pid), tmp / "py-spy.txt") if args.profile else None
        load = _measure_window(window, CpuMeter(groups), bus, pages, profiler, spy, tracer)
        sent: dict[str, float] = sent_q.get(timeout=args.warmup + args.measure + 60)
        time.sleep(3.0)  # the last steps reach both pages (the poller needs up to 1 s more)
        seen = {name: page.evaluate("Object.fromEntries(window.__bench.seen)") for name, page
                in pages.items()}  # fmt: skip
        seen["applied"] = pages["push"].evaluate("Object.fromEntries(window.__bench.applied)")
        wall_stats = pages["push"].evaluate("window.onemap.stats")
        records = fleet.flush()
        load["server_rss_mb"] = rss_mb(server.process.pid)
        load["server_tracebacks"] = server.tracebacks()
    measured = {t for t, at in sent.items() if window[0] * 1000 <= at < window[1] * 1000}
    return {
        "machine": info,
        "config": {**vars(args), "simulator_speed": speed, "screens_connected": connected + 1},
        "load": load,
        "wall_stats": wall_stats,
        "push": _latencies(measured, sent, seen["applied"]),
        "ticker": _latencies(measured, sent, seen["push"]),
        "polling": _latencies(measured, sent, seen["polling"]),
        "socket": _socket_latencies(measured, sent, records),
        # every measured step: [ms since the window opened, ms to the wall page or null]
        "push_series": sorted(
            [
                sent[t] - window[0] * 1000,
                (seen["applied"][t] - sent[t]) if t in seen["applied"] else None,
            ]
            for t in measured
        ),
    }


def _start_positions(
    stack: ExitStack, args: argparse.Namespace, geo: Any, redis_url: str, prefix: str, tmp: Path
) -> tuple[subprocess.Popen[bytes] | None, float]:
    """The simulator at the speed that gives ``--positions-rate`` (none for a rate of 0)."""
    if not args.positions_rate:
        return None, 0.0
    speed = args.speed or simulator_speed(geo, args.workers, args.positions_rate, args.seed)
    say(f"simulator: {args.workers:,} workers at speed {speed:g}")
    simulator = start_simulator(redis_url, prefix, args.workers, speed, args.seed, tmp / "sim.log")
    stack.callback(stop_process, simulator)
    bus = Bus(redis.Redis.from_url(redis_url), prefix=prefix)
    _wait_for(lambda: bus.client.xlen(bus.keys[POSITIONS]) > 0, "simulated positions")
    return simulator, speed


def _start_publisher(
    stack: ExitStack, args: argparse.Namespace, redis_url: str, messages: list[Any]
) -> tuple[mp.Process, mp.Queue, tuple[float, float]]:
    """The steps publisher, from a second from now; returns it, its result queue, the window."""
    ctx = mp.get_context("spawn")
    start = time.time() + 1.0
    sent_q: mp.Queue = ctx.Queue()
    publisher = ctx.Process(
        target=publish_events,
        args=(redis_url, PREFIX, messages, args.events_rate, start, 0.01, sent_q),
        daemon=True,
    )
    publisher.start()
    stack.callback(_end, publisher)
    return publisher, sent_q, (start + args.warmup, start + args.warmup + args.measure)


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


def _open_pages(
    stack: ExitStack, wall_url: str, polling_url: str, without_pulse: bool
) -> dict[str, Any]:
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
    if not pages["push"].evaluate(ON_STEPS_PROBE):
        raise RuntimeError("the wall page has no window.onemap.wall to probe")
    if without_pulse:
        pages["push"].evaluate("onemap.WallMap.prototype.pulse = function () {}")
    pages["polling"].wait_for_function("window.__bench && window.__bench.attached", timeout=60_000)
    return pages


def _measure_window(
    window: tuple[float, float],
    cpu: CpuMeter,
    bus: Bus,
    pages: dict[str, Any],
    profiler: _PageProfiler | None,
    spy: PySpy | None,
    tracer: _PageTracer | None = None,
) -> dict[str, Any]:
    """CPU of every process, the pages' main threads, positions offered and drawn."""
    wall = pages["push"]
    threads = _MainThreads(pages)
    time.sleep(max(0.0, window[0] - time.time()))
    offered0 = bus.stats().get("accepted:position", 0)
    drawn0 = wall.evaluate("window.onemap.stats.positions")
    cpu.start()
    threads.start()
    if profiler:
        profiler.start()
    if spy:
        spy.start(window[1] - window[0])
    trace = []
    if tracer:  # a few seconds: a trace of the whole window would be hundreds of MB
        tracer.start()
        time.sleep(5.0)
        trace = tracer.stop()
    time.sleep(max(0.0, window[1] - time.time()))
    used = cpu.stop()
    busy = threads.stop()
    top = profiler.stop() if profiler else []
    seconds = window[1] - window[0]
    return {
        "cpu_percent": used,
        "main_threads": busy,
        "positions_offered_per_s": (bus.stats().get("accepted:position", 0) - offered0) / seconds,
        "positions_drawn_per_s": (wall.evaluate("window.onemap.stats.positions") - drawn0)
        / seconds,
        "wall_js_profile": top,
        "wall_trace": trace,
        "server_profile": spy.report() if spy else {},
    }


class _MainThreads:
    """How busy each page's main thread was (CDP Performance metrics), in % of the window: a
    page whose main thread is near 100% cannot take a message the moment it arrives."""

    METRICS = {
        "TaskDuration": "busy",
        "ScriptDuration": "script",
        "RecalcStyleDuration": "style",
        "LayoutDuration": "layout",
        "ThreadTime": "CPU",  # what the main thread ran, not waiting for a core
    }

    def __init__(self, pages: dict[str, Any]) -> None:
        self.sessions = {name: page.context.new_cdp_session(page) for name, page in pages.items()}
        for session in self.sessions.values():
            session.send("Performance.enable")

    def _read(self) -> dict[str, dict[str, float]]:
        return {
            name: {m["name"]: m["value"] for m in session.send("Performance.getMetrics")["metrics"]}
            for name, session in self.sessions.items()
        }

    def start(self) -> None:
        self.before, self.began = self._read(), time.monotonic()

    def stop(self) -> dict[str, dict[str, float]]:
        after, seconds = self._read(), time.monotonic() - self.began
        return {
            name: {
                label: 100 * (after[name].get(key, 0) - self.before[name].get(key, 0)) / seconds
                for key, label in self.METRICS.items()
            }
            for name in self.sessions
        }


class _PageProfiler:
    """A CDP sampling profile of the wall's JS. "(program)" is the browser's own work on the
    main thread (style, layout, paint), "(idle)" is idle."""

    def __init__(self, page: Any) -> None:
        self.session = page.context.new_cdp_session(page)

    def start(self) -> None:
        self.session.send("Profiler.enable")
        self.session.send("Profiler.setSamplingInterval", {"interval": 500})
        self.session.send("Profiler.start")

    def stop(self, top: int = 12) -> list[tuple[str, float]]:
        """(function @ script:line, share of the samples in %) by self time, biggest first."""
        profile = self.session.send("Profiler.stop")["profile"]
        names = {node["id"]: _frame_name(node["callFrame"]) for node in profile["nodes"]}
        spent: Counter[str] = Counter()
        for node_id, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
            spent[names[node_id]] += delta
        total = sum(spent.values()) or 1
        return [(name, 100 * us / total) for name, us in spent.most_common(top)]


class _PageTracer:
    """A Chrome trace over the window; the wall renderer's main thread by trace event name, in
    self time (an event's duration less its children's), as % of the traced time: tells the
    browser's own work ("(program)" in the profile: style, layout, paint, canvas) apart."""

    CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "v8", "blink"]

    def __init__(self, page: Any, path: Path) -> None:
        self.page, self.path = page, path

    def start(self) -> None:
        self.began = time.monotonic()
        self.page.context.browser.start_tracing(
            page=self.page, path=str(self.path), categories=self.CATEGORIES
        )

    def stop(self, top: int = 16) -> list[tuple[str, float]]:
        self.page.context.browser.stop_tracing()
        seconds = time.monotonic() - self.began
        raw = json.loads(self.path.read_text())
        events = raw["traceEvents"] if isinstance(raw, dict) else raw
        mains = {
            (e["pid"], e["tid"])
            for e in events
            if e.get("ph") == "M" and e.get("args", {}).get("name") == "CrRendererMain"
        }
        by_thread: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for e in events:
            if e.get("ph") == "X" and (e["pid"], e["tid"]) in mains and "dur" in e:
                by_thread.setdefault((e["pid"], e["tid"]), []).append(e)
        spent: Counter[str] = Counter()
        for thread in by_thread.values():  # the busiest renderer is the wall (the poller idles)
            own = _self_times(thread)
            if sum(own.values()) > sum(spent.values()):
                spent = own
        return [(name, us / 1e4 / seconds) for name, us in spent.most_common(top)]


def _self_times(events: list[dict[str, Any]]) -> Counter[str]:
    events.sort(key=lambda e: (e["ts"], -e["dur"]))
    spent: Counter[str] = Counter()
    stack: list[tuple[float, str]] = []  # (end, name)
    for e in events:
        while stack and stack[-1][0] <= e["ts"]:
            stack.pop()
        if stack:
            spent[stack[-1][1]] -= e["dur"]
        spent[e["name"]] += e["dur"]
        stack.append((e["ts"] + e["dur"], e["name"]))
    return spent


def _frame_name(frame: dict[str, Any]) -> str:
    script = frame.get("url", "").rsplit("/", 1)[-1].split("?", 1)[0]
    where = f" @ {script}:{frame.get('lineNumber', 0) + 1}" if script else ""
    return f"{frame.get('functionName') or '(anonymous)'}{where}"


def _latencies(
    measured: set[str], sent: dict[str, float], seen: dict[str, float]
) -> dict[str, Any]:
    """Percentiles over every measured step: one never seen counts as infinitely late, so a page
    that falls behind cannot look fast by showing only the steps it managed to show."""
    values = [seen[t] - sent[t] for t in measured if t in seen]
    missed = len(measured) - len(values)
    return {
        **summary(values + [math.inf] * missed),
        "count": len(values),
        "published": len(measured),
        "missed": missed,
    }


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
    push, polling, ticker = result["push"], result["polling"], result["ticker"]
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
            ("push: → python socket handler", result["socket"]),
            ("push: → wall page (onSteps, map DOM)", push),
            ("push: → wall ticker <li> (paced)", ticker),
            ("polling 1 s: → page <li>", polling),
        )
    ]
    print(table(rows, ["publish → ... (ms)", "n", "missed", "p50", "p95", "p99", "max"]))
    print()
    print(table(sorted(load["cpu_percent"].items()), ["CPU over the window", "% of one core"]))
    print(f"server RSS {load['server_rss_mb']:.0f} MiB")
    print()
    rows = [[name, *figures.values()] for name, figures in load["main_threads"].items()]
    print(table(rows, ["page main thread, % of window", *_MainThreads.METRICS.values()]))
    print_profile("server (py-spy)", load["server_profile"])
    if load.get("wall_trace"):
        print()
        rows = [[name, f"{share:.1f}"] for name, share in load["wall_trace"]]
        print(table(rows, ["wall main thread, trace events by self time", "% of window"]))
    if load["wall_js_profile"]:
        print()
        rows = [[name, f"{share:.1f}"] for name, share in load["wall_js_profile"]]
        print(table(rows, ["wall main thread, JS profile by self time", "% of samples"]))
    result["ratio_p50"] = _ratio(polling, push)
    result["ratio_p50_ticker"] = _ratio(polling, ticker)
    print()
    for label, key, figures in (
        ("wall page", "ratio_p50", push),
        ("wall ticker", "ratio_p50_ticker", ticker),
    ):
        ratio = result[key]
        print(f"RATIO p50 polling / p50 {label} = {ratio:.1f}x  (target ≥ {TARGET_RATIO:g}x: "
              f"{_verdict(ratio >= TARGET_RATIO)});  "
              f"p99 {label} = {figures['p99']:.0f} ms  (target ≤ {TARGET_P99_MS:g} ms: "
              f"{_verdict(figures['p99'] <= TARGET_P99_MS)})")  # fmt: skip


def _ratio(slow: dict[str, Any], fast: dict[str, Any]) -> float:
    return slow["p50"] / fast["p50"] if fast["p50"] and fast["p50"] == fast["p50"] else float("nan")


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


if __name__ == "__main__":
    raise SystemExit(main())
