"""First full render of /wall in headless Chromium: today's data vs the same page with none.

    .venv/bin/python -m bench.wall_load [--loads 7] [--profile] [--json out.json]

Real processes on this machine: a redis-server; the simulator's data for 10,000 workers and
8,000 events/day (``bench.wall_common.populate``: today's backfill since local midnight and a
fix for every worker, then the simulator stops so every load sees the same state); two
dashboard servers, one on that prefix and, for the baseline, one on an empty prefix; headless
Chromium at 1920×1080.

Each load is a first visit: a fresh browser context (empty cache) holding a wall session, then
a navigation to /wall. "Full" is, in the page, on ``performance.now()`` from navigation start,
the first moment all of these hold:

* live: ``#wall-root[data-live='1']``, set once the snapshot (KPIs, ticker, incidents,
  positions, panels) has been applied;
* points: the worker layer holds ≥ 99 % of the workers the server knows (``/healthz``), and
  the redraw that drew them has run (its ``drawnAt``);
* charts: the Plotly charts (trend, categories, flow) hold the figures the snapshot sent (each
  is tagged on its way in with a layout key Plotly ignores, so an empty figure sent with no
  data still counts once it is the one drawn).

Milestones on the way are noted too (document, DOMContentLoaded, the wall built, the area's
/geo JSON fetched, hello sent, snapshot received, positions applied; the socket's opening, the
hello and its reply also as seen on the wire by CDP, which tells the server's and the
network's share from the page's main thread); the bytes: HTTP as transferred (CDP
``encodedDataLength``, headers included) and WebSocket payloads (after decompression); and the
CPU each load cost: the renderer's main thread and process (CDP ``Performance.getMetrics``
ThreadTime, ProcessTime) and the server process (psutil), figures which, unlike the times,
hardly depend on what else the machine runs.

Loads alternate baseline/data so the machine's noise hits both; the first of each is a
discarded warm-up (the servers' first requests). ``--profile`` adds one data load under the
CDP sampling profiler (where the page's main thread spent it), the hello → reply time of a
python-socketio client against each server, and the city snapshot built in this process from
the same log under cProfile (where the server spends it).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import pstats
import statistics
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.common import (
    banner,
    dashboard_server,
    machine,
    run_in_tmp,
    session_cookie,
    table,
)
from bench.wall_common import Populated, Wall, chromium, chromium_version, populate
from feeds.bus import Bus
from feeds.geo import load_geography
from feeds.redis_server import start_redis
from feeds.sim.options import SimConfig

TARGET_MS = 2000.0
SHARE = 0.99  # of the server's workers that must be on the layer
MILESTONES = ["document", "domContentLoaded", "wall", "geo", "socket (wire)", "hello",
              "hello (wire)", "snapshot (wire)", "snapshot", "positions", "live", "points",
              "charts", "full"]  # fmt: skip

# Installed before any page script. The assets build `window.onemap` with `window.onemap ||
# {}`, so defining it first with two setters notes when the Live class and the wall appear and
# wraps the calls that mark the way; a loop on animation frames notes when each part is done.
WATCH = """
((need) => {
  const marks = (window.__load = {});
  const now = () => performance.now();
  const onemap = (window.onemap = {});
  const expected = {};  // graph id → traces in the snapshot's figure
  let Live, Panels, wall;
  Object.defineProperty(onemap, "Live", { enumerable: true, get: () => Live, set(v) {
    Live = v;
    const hello = v.prototype.hello, positions = v.prototype.positions;
    v.prototype.hello = function () {
      if (!marks.hello) marks.hello = now();
      return hello.apply(this, arguments);
    };
    v.prototype.positions = function (rows) {
      const t = now();
      positions.apply(this, arguments);
      if (!marks.positions) {
        marks.positions = now();
        marks.positionsMs = marks.positions - t;
        marks.rows = rows.length;
      }
    };
  } });
  Object.defineProperty(onemap, "Panels", { enumerable: true, get: () => Panels, set(v) {
    Panels = v;
    const figures = v.prototype.figures;
    v.prototype.figures = function (sent) {
      if (!marks.figures) {
        marks.figures = now();
        marks.charted = Object.keys(sent).filter((id) => sent[id]);
        for (const id in sent) {
          if (!sent[id]) continue;  // not sent: the chart keeps its empty figure
          // a key Plotly ignores, to tell the snapshot's figure from the empty one
          sent[id].layout = Object.assign({}, sent[id].layout, { __bench: 1 });
          expected[id] = (sent[id].data || []).length;
        }
      }
      return figures.apply(this, arguments);
    };
  } });
  function noteWall(v) {
    wall = v;
    marks.wall = marks.wall || now();
    const onSnapshot = v.onSnapshot;
    v.onSnapshot = function () {
      marks.snapshot = marks.snapshot || now();
      return onSnapshot.apply(this, arguments);
    };
  }
  Object.defineProperty(onemap, "wall", {
    enumerable: true, configurable: true, get: () => wall, set: noteWall,
  });
  // Other scripts may hook `onemap.wall` the same way (assets/onemap-95-commands.js does):
  // their setter then runs after this one instead of replacing it.
  const define = Object.defineProperty;
  Object.defineProperty = function (target, name, descriptor) {
    if (target === onemap && name === "wall" && descriptor && descriptor.set) {
      const theirs = descriptor.set;
      descriptor = Object.assign({}, descriptor, {
        set(v) { noteWall(v); return theirs.call(this, v); },
      });
    }
    return define.call(Object, target, name, descriptor);
  };
  function chartsDrawn() {
    return marks.figures && Object.keys(expected).every((id) => {
      const gd = document.querySelector("#" + id + " .js-plotly-plot");
      return gd && gd.layout && gd.layout.__bench === 1 && gd._fullData
        && gd._fullData.length === expected[id];
    });
  }
  function check() {
    const t = now(), root = document.getElementById("wall-root");
    if (!marks.live && root && root.getAttribute("data-live") === "1") marks.live = t;
    const layer = wall && wall.map && wall.map.workerLayer;
    if (marks.live && !marks.points && layer && layer.size >= need && !layer.pending) {
      marks.points = Math.max(marks.live, layer.drawnAt || t);
      marks.workers = layer.size;
    }
    if (marks.live && !marks.charts && chartsDrawn()) marks.charts = t;
    if (marks.live && marks.points && marks.charts) {
      marks.full = Math.max(marks.live, marks.points, marks.charts);
      return;
    }
    requestAnimationFrame(check);
  }
  requestAnimationFrame(check);
})
"""

TIMING = """
() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const geo = performance.getEntriesByType("resource").find((e) => e.name.includes("/geo/"));
  return { document: nav.responseEnd, domContentLoaded: nav.domContentLoadedEventEnd,
           geo: geo ? geo.responseEnd : null, elements: document.querySelectorAll("*").length };
}
"""


class Bytes:
    """What the page moved over the network, from CDP Network events; and when the socket
    opened, the hello left and its reply came in, on the wire rather than on the page's main
    thread (ms since the document's request, which is navigation start give or take a ms)."""

    def __init__(self, cdp: Any) -> None:
        self.http = 0
        self.requests = 0
        self.ws_in = 0
        self.ws_out = 0
        self.largest: Counter[str] = Counter()
        self.wire: dict[str, float] = {}
        self._start: float | None = None
        self._urls: dict[str, str] = {}
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.webSocketHandshakeResponseReceived", self._opened)
        cdp.on("Network.webSocketFrameReceived", self._frame_in)
        cdp.on("Network.webSocketFrameSent", self._frame_out)
        cdp.send("Network.enable")

    def _at(self, name: str, event: dict[str, Any]) -> None:
        if self._start is not None and name not in self.wire:
            self.wire[name] = 1000 * (event["timestamp"] - self._start)

    def _sent(self, event: dict[str, Any]) -> None:
        if self._start is None:
            self._start = event["timestamp"]
        self._urls[event["requestId"]] = event["request"]["url"]

    def _opened(self, event: dict[str, Any]) -> None:
        self._at("socket (wire)", event)

    def _finished(self, event: dict[str, Any]) -> None:
        size = int(event["encodedDataLength"])
        self.http += size
        self.requests += 1
        url = self._urls.get(event["requestId"], "?").split("?")[0]
        self.largest[url.rsplit("/", 1)[-1] or url] += size

    def _frame_in(self, event: dict[str, Any]) -> None:
        payload = event["response"]["payloadData"]
        self.ws_in += len(payload.encode())
        if payload.startswith("43"):  # Socket.IO ack: the reply to hello
            self._at("snapshot (wire)", event)

    def _frame_out(self, event: dict[str, Any]) -> None:
        payload = event["response"]["payloadData"]
        self.ws_out += len(payload.encode())
        if payload.startswith("42") and '"hello"' in payload[:16]:
            self._at("hello (wire)", event)


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.wall_load", description=__doc__)
    add = parser.add_argument
    add("--loads", type=int, default=7, help="measured loads of each page (after a warm-up)")
    add("--workers", type=int, default=10_000)
    add("--events-per-day", type=int, default=8000)
    add("--seed", type=int, default=7)
    add("--history-days", type=int, default=0, choices=(0, 1, 2),
        help="also backfill whole days before today: a full day of data even early in the "
        "morning (the earlier days' incidents are in the state and the panels)")  # fmt: skip
    add(
        "--on-duty-only",
        action="store_true",
        help="only the simulator's on-duty fixes (15 %% of workers at night), no full roster",
    )
    add("--profile", action="store_true", help="one more data load under the CPU profiler")
    add("--timeout", type=float, default=60.0, help="seconds a load may take before failing")
    add("--json", default=None, help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    banner("bench.wall_load: first full render of /wall, data vs no data")
    print(f"   {chromium_version()}", flush=True)
    return run_in_tmp("wall-load", args, _run, _report)


def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    config = SimConfig(
        workers=args.workers,
        events_per_day=args.events_per_day,
        seed=args.seed,
        history_days=args.history_days,
    )
    with ExitStack() as stack:
        redis_server = start_redis()
        stack.callback(redis_server.stop)
        bus = Bus(redis_server.client(), prefix="load")
        data: Populated = populate(bus, load_geography(), config, not args.on_duty_only)
        print(
            f"-- data: {data.steps:,} event steps, {data.workers:,} workers ({data.seconds:.1f}s)",
            flush=True,
        )
        servers = {
            "baseline": stack.enter_context(dashboard_server(redis_server.url, "empty", tmp)),
            "data": stack.enter_context(dashboard_server(redis_server.url, "load", tmp)),
        }
        health = servers["data"].health()
        targets = {
            name: Target(
                Wall(server.url, redis_server.url, prefix),
                math.ceil(SHARE * server.health()["workers"]),
                server.process.pid,
            )
            for name, server, prefix in (
                ("baseline", servers["baseline"], "empty"),
                ("data", servers["data"], "load"),
            )
        }
        browser = stack.enter_context(chromium())
        loads: dict[str, list[dict[str, Any]]] = {"baseline": [], "data": []}
        for n in range(args.loads + 1):
            for name, target in targets.items():
                load = _load(browser, target, args.timeout)
                print(
                    f"   {'warm-up' if n == 0 else f'load {n}'} {name:8} "
                    f"full {load['marks']['full']:7.0f} ms",
                    flush=True,
                )
                if n:
                    loads[name].append(load)
        profile = None
        if args.profile:
            profile = _profiled_load(browser, targets["data"], args.timeout)
            profile["hello_ms"] = {name: _hello_round_trips(t.wall) for name, t in targets.items()}
            profile["snapshot"] = _snapshot_profile(redis_server.url, "load", targets["data"].wall)
    return {
        "machine": machine(),
        "chromium": chromium_version(),
        "config": vars(args),
        "data": {"steps": data.steps, "workers": data.workers, "server": health},
        "loads": loads,
        "profile": profile,
    }


@dataclass(frozen=True)
class Target:
    wall: Wall
    need: int  # workers the layer must hold
    server_pid: int


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _load(browser: Any, target: Target, timeout: float, cdp_hook: Any = None) -> dict:
    """One first visit, timed in the page; with the CPU it cost the renderer and the server,
    which, unlike the times, hardly depends on what else this machine is running."""
    wall = target.wall
    context = wall.context(browser)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.add_init_script(f"{WATCH}({target.need});")
        cdp = context.new_cdp_session(page)
        traffic = Bytes(cdp)
        cdp.send("Performance.enable")
        if cdp_hook:
            cdp_hook(cdp, "start")
        server_cpu = _cpu_seconds(target.server_pid)
        psutil.cpu_percent(interval=None)
        page.goto(wall.page_url(), wait_until="commit")
        page.wait_for_function("() => window.__load && window.__load.full", timeout=timeout * 1000)
        machine_cpu = psutil.cpu_percent(interval=None) * (psutil.cpu_count() or 1)
        server_cpu = _cpu_seconds(target.server_pid) - server_cpu
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        marks = page.evaluate("window.__load")
        extra = cdp_hook(cdp, "stop") if cdp_hook else None
        timing = page.evaluate(TIMING)
        marks.update({k: timing[k] for k in ("document", "domContentLoaded", "geo")})
        marks.update(traffic.wire)
        return {
            "marks": marks,
            "elements": timing["elements"],
            "http_bytes": traffic.http,
            "requests": traffic.requests,
            "ws_in_bytes": traffic.ws_in,
            "ws_out_bytes": traffic.ws_out,
            "largest": traffic.largest.most_common(6),
            "js_errors": errors,
            "profile": extra,
            # seconds; the renderer's count from its start, which is this load's navigation
            "cpu": {
                "renderer main thread": metrics.get("ThreadTime", float("nan")),
                "renderer process": metrics.get("ProcessTime", float("nan")),
                "server process": server_cpu,
            },
            "machine_cpu_percent": machine_cpu,
        }
    finally:
        context.close()


def _profiled_load(browser: Any, target: Target, timeout: float) -> dict[str, Any]:
    """One more data load with the JS sampling profiler on: self time per function."""

    def hook(cdp: Any, phase: str) -> Any:
        if phase == "start":
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 200})
            cdp.send("Profiler.start")
            return None
        return _self_times(cdp.send("Profiler.stop")["profile"])

    load = _load(browser, target, timeout, hook)
    return {"full_ms": load["marks"]["full"], "top": load["profile"]}


