"""Analytics speed and size: per-step update, full rebuild, and a day's state in memory.

    .venv/bin/python -m bench.analytics [--steps 100000] [--rebuild 200000] [--only PART]
        [--json out.json]

1. **Per step**: 100,000 simulated steps (with 3 % repeats and 5 % overtaken steps) folded one
   by one into ``State``; each ``apply_event`` is timed. Baselines in the same run: the same
   fold without analytics (what the analytics add), and the naive way, a full recompute of the
   step's four areas (``dashboard.analytics.reference``) after a sample of the steps.
2. **Rebuild**: 200,000 steps folded into a fresh ``State`` with ``State.fold``, from decoded
   messages, and end to end from a real redis-server as the push bridge does at start
   (``Bus.log_batches`` + ``State.fold_log``), in fresh processes that import the server
   (three of each path, interleaved; medians); baselines: the same fold without analytics,
   ``apply_event`` one step at a time, the former end-to-end path (``Bus.replay`` +
   ``fold``), and reading the log alone (with the collector paused, as the fold pauses it).
   Wall and CPU time are both reported.
3. **RSS**: a child process that imports the whole server (Dash, Flask-SocketIO ...), then
   folds a day of events (8,000 incidents) and an hour of positions of 10,000 workers read
   from a pipe; its RSS before and after. An hour of fixes leaves the same state as a day: the
   state keeps each worker's newest fix and the day's (worker, grid) visits, ~10,000 of each.
Absolute times depend on this noisy 2-core machine; the ratios are firmer.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from typing import Any

from dashboard.analytics.reference import recompute
from dashboard.state import State
from feeds.bus import EVENTS, Bus
from feeds.geo import Geography, load_geography
from feeds.redis_server import start_redis
from feeds.schema import CHINA_TZ, EventMessage, decode_trusted, encode
from feeds.sim import Model, SimConfig

DAY = datetime(2026, 3, 10, tzinfo=CHINA_TZ)


def simulated_steps(
    geo: Geography, count: int, per_day: float, seed: int = 1
) -> list[EventMessage]:
    """At least ``count`` event steps of busy simulated days, with repeats and reordering."""
    config = SimConfig(
        seed=seed, events_per_day=per_day, workers=10_000, duplicate_rate=0.03, reorder_rate=0.05
    )
    model = Model(geo, config, DAY, positions=False)
    steps: list[EventMessage] = []
    for message in model.messages():
        assert isinstance(message, EventMessage)
        steps.append(message)
        if len(steps) >= count:
            return steps
    return steps


def fold_timed(geo: Geography, steps: list[EventMessage], analytics: bool) -> list[int]:
    state = without_analytics(State(geo)) if not analytics else State(geo)
    apply, clock = state.apply_event, time.perf_counter_ns
    times = []
    for n, step in enumerate(steps):
        started = clock()
        apply(f"{n}-0", step)
        times.append(clock() - started)
    return times


def without_analytics(state: State) -> State:
    state.metrics.on_step = lambda incident, step: None
    state.metrics.fold_report = lambda incident, step: None
    state.metrics.settle_folded = lambda incidents, heads: None
    return state


def naive_per_step(geo: Geography, steps: list[EventMessage], sample: int) -> list[int]:
    """Recompute the four areas of a step from everything seen so far, for ``sample`` steps."""
    every = max(1, len(steps) // sample)
    times = []
    for n in range(every, len(steps), every):
        step = steps[n]
        areas = [geo.city.code, step.area.county, step.area.town, step.area.grid or step.area.town]
        started = time.perf_counter_ns()
        recompute(geo, steps[: n + 1], [], areas, step.ts)
        times.append(time.perf_counter_ns() - started)
    return times


def percentiles(nanoseconds: list[int]) -> dict[str, float]:
    ordered = sorted(nanoseconds)
    return {
        "median_us": statistics.median(ordered) / 1000,
        "p99_us": ordered[int(len(ordered) * 0.99)] / 1000,
        "mean_us": sum(ordered) / len(ordered) / 1000,
    }


def bench_steps(geo: Geography, steps: list[EventMessage]) -> dict[str, Any]:
    full = percentiles(fold_timed(geo, steps, analytics=True))
    base = percentiles(fold_timed(geo, steps, analytics=False))
    naive = percentiles(naive_per_step(geo, steps, sample=60))
    return {
        "steps": len(steps),
        "with_analytics": full,
        "state_only": base,
        "naive_recompute": naive,
        "naive_over_incremental": naive["median_us"] / full["median_us"],
    }


def timing(run: Any) -> tuple[dict[str, float], Any]:
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    result = run()
    return {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}, result


def bench_rebuild(geo: Geography, steps: list[EventMessage], repeats: int = 3) -> dict[str, Any]:
    entries = [(f"{n}-0", step) for n, step in enumerate(steps)]

    def fold(state: State) -> State:
        state.fold(iter(entries))
        return state

    def one_by_one() -> State:
        state = State(geo)
        for sid, step in entries:
            state.apply_event(sid, step)
        return state

    results: dict[str, Any] = {"steps": len(steps)}
    results["fold"], state = timing(lambda: fold(State(geo)))
    results["fold_without_analytics"], _ = timing(lambda: fold(without_analytics(State(geo))))
    results["apply_one_by_one"], stepwise = timing(one_by_one)
    server = start_redis()
    try:
        bus = Bus(server.client(), prefix="bench")
        for start in range(0, len(steps), 5000):
            bus.publish_many(steps[start : start + 5000])
        port = server.client().connection_pool.connection_kwargs["port"]
        runs: dict[str, list[dict[str, Any]]] = {path: [] for path in PATHS}
        for _ in range(repeats):  # interleaved, so that a change of load hits every path
            for path in PATHS:
                runs[path].append(_fresh_rebuild(port, path))
    finally:
        server.stop()
    for path, reports in runs.items():
        results[f"redis_{path}"] = {
            "wall_s": statistics.median(r["wall_s"] for r in reports),
            "cpu_s": statistics.median(r["cpu_s"] for r in reports),
            "runs_wall_s": [round(r["wall_s"], 3) for r in reports],
        }
    results["rebuild_over_replay_wall"] = (
        results["redis_rebuild"]["wall_s"] / results["redis_replay_and_fold"]["wall_s"]
    )
    city, now = geo.city.code, steps[-1].ts
    figures = _digest(state.metrics.figures(city, now))
    results["incidents"] = len(state.incidents)
    rebuilt = [r["figures"] for path in PATHS[:2] for r in runs[path]]
    results["same_figures"] = figures == _digest(stepwise.metrics.figures(city, now)) and all(
        f == figures for f in rebuilt
    )
    return results


PATHS = ("rebuild", "replay_and_fold", "log_batches_only")


def _fresh_rebuild(port: int, path: str) -> dict[str, Any]:
    """One rebuild from Redis in a new process that has imported the server, as at its start:
    a long-lived process's heap (the runs before, in this one) slows the fold by ~20 %."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.analytics", "--rebuild-child", str(port), path],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout)


