"""Redrawing the city wall's incidents, in the browser: the density layer vs today's dot layer.

    .venv/bin/python -m bench.wall_density [--runs 15] [--sizes 10000,100000] [--json out.json]

A real wall (dashboard server, redis-server, headless Chromium at 1920×1080, city scope) on an
empty prefix, so no live step interferes. Incidents are made in the page (``page.evaluate``):
a realistic spread, most of them around the ten county seats (the urban districts take the
most: a normal spread of ~6 km around each, weighted by the county's population share), a
fifth anywhere in Ningbo's box (lon 121.0–122.2, lat 29.0–30.3); categories in the catalogue's
order, report times over the last 24 hours, all open. The same incidents go into:

* **density**: the wall's own density layer (``assets/onemap-25-density.js``), shown, with
  the URL's default filter (all categories, open incidents);
* **dots** (the baseline): today's incident dot layer (``onemap.makeMarkerLayer`` of
  ``assets/onemap-15-points.js``, as the wall drew incidents before this layer), one marker
  each, styled as the wall's city markers (radius 3.6 px, outline 0.6 px, the category's
  colour), on the same map;
* **clusters** (for information): the wall's clustered marker layer holding the same markers.

A redraw is the layer's ``redraw()`` called directly, timed on ``performance.now()``; then
**raster**: a 1-pixel ``getImageData``, which makes Chromium rasterize what the redraw only
recorded, so the pixels are counted too. The layers alternate redraw by redraw so that noise
hits all of them; a few warm-up redraws each are not counted; 100 ms idle before each.
Nothing asserts a time: the figures are printed against the target (≤ 100 ms at 100,000).
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import banner, dashboard_server, machine, run_in_tmp, summary, table
from bench.wall_common import Wall, chromium, chromium_version, open_wall
from feeds.geo import load_geography
from feeds.redis_server import start_redis

TARGET_MS = {100_000: 100.0}
LAYERS = ("density", "dots", "clusters")

# Installed once in the live wall: window.__density.{fill, redraw, clear}.
HARNESS = """
(seats) => {
  const wallMap = window.onemap.wall.map, map = wallMap.map, k = wallMap.k;
  let seed = 20261206;
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
  const normal = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const cats = Object.keys(wallMap.catIndex), total = seats.reduce((a, s) => a + s[2], 0);
  map.createPane("bench-dots");
  const Dots = window.onemap.makeMarkerLayer();
  const layers = { density: wallMap.density, dots: new Dots({ pane: "bench-dots" }),
                   clusters: wallMap.incidentLayer };
  // the wall's own layers must not redraw by themselves meanwhile
  wallMap.onDensityCount = function () {};
  function incident(i, now) {
    let lon, lat;
    if (rand() < 0.2) { lon = 121.0 + 1.2 * rand(); lat = 29.0 + 1.3 * rand(); }
    else {
      let pick = rand() * total, s = 0;
      while (pick > seats[s][2]) pick -= seats[s++][2];
      lon = seats[s][0] + 0.06 * normal(); lat = seats[s][1] + 0.055 * normal();
    }
    const cat = cats[i % cats.length];
    return { id: "BD" + i, lon: lon, lat: lat, cat: cat, type: "reported", status: "open",
             ts: new Date(now - 86400000 * rand()).toISOString(), overdue: false };
  }
  const colours = JSON.parse(document.getElementById("wall-root").dataset.categories);
  const colourOf = Object.fromEntries(colours);
  function raster(canvas) {
    const t = performance.now();
    canvas.getContext("2d").getImageData(0, 0, 1, 1);
    return performance.now() - t;
  }
  window.__density = {
    fill(size) {
      const now = Date.now(), t0 = performance.now();
      const made = Array.from({ length: size }, (_, i) => incident(i, now));
      const t1 = performance.now();
      for (const s of made) wallMap.density.note(s, wallMap.catIndex[s.cat]);
      const t2 = performance.now();
      // filled off the map (dots) or hidden (clusters): no DOM circle per new marker
      const style = { radius: 3.6 * k, weight: 0.6 * k, color: "rgba(255,255,255,0.8)" };
      layers.clusters.hidden = true;
      for (const s of made) {
        style.fillColor = colourOf[s.cat];
        layers.dots.set(s.id, s.lon, s.lat, style);
        layers.clusters.set(s.id, s.lon, s.lat, style);
      }
      layers.dots.addTo(map);
      layers.clusters.hidden = false;
      wallMap.density.setShown(true);
      return { made: t1 - t0, note: t2 - t1, records: wallMap.density.count() };
    },
    async redraw(name, gapMs) {
      await new Promise((done) => setTimeout(done, gapMs));
      const layer = layers[name], t = performance.now();
      layer.redraw();
      const ms = performance.now() - t;
      return { redraw: ms, raster: raster(layer.canvas),
               painted: name === "density" ? wallMap.density.matched : layer.count() };
    },
    clear() {
      wallMap.density.clear(); layers.dots.clear(); layers.dots.remove(); layers.clusters.clear();
    },
    elements() { return document.querySelectorAll("*").length; },
  };
}
"""


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.wall_density", description=__doc__)
    add = parser.add_argument
    add("--sizes", default="10000,100000", help="incidents, comma-separated")
    add("--runs", type=int, default=15, help="measured redraws per layer and size")
    add("--warmup", type=int, default=3, help="redraws per layer before the measured ones")
    add("--gap-ms", type=float, default=100.0, help="idle time before each redraw")
    add("--json", default=None, help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    banner("bench.wall_density: redrawing the city's incidents, density layer vs dot layer")
    print(f"   {chromium_version()}", flush=True)
    return run_in_tmp("wall-density", args, _run, _report)


def _seats() -> list[list[float]]:
    """[lon, lat, population share] of each county's representative point."""
    geo = load_geography()
    counties = list(geo.counties.values())
    people = sum(c.population for c in counties)
    return [[c.lon, c.lat, c.population / people] for c in counties]


