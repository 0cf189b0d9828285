"""Cost of one position frame on the wall, in the browser: the canvas point layer vs Leaflet.

    .venv/bin/python -m bench.wall_frames [--frames 30] [--sizes 10000,50000] [--json out.json]

A real wall (dashboard server, redis-server, headless Chromium at 1920×1080) on an empty
prefix, so no live frame interferes. A county wall (鄞州): that is where workers are dots; a
city wall counts them per cell instead (docs/wall.md), which is not what this measures. Its
patrol tracks are switched off: they are not the point layer's cost, and the baseline has none.
Frames are made in the page (``page.evaluate``): rows ``[worker, lon, lat, statusCode]``
exactly as the server sends them, every worker moving to a random point of the map's visible
box each frame, 1 % changing status. A frame's cost, by ``performance.now()`` in the page:

* move: ``onemap.wall.map.moveWorkers(rows)``, what a ``positions`` message runs;
* redraw: the point layer's redraw that the move scheduled for the next animation frame
  (its ``redraw`` method is timed in place);
* raster: a 1-pixel ``getImageData`` right after, which makes Chromium rasterize the canvas
  commands the redraw only recorded, so the pixels' cost is counted too.

The target is on move + redraw; raster is shown beside it. The baseline, in the same page and
on the same map: the plain Leaflet way, one ``L.circleMarker`` per worker on an ``L.canvas()``
renderer, ``setLatLng`` per move (``setStyle`` on a status change), timed the same way around
the renderer's ``_redraw``. The two alternate in blocks of ten frames so noise hits both.
The first frame of each (every point new) is reported apart. DOM elements are counted before
any worker and after each approach has held the largest size.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import banner, dashboard_server, machine, run_in_tmp, summary, table
from bench.wall_common import Wall, chromium, chromium_version, open_wall
from feeds.redis_server import start_redis

TARGET_MS = {10_000: 50.0, 50_000: 150.0}
COUNTY = "330212"  # 鄞州: a county wall draws its workers as dots (a city wall as counts)
BLOCK = 10  # frames per block; the approaches alternate block by block

# Installed once in the live wall: window.__frames.{start, custom, naive, stop, elements}.
HARNESS = """
(gapMs) => {
  const L = window.L, wallMap = window.onemap.wall.map, layer = wallMap.workerLayer;
  const colours = layer.options.colours;
  if (layer.options.aggregate) throw new Error("a city wall counts its workers: open a county");
  wallMap.showTracks = false;  // a county wall's patrol lines: not the point layer's cost
  const box = wallMap.map.getBounds(), west = box.getWest(), south = box.getSouth();
  const width = box.getEast() - west, height = box.getNorth() - south;
  let seed = 20260310;
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
  // patrolling, handling, idle, offline: the simulator's daytime mix
  const pick = () => { const r = rand(); return r < 0.82 ? 0 : r < 0.83 ? 1 : r < 0.99 ? 2 : 3; };
  const s = { ids: [], status: null, redrawMs: 0, naive: null };

  const origRedraw = layer.redraw;
  layer.redraw = function () {
    const t = performance.now();
    origRedraw.apply(this, arguments);
    s.redrawMs += performance.now() - t;
  };

  function rows() {
    const n = s.ids.length, out = new Array(n);
    for (let i = 0; i < n; i++) {
      if (rand() < 0.01) s.status[i] = pick();
      out[i] = [s.ids[i], west + width * rand(), south + height * rand(), s.status[i]];
    }
    return out;
  }
  const nextFrame = () => new Promise((done) => requestAnimationFrame(() => done()));
  const pause = () => new Promise((done) => setTimeout(done, gapMs));
  function raster(canvas) {
    const t = performance.now();
    canvas.getContext("2d").getImageData(0, 0, 1, 1);
    return performance.now() - t;
  }

  function naiveStart() {
    const renderer = L.canvas({ padding: 0.3 });
    const n = { renderer: renderer, group: L.layerGroup().addTo(wallMap.map), markers: new Map() };
    const origR = renderer._redraw;  // Leaflet looks it up when it requests the frame
    renderer._redraw = function () {
      const t = performance.now();
      origR.apply(this, arguments);
      s.redrawMs += performance.now() - t;
    };
    return n;
  }
  function naiveMove(n, rows) {
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      let m = n.markers.get(r[0]);
      if (m === undefined) {
        m = L.circleMarker([r[2], r[1]], { renderer: n.renderer, radius: layer.options.radius,
          stroke: false, fillColor: colours[r[3]], fillOpacity: 1, interactive: false });
        m.status = r[3];
        m.addTo(n.group);
        n.markers.set(r[0], m);
      } else {
        m.setLatLng([r[2], r[1]]);
        if (m.status !== r[3]) { m.status = r[3]; m.setStyle({ fillColor: colours[r[3]] }); }
      }
    }
  }

  async function frames(count, move, canvas) {
    const out = [];
    for (let k = 0; k < count; k++) {
      const batch = rows();
      await pause();
      s.redrawMs = 0;
      const t0 = performance.now();
      move(batch);
      const moved = performance.now() - t0;
      await nextFrame();  // the redraw asked for during the move runs first in this frame
      out.push({ move: moved, redraw: s.redrawMs, raster: raster(canvas()) });
    }
    return out;
  }

  window.__frames = {
    start(size) {
      s.ids = Array.from({ length: size }, (_, i) => "B" + String(i).padStart(6, "0"));
      s.status = Uint8Array.from(s.ids, pick);
      s.naive = naiveStart();
    },
    custom(count) {
      return frames(count, (b) => wallMap.moveWorkers(b), () => layer.canvas);
    },
    naive(count) {
      return frames(count, (b) => naiveMove(s.naive, b), () => s.naive.renderer._container);
    },
    stop() {
      layer.clear();
      s.naive.group.remove();
      wallMap.map.removeLayer(s.naive.renderer);
      s.naive = null;
    },
    elements() { return document.querySelectorAll("*").length; },
    points() { return [layer.size, s.naive ? s.naive.markers.size : 0]; },
  };
}
"""


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.wall_frames", description=__doc__)
    add = parser.add_argument
    add("--sizes", default="10000,50000", help="workers per frame, comma-separated")
    add("--frames", type=int, default=30, help="measured frames per approach and size")
    add("--warmup", type=int, default=3, help="frames after the first, not measured")
    add("--gap-ms", type=float, default=250.0, help="idle time before each frame")
    add("--json", default=None, help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    banner("bench.wall_frames: a position frame in the browser, point layer vs Leaflet markers")
    print(f"   {chromium_version()}", flush=True)
    return run_in_tmp("wall-frames", args, _run, _report)


def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    sizes = [int(n) for n in args.sizes.split(",")]
    with ExitStack() as stack:
        redis_server = start_redis()
        stack.callback(redis_server.stop)
        server = stack.enter_context(dashboard_server(redis_server.url, "frames-empty", tmp))
        wall = Wall(server.url, redis_server.url, "frames-empty", scope=COUNTY)
        browser = stack.enter_context(chromium())
        page = open_wall(wall.context(browser), wall.page_url())
        page.evaluate(HARNESS, args.gap_ms)
        elements = {"before": _settled_elements(page)}
        runs = {}
        for size in sizes:
            print(f"-- {size:,} workers", flush=True)
            runs[size] = _measure(page, size, args)
            elements.update(runs[size].pop("elements"))
        errors = list(page.js_errors)
    return {
        "machine": machine(),
        "chromium": chromium_version(),
        "config": vars(args),
        "runs": runs,
        "elements": elements,
        "js_errors": errors,
    }


def _settled_elements(page: Any, timeout: float = 30) -> int:
    """The page's element count once it stops changing: charts and ticker render after live."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        count = int(page.evaluate("window.__frames.elements()"))
        if count == last:
            return count
        last = count
        time.sleep(1.0)
    return last