def _hello_round_trips(wall: Wall, count: int = 5) -> list[float]:
    """ms from a python-socketio client's hello to the snapshot reply: the server's share."""
    import socketio

    cookie = session_cookie(wall.url, wall.token)
    times = []
    for _ in range(count):
        client = socketio.Client(reconnection=False)
        client.connect(
            wall.url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=30
        )
        try:
            started = time.perf_counter()
            client.call("hello", {"scope": wall.scope}, timeout=60)
            times.append(1000 * (time.perf_counter() - started))
        finally:
            client.disconnect()
    return times


def _snapshot_profile(redis_url: str, prefix: str, wall: Wall) -> dict[str, Any]:
    """The server's snapshot for the wall's scope, built in this process from the same log:
    its time, its JSON size and, under cProfile, the functions it spends that time in."""
    from dashboard.config import Settings
    from onemap.app import create_app

    hub = create_app(Settings(redis_url=redis_url, prefix=prefix)).hub
    hub.bridge.rebuild()
    times, reply = [], {}
    for _ in range(5):
        started = time.perf_counter()
        reply = hub.greeter.snapshot(wall.scope)  # what answers a page's first hello
        times.append(1000 * (time.perf_counter() - started))
    sizes = {key: len(json.dumps(value)) for key, value in reply.items()}
    profiler = cProfile.Profile()
    profiler.runcall(hub.greeter.snapshot, wall.scope)
    stats = pstats.Stats(profiler).sort_stats("tottime")
    top = [
        (f"{Path(file).name}:{line} {name}", 1000 * tt, 1000 * ct)
        for (file, line, name), (_cc, _nc, tt, ct, _callers) in stats.stats.items()
    ]
    top.sort(key=lambda row: -row[1])
    return {"ms": times, "json_bytes": sizes, "top": top[:12]}