def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    sizes = [int(n) for n in args.sizes.split(",")]
    with ExitStack() as stack:
        redis_server = start_redis()
        stack.callback(redis_server.stop)
        server = stack.enter_context(dashboard_server(redis_server.url, "density-empty", tmp))
        wall = Wall(server.url, redis_server.url, "density-empty")
        browser = stack.enter_context(chromium())
        page = open_wall(wall.context(browser), wall.page_url())
        page.wait_for_timeout(3000)  # the charts and labels settle
        page.evaluate(HARNESS, _seats())
        runs = {}
        for size in sizes:
            print(f"-- {size:,} incidents", flush=True)
            runs[size] = _measure(page, size, args)
        errors = list(page.js_errors)
    return {"machine": machine(), "chromium": chromium_version(), "config": vars(args),
            "runs": runs, "js_errors": errors}  # fmt: skip


def _measure(page: Any, size: int, args: argparse.Namespace) -> dict[str, Any]:
    fill = page.evaluate(f"window.__density.fill({size})")
    redraw = lambda name: page.evaluate(f"window.__density.redraw('{name}', {args.gap_ms})")  # noqa: E731
    for _ in range(args.warmup):
        for name in LAYERS:
            redraw(name)
    measured: dict[str, list[dict[str, float]]] = {name: [] for name in LAYERS}
    for n in range(args.runs):
        for name in LAYERS:
            measured[name].append(redraw(name))
        if (n + 1) % 5 == 0:
            print(f"   {n + 1:3} redraws each", flush=True)
    page.evaluate("window.__density.clear()")
    return {"fill": fill, "redraws": measured}


HEADER = ["incidents", "layer", "redraw p50", "p95", "raster p50", "redraw+raster p50", "p95",
          "drawn"]  # fmt: skip
LABELS = {"density": "density layer", "dots": "dot layer (baseline)", "clusters": "clusters"}


def _stats(redraws: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {
        "redraw": summary([r["redraw"] for r in redraws]),
        "raster": summary([r["raster"] for r in redraws]),
        "all": summary([r["redraw"] + r["raster"] for r in redraws]),
    }


def _report(result: dict[str, Any]) -> None:
    rows = []
    for size, run in result["runs"].items():
        run["stats"] = {name: _stats(r) for name, r in run["redraws"].items()}
        for name in LAYERS:
            st = run["stats"][name]
            rows.append([f"{size:,}", LABELS[name], st["redraw"]["p50"], st["redraw"]["p95"],
                         st["raster"]["p50"], st["all"]["p50"], st["all"]["p95"],
                         run["redraws"][name][-1]["painted"]])  # fmt: skip
    print()
    print(table(rows, HEADER))
    print(f"(ms; {result['config']['runs']} redraws each, medians and 95th percentiles)")
    for size, run in result["runs"].items():
        fill = run["fill"]
        print(f"   {size:,}: records noted into the density layer in {fill['note']:.1f} ms "
              f"({fill['records']:,} records)")  # fmt: skip
    if result["js_errors"]:
        print(f"!! page errors: {result['js_errors'][:5]}")
    print()
    for size, run in result["runs"].items():
        st = run["stats"]
        density, dots = st["density"]["all"]["p50"], st["dots"]["all"]["p50"]
        run["verdict"] = {
            "ratio": st["dots"]["redraw"]["p50"] / st["density"]["redraw"]["p50"],
            "ratio_all": dots / density,
            "p50": density,
            "p95": st["density"]["all"]["p95"],
        }
        v = run["verdict"]
        print(f"RATIO {size:,} incidents, dot layer / density layer, p50: redraw "
              f"{v['ratio']:.1f}x, with raster {v['ratio_all']:.1f}x "
              f"(density {density:.1f} ms, dots {dots:.1f} ms)")  # fmt: skip
        target = TARGET_MS.get(size)
        if target is not None:
            met = v["p50"] <= target and v["p95"] <= target
            print(f"   density redraw+raster p50 {v['p50']:.1f} ms, p95 {v['p95']:.1f} ms "
                  f"(target ≤ {target:g} ms: {'met' if met else 'MISSED'})")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