def _measure(page: Any, size: int, args: argparse.Namespace) -> dict[str, Any]:
    frames = lambda kind, n: page.evaluate(f"window.__frames.{kind}({n})")  # noqa: E731
    page.evaluate(f"window.__frames.start({size})")
    first = {kind: frames(kind, 1)[0] for kind in ("custom", "naive")}
    for kind in ("custom", "naive"):
        frames(kind, args.warmup)
    measured: dict[str, list[dict[str, float]]] = {"custom": [], "naive": []}
    while len(measured["custom"]) < args.frames:
        n = min(BLOCK, args.frames - len(measured["custom"]))
        for kind in ("custom", "naive"):
            measured[kind] += frames(kind, n)
            print(f"   {kind:6} {len(measured[kind]):3} frames", flush=True)
    points = page.evaluate("window.__frames.points()")
    elements = {f"with {size:,} points": page.evaluate("window.__frames.elements()")}
    page.evaluate("window.__frames.stop()")
    elements[f"after {size:,} removed"] = page.evaluate("window.__frames.elements()")
    return {"first": first, "frames": measured, "points": points, "elements": elements}


def _stats(frames: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    series = {
        "move": [f["move"] for f in frames],
        "redraw": [f["redraw"] for f in frames],
        "move+redraw": [f["move"] + f["redraw"] for f in frames],
        "raster": [f["raster"] for f in frames],
        "all": [f["move"] + f["redraw"] + f["raster"] for f in frames],
    }
    return {name: summary(values) for name, values in series.items()}


HEADER = ["workers", "layer", "move p50", "redraw p50", "move+redraw p50", "p95", "raster p50",
          "all p50", "first frame"]  # fmt: skip
LABELS = {"custom": "point layer", "naive": "L.circleMarker"}


def _row(size: int, kind: str, run: dict[str, Any]) -> list[object]:
    st, first = run["stats"][kind], run["first"][kind]
    return [f"{size:,}", LABELS[kind], st["move"]["p50"], st["redraw"]["p50"],
            st["move+redraw"]["p50"], st["move+redraw"]["p95"], st["raster"]["p50"],
            st["all"]["p50"], first["move"] + first["redraw"]]  # fmt: skip


def _verdict(size: int, run: dict[str, Any]) -> dict[str, Any]:
    custom, naive = run["stats"]["custom"], run["stats"]["naive"]
    target = TARGET_MS.get(size)
    mine = custom["move+redraw"]
    return {
        "ratio": naive["move+redraw"]["p50"] / mine["p50"],
        "ratio_all": naive["all"]["p50"] / custom["all"]["p50"],
        "p50": mine["p50"],
        "p95": mine["p95"],
        "target_ms": target,
        # p95 too: a wall shows every frame, not the median one
        "met": target is None or (mine["p50"] <= target and mine["p95"] <= target),
    }


def _report(result: dict[str, Any]) -> None:
    rows = []
    for size, run in result["runs"].items():
        run["stats"] = {kind: _stats(frames) for kind, frames in run["frames"].items()}
        rows += [_row(size, kind, run) for kind in LABELS]
        run["verdict"] = _verdict(size, run)
    print()
    print(table(rows, HEADER))
    print(f"(ms; {result['config']['frames']} frames each; first frame: every point new)")
    print("DOM elements: " + ", ".join(f"{k} {v:,}" for k, v in result["elements"].items()))
    if result["js_errors"]:
        print(f"!! page errors: {result['js_errors'][:5]}")
    print()
    for size, run in result["runs"].items():
        v = run["verdict"]
        print(f"RATIO {size:,} workers, Leaflet markers / point layer, p50: move+redraw "
              f"{v['ratio']:.1f}x, with raster {v['ratio_all']:.1f}x")  # fmt: skip
        if v["target_ms"] is not None:
            verdict = "met" if v["met"] else "MISSED"
            print(f"   point layer move+redraw p50 {v['p50']:.1f} ms, p95 {v['p95']:.1f} ms "
                  f"(target ≤ {v['target_ms']:g} ms: {verdict})")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
