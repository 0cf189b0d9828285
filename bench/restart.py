"""Restart to ready with a long log: a checkpoint plus the log's tail, against the whole log folded.

    .venv/bin/python -m bench.restart [--steps 500000] [--tail 5000] [--json out.json]

All real processes: a redis-server holding ``--steps`` simulated event steps (busy days with
repeats and reordering, bench.analytics.simulated_steps), and `onemap serve` started three
times on it:

1. **first start**, no checkpoint: folds the whole log; then stopped with SIGTERM, which writes
   the checkpoint (its time and size are reported);
2. ``--tail`` more steps are published while no server runs;
3. **restart**: loads the checkpoint, folds only the tail;
4. **baseline**, in the same run: a server with checkpoints off, folding the whole log with the
   tail. The headline is restart / baseline (time to ready, and RSS when ready).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench.analytics import simulated_steps
from bench.common import banner, dashboard_server, rss_mb, run_in_tmp, say, table
from feeds.bus import Bus
from feeds.geo import load_geography
from feeds.redis_server import start_redis

PREFIX = "bench"


def _start(redis_url: str, tmp: Path, data: Path, **env: str) -> dict[str, Any]:
    """Start a server, time it to ready, note its RSS and log; stop it (SIGTERM)."""
    started = time.perf_counter()
    with dashboard_server(
        redis_url, PREFIX, tmp, ONEMAP_DATA_DIR=str(data), ONEMAP_LOG_LEVEL="INFO", **env
    ) as server:
        ready_s = time.perf_counter() - started
        health = server.health()
        rss = rss_mb(server.process.pid)
        log_path = server.log_path
        stopping = time.perf_counter()
    stop_s = time.perf_counter() - stopping
    lines = [
        line
        for line in log_path.read_text().splitlines()
        if "checkpoint" in line or "rebuilt" in line
    ]
    return {
        "ready_s": ready_s,
        "stop_s": stop_s,
        "rss_mb": rss,
        "incidents": health["incidents"],
        "log": lines,
    }


def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    geo = load_geography()
    say(f"simulating {args.steps + args.tail:,} steps")
    steps = simulated_steps(geo, args.steps + args.tail, per_day=args.per_day)
    head, tail = steps[: args.steps], steps[args.steps : args.steps + args.tail]
    with start_redis() as redis_server:
        bus = Bus(redis_server.client(), prefix=PREFIX, events_maxlen=10_000_000)
        for start in range(0, len(head), 5000):
            bus.publish_many(head[start : start + 5000])
        say(f"{len(head):,} steps in the log; first start (no checkpoint)")
        data = tmp / "data"
        first = _start(redis_server.url, tmp, data)
        checkpoint = data / "checkpoints" / f"{PREFIX}.checkpoint"
        size_mb = checkpoint.stat().st_size / 2**20 if checkpoint.exists() else None
        bus.publish_many(tail)
        say(f"{len(tail):,} more steps; restart from the checkpoint")
        restart = _start(redis_server.url, tmp, data)
        say("baseline: checkpoints off, the whole log folded")
        baseline = _start(
            redis_server.url, tmp, tmp / "no-checkpoint", ONEMAP_CHECKPOINT_EVERY_S="0"
        )
    return {
        "steps": len(head),
        "tail": len(tail),
        "checkpoint_mb": size_mb,
        "first": first,
        "restart": restart,
        "baseline": baseline,
        "ready_ratio": restart["ready_s"] / baseline["ready_s"],
        "rss_ratio": restart["rss_mb"] / baseline["rss_mb"],
    }


def _report(result: dict[str, Any]) -> None:
    rows = [
        [name, f"{r['ready_s']:.2f}", f"{r['stop_s']:.2f}", f"{r['rss_mb']:.0f}", r["incidents"]]
        for name, r in (
            ("first start (fold all)", result["first"]),
            ("restart (checkpoint + tail)", result["restart"]),
            ("baseline (fold all, no checkpoint)", result["baseline"]),
        )
    ]
    print(table(rows, ["server", "to ready s", "SIGTERM to exit s", "RSS MB", "incidents"]))
    print(
        f"log {result['steps']:,} steps + tail {result['tail']:,}; checkpoint "
        f"{result['checkpoint_mb']:.0f} MB; restart / baseline: time "
        f"{result['ready_ratio']:.2f}, RSS {result['rss_ratio']:.2f}"
    )
    for name in ("first", "restart", "baseline"):
        for line in result[name]["log"]:
            print(f"  {name}: {line[-140:]}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.restart", description=__doc__)
    parser.add_argument("--steps", type=int, default=500_000)
    parser.add_argument("--tail", type=int, default=5_000)
    parser.add_argument("--per-day", type=float, default=40_000.0, help="simulated incidents")
    parser.add_argument("--json", default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    banner("bench.restart: checkpoint + tail against the whole log")
    return run_in_tmp("restart", args, _run, _report, keep=args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