def rebuild_child(port: int, path: str) -> None:
    import redis

    import onemap.app  # noqa: F401  (the server's whole import footprint)

    geo = load_geography()
    bus = Bus(redis.Redis(port=port), prefix="bench")
    state = State(geo)
    run = {
        "rebuild": lambda: _rebuilt(state, bus),
        "replay_and_fold": lambda: _replayed(state, bus),
        "log_batches_only": lambda: _read_raw(bus),
    }[path]
    gc.disable()  # as State.fold_log does: the read-only baseline would pay for it alone
    report, _ = timing(run)
    gc.enable()
    figures = None
    if state.recent:  # at the last step's time, as the parent reads its own fold
        figures = _digest(state.metrics.figures(geo.city.code, state.recent[-1].message.ts))
    json.dump({**report, "figures": figures}, sys.stdout)


def _digest(figures: dict[str, Any]) -> str:
    return json.dumps(figures, sort_keys=True)


def _replayed(state: State, bus: Bus) -> State:
    """The rebuild as it was: ``Bus.replay`` (redis-py's XRANGE, full decode) + ``fold``."""
    state.fold((entry.sid, entry.message) for entry in bus.replay(EVENTS))
    return state


def _rebuilt(state: State, bus: Bus) -> State:
    """The rebuild as ``Bridge.rebuild`` runs it: ``Bus.log_batches`` + ``State.fold_log``."""
    state.fold_log(bus.log_batches(EVENTS))
    return state


def _read_raw(bus: Bus) -> int:
    return sum(len(batch) for batch in bus.log_batches(EVENTS))


def bench_rss(geo: Geography) -> dict[str, Any]:
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.analytics", "--rss-child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        sent = _feed_a_day(geo, child.stdin)
        child.stdin.close()
        report = json.loads(child.stdout.read())
    finally:
        child.wait(timeout=600)
    return {**report, "messages_sent": sent}


def _feed_a_day(geo: Geography, pipe: Any) -> int:
    events = Model(
        geo, SimConfig(seed=2), DAY, positions=False, arrivals_until=DAY + timedelta(days=1)
    )
    fixes = Model(geo, SimConfig(seed=2, events_per_day=0), DAY + timedelta(hours=9))
    sent = 0
    for model, until in ((events, None), (fixes, DAY + timedelta(hours=10))):
        for message in model.messages(until):
            pipe.write(encode(message) + b"\n")
            sent += 1
    return sent


def rss_child() -> None:
    import psutil

    import onemap.app  # noqa: F401  (the server's whole import footprint)

    process = psutil.Process()
    geo = load_geography()
    state = State(geo)
    gc.collect()
    before = process.memory_info().rss
    for n, line in enumerate(sys.stdin.buffer):
        message = decode_trusted(line)
        if isinstance(message, EventMessage):
            state.apply_event(f"{n}-0", message)
        else:
            state.apply_position(f"{n}-0", message)
    gc.collect()
    after = process.memory_info().rss
    json.dump(
        {
            "rss_before_mb": before / 2**20,
            "rss_after_mb": after / 2**20,
            "incidents": len(state.incidents),
            "workers": len(state.positions),
        },
        sys.stdout,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--rebuild", type=int, default=200_000)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument(
        "--only", choices=("per_step", "rebuild", "rss"), help="run one of the three parts"
    )
    parser.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rebuild-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child()
        return
    if args.rebuild_child:
        rebuild_child(int(args.rebuild_child[0]), args.rebuild_child[1])
        return
    geo = load_geography()
    wanted = {args.only} if args.only else {"per_step", "rebuild", "rss"}
    needed = max(args.steps if "per_step" in wanted else 0, args.rebuild)
    steps = simulated_steps(geo, needed, per_day=40_000) if wanted - {"rss"} else []
    parts = {
        "per_step": lambda: bench_steps(geo, steps[: args.steps]),
        "rebuild": lambda: bench_rebuild(geo, steps[: args.rebuild]),
        "rss": lambda: bench_rss(geo),
    }
    results = {name: run() for name, run in parts.items() if name in wanted}
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
