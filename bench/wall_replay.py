"""A wall replaying a busy past at ×60, in the browser: frames per second while it plays.

    .venv/bin/python -m bench.wall_replay [--hours 2] [--per-day 100000] [--seconds 10] [--json f]

A real city wall (dashboard server, redis-server, headless Chromium at 1920×1080) opened on
``/wall?at=<hours ago>&speed=60`` (docs/wall.md, "Replay (复盘)"). A replay's moment is a time
of the log (its stream ids), so the simulator's event steps of the last ``hours`` are written
into the log with stream ids at their own times before the server starts (a busy city:
``per-day`` reports a day). Worker positions are not written: the replay takes them from the
kept fixes the live server writes (dashboard/cold/tracks.py), which a log written this way
does not have. While it plays, frames are counted with requestAnimationFrame over ``seconds``;
the replayed time's progress, the steps applied and the page's time per advance come from
``onemap.replayStats``. The baseline, in the same run: the same wall live over the same log.
Target: ≥ 10 frames/s at ×60 (issue 21).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import banner, dashboard_server, machine, run_in_tmp, table
from bench.wall_common import Wall, chromium, chromium_version
from feeds.bus import EVENTS, Bus
from feeds.geo import load_geography
from feeds.redis_server import start_redis
from feeds.schema import EventMessage, encode
from feeds.sim import Model, SimConfig

TARGET_FPS = 10.0
PREFIX = "bench-replay"
FPS = """(ms) => new Promise((done) => {
  let frames = 0, worst = 0, last = performance.now(); const start = last;
  const step = (t) => { frames += 1; worst = Math.max(worst, t - last); last = t;
    if (t - start < ms) requestAnimationFrame(step);
    else done({ fps: frames * 1000 / (t - start), worstFrameMs: worst }); };
  requestAnimationFrame(step);
})"""


def write_past(bus: Bus, hours: float, per_day: float) -> int:
    """The simulator's event steps of the last ``hours``, at stream ids of their own times."""
    now = datetime.now(UTC)
    config = SimConfig(seed=21, workers=0, events_per_day=per_day, backfill=True)
    model = Model(load_geography(), config, now - timedelta(hours=hours), positions=False)
    steps = sorted(
        (m for m in model.messages(now) if isinstance(m, EventMessage)), key=lambda m: m.ts
    )
    pipe, last_ms, n = bus.client.pipeline(transaction=False), -1, 0
    for message in steps:
        ms = max(int(message.ts.timestamp() * 1000), last_ms)
        n = n + 1 if ms == last_ms else 0
        last_ms = ms
        pipe.xadd(bus.keys[EVENTS], {"m": encode(message)}, id=f"{ms}-{n}")
    pipe.execute()
    return len(steps)


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    redis = start_redis()
    try:
        steps = write_past(Bus(redis.client(), prefix=PREFIX), args.hours, args.per_day)
        with dashboard_server(redis.url, PREFIX, tmp, ready_timeout=300) as server:
            wall = Wall(server.url, redis.url, PREFIX)
            at = (datetime.now(UTC) - timedelta(hours=args.hours * 0.9)).isoformat()
            with chromium() as browser:
                context = wall.context(browser)
                page = context.new_page()
                # the baseline, in the same run: the same wall live, over the same log
                page.goto(f"{server.url}/wall")
                page.wait_for_selector("#wall-root[data-live='1']", timeout=120_000)
                page.wait_for_timeout(2000)
                live = page.evaluate(FPS, args.seconds * 1000)
                page.goto(f"{server.url}/wall?at={at.replace('+', '%2B')}&speed=60")
                page.wait_for_function(
                    "() => window.onemap.replayStats && window.onemap.replayStats.seeks > 0"
                    " && document.querySelector('#wall-root[data-live]')",
                    timeout=120_000,
                )
                page.wait_for_timeout(2000)
                before = page.evaluate("({...window.onemap.replayStats})")
                frames = page.evaluate(FPS, args.seconds * 1000)
                after = page.evaluate("({...window.onemap.replayStats})")
                version = chromium_version()
                context.close()
    finally:
        redis.stop()
    return {
        "machine": machine(),
        "chromium": version,
        "log_steps": steps,
        "hours": args.hours,
        "fps": round(frames["fps"], 1),
        "live_fps": round(live["fps"], 1),
        "worst_frame_ms": round(frames["worstFrameMs"], 1),
        "advances": after["advances"] - before["advances"],
        "steps_applied": after["steps"] - before["steps"],
        "max_apply_ms": round(after["maxMs"], 1),
        "seconds": args.seconds,
    }


def report(result: dict[str, Any]) -> None:
    banner(f"Wall replay at ×60 ({result['log_steps']:,} steps in {result['hours']} h of log)")
    rows = [
        ["frames/s", result["fps"], f"≥ {TARGET_FPS:.0f}"],
        ["live wall frames/s (baseline)", result["live_fps"], ""],
        ["replay ÷ live", round(result["fps"] / max(result["live_fps"], 0.1), 2), ""],
        ["worst frame (ms)", result["worst_frame_ms"], ""],
        [f"advances in {result['seconds']} s", result["advances"], ""],
        ["steps applied", result["steps_applied"], ""],
        ["slowest advance applied (ms)", result["max_apply_ms"], ""],
    ]
    print(table(rows, ["", "measured", "target"]))
    print("PASS" if result["fps"] >= TARGET_FPS else "FAIL")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--per-day", type=float, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json")
    return run_in_tmp("wall-replay", parser.parse_args(), run, report)


if __name__ == "__main__":
    raise SystemExit(main())