def _self_times(profile: dict[str, Any], top: int = 20) -> list[tuple[str, float]]:
    """(function at file:line, ms of self time), most first; (program) is native work."""
    nodes = {node["id"]: node["callFrame"] for node in profile["nodes"]}
    spent: Counter[str] = Counter()
    for node_id, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        frame = nodes[node_id]
        where = frame["url"].split("?")[0].rsplit("/", 1)[-1]
        name = frame["functionName"] or "(anonymous)"
        spent[f"{name} {where}:{frame['lineNumber'] + 1}" if where else name] += delta
    return [(name, us / 1000) for name, us in spent.most_common(top)]


def _cpu_rows(loads: dict[str, list[dict[str, Any]]]) -> list[list[object]]:
    keys = list(loads["data"][0]["cpu"])
    return [
        [key] + [statistics.median(x["cpu"][key] for x in loads[name]) for name in loads]
        for key in keys
    ]


def _median(loads: list[dict[str, Any]], key: str) -> float:
    values = [load["marks"][key] for load in loads if load["marks"].get(key) is not None]
    return statistics.median(values) if values else float("nan")


def _report(result: dict[str, Any]) -> None:
    loads = result["loads"]
    print()
    rows = [[m] + [_median(loads[name], m) for name in ("baseline", "data")] for m in MILESTONES]
    print(table(rows, ["milestone (median ms from navigation start)", "baseline", "data"]))
    data = loads["data"]
    full = {name: sorted(load["marks"]["full"] for load in loads[name]) for name in loads}
    print()
    print(
        table(
            [
                [
                    name,
                    len(values),
                    values[0],
                    statistics.median(values),
                    values[-1],
                    statistics.median(load["http_bytes"] for load in loads[name]) / 1024,
                    statistics.median(load["ws_in_bytes"] for load in loads[name]) / 1024,
                    statistics.median(load["requests"] for load in loads[name]),
                ]
                for name, values in full.items()
            ],
            ["page", "loads", "full min", "median", "max", "HTTP KiB", "WS in KiB", "requests"],
        )
    )
    print()
    print(table(_cpu_rows(loads), ["CPU per load (median s)", "baseline", "data"]))
    busy = {
        name: statistics.median(x["machine_cpu_percent"] for x in loads[name]) for name in loads
    }
    print(f"machine busy during the loads (all processes, of 200 %): baseline "
          f"{busy['baseline']:.0f} %, data {busy['data']:.0f} %")  # fmt: skip
    last = data[-1]
    print(
        f"data page: {last['marks'].get('rows', 0):,} worker rows in the snapshot, "
        f"{last['marks'].get('workers', 0):,} on the layer (server: "
        f"{result['data']['server']['workers']:,} workers, "
        f"{result['data']['server']['incidents']:,} incidents today); applying the positions "
        f"took {_median(data, 'positionsMs'):.1f} ms; {last['elements']:,} DOM elements"
    )
    print(
        "largest transfers (data, KiB): "
        + ", ".join(f"{name} {size / 1024:,.0f}" for name, size in last["largest"])
    )
    errors = [e for name in loads for load in loads[name] for e in load["js_errors"]]
    if errors:
        print(f"!! page errors: {errors[:5]}")
    if result["profile"]:
        print()
        print(f"profiled data load (full {result['profile']['full_ms']:.0f} ms), self time:")
        print(table(result["profile"]["top"], ["function", "ms"]))
        hello = result["profile"]["hello_ms"]
        print(
            "hello → snapshot reply, python client, median ms: "
            + ", ".join(f"{name} {statistics.median(times):.0f}" for name, times in hello.items())
        )
        snap = result["profile"]["snapshot"]
        print(
            f"server snapshot for the city built in-process: median "
            f"{statistics.median(snap['ms']):.0f} ms, JSON KiB by key: "
            + ", ".join(f"{k} {v / 1024:.0f}" for k, v in snap["json_bytes"].items() if v > 1024)
        )
        print(table(snap["top"], ["server function (cProfile, 1 snapshot)", "self ms", "cum ms"]))
    base, median = statistics.median(full["baseline"]), statistics.median(full["data"])
    print()
    print(f"RATIO full render data / no data (median) = {median / base:.2f}x")
    print(
        f"full render with data, median {median:.0f} ms of {len(full['data'])} loads "
        f"(target ≤ {TARGET_MS:g} ms: {'met' if median <= TARGET_MS else 'MISSED'})"
    )
    result["summary"] = {
        "full_median_ms": {"baseline": base, "data": median},
        "ratio": median / base,
    }


if __name__ == "__main__":
    raise SystemExit(main())
