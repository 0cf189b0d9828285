"""Replay (复盘): how long a seek to a past moment takes, and what playing at ×60 costs the server.

One run, in-process, a real Redis:

* a 72-hour events log at the city's rate (8,000 incidents a day by default, the simulator's),
  written with stream ids at the steps' own times, as a server that ran for three days has it;
* before each sought moment, a shelved checkpoint 15 minutes earlier (``ONEMAP_REPLAY_EVERY_S``
  at its default: the worst case folds a whole interval), holding every worker's position;
* the workers' kept fixes over those 15 minutes (10,000 workers, one fix per 30 s, a part
  written every 30 s as the live writer does), each around its own grid, one in ten crossing
  into the next grid: 1,000 new grid visits for the patrol figures to fold.

For each moment: **seek** = the state rebuilt (``Rewinder.rewind``: shelf, log tail, fixes) and
the city wall's snapshot of it built and encoded; **baseline** = the same moment by folding the
whole log up to it (what a replay without the shelf would do). Then **playing at ×60**: every
0.5 s of wall time the replay moves 30 s on; the server's cost per such step (fold, steps,
positions, figures; the panels every 3 s) is what limits how smoothly a wall plays::

    .venv/bin/python -m bench.replay [--hours 72] [--per-day 8000] [--workers 10000]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

from bench.common import banner, table
from dashboard.cold.tracks import TrackReader, TrackWriter
from dashboard.live.actions import ActionBook
from dashboard.live.checkpoint import dump
from dashboard.live.replay import Replays, Session
from dashboard.live.rewind import Changes, Rewinder, collector_paused, ms_moment
from dashboard.live.shelf import Shelf
from dashboard.state import State
from feeds.bus import EVENTS, Bus
from feeds.geo import Geography, load_geography
from feeds.messages import encode
from feeds.redis_server import start_redis
from feeds.schema import EventMessage, PositionMessage
from feeds.sim import Model, SimConfig

PREFIX = "bench"
INTERVAL_S = 900  # ONEMAP_REPLAY_EVERY_S
FIX_EVERY_S = 30
AGO_H = (60, 36, 12, 1)  # the moments sought, hours before the log's end


def write_log(bus: Bus, geo: Geography, hours: int, per_day: float) -> tuple[int, int]:
    """The events of ``hours`` up to now, ids at their times; (first ms, last ms)."""
    now = datetime.now(UTC)
    config = SimConfig(events_per_day=per_day, workers=0, seed=7)
    model = Model(geo, config, now - timedelta(hours=hours), positions=False)
    events = [m for m in model.messages(now) if isinstance(m, EventMessage)]
    key, last, first = bus.keys[EVENTS], 0, None
    pipe = bus.client.pipeline(transaction=False)
    for n, m in enumerate(events):
        last = max(last + 1, int(m.ts.timestamp() * 1000))
        first = first or last
        pipe.xadd(key, {"m": encode(m)}, id=f"{last}-0")
        if n % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    print(f"   log: {len(events):,} steps over {hours} h", flush=True)
    assert first is not None
    return first, last


def fixes(geo: Geography, workers: int, start_ms: int, end_ms: int, wander: bool, seed: int):
    """Each worker's fix every FIX_EVERY_S in [start, end], around its own grid (grid workers
    patrol their grid); ``wander``: one worker in ten crosses into the next grid halfway, a new
    visit (each one costs the patrol figures the most to fold)."""
    homes_rng, rng = random.Random(1), random.Random(seed)
    grids = sorted(geo.grids)
    homes = [homes_rng.randrange(len(grids)) for _ in range(workers)]
    seq, middle = 0, (start_ms + end_ms) // 2
    for ms in range(start_ms, end_ms + 1, FIX_EVERY_S * 1000):
        ts = ms_moment(ms)
        for w, home in enumerate(homes):
            moved = wander and w % 10 == 0 and ms >= middle
            grid = grids[(home + 1) % len(grids)] if moved else grids[home]
            g = geo.grids[grid]
            seq += 1
            yield f"{ms}-{seq}", PositionMessage(
                worker=f"W{w:05d}", ts=ts, lon=g.lon + rng.uniform(-0.002, 0.002),
                lat=g.lat + rng.uniform(-0.002, 0.002), grid=grid, status="patrolling",
            )  # fmt: skip


def prepare(bus, geo, root: Path, moments: list[int], workers: int) -> Shelf:
    """The shelf copies and kept fixes the moments need (see the module's docstring)."""
    shelf = Shelf(root / "checkpoints", PREFIX, every_s=INTERVAL_S, keep_h=10_000)
    writer = TrackWriter(root / "archive", every_s=FIX_EVERY_S, keep_days=10_000)
    state = State(geo, recent_size=500)
    after = "0-0"
    for at in sorted(moments):
        shelved = at - INTERVAL_S * 1000
        rows = bus.range_raw(EVENTS, after, str(shelved), 10**8)
        state.fold_log([[(s.encode(), raw) for s, raw in rows]])
        after = state.last_sid[EVENTS]
        first = shelved - FIX_EVERY_S * 1000
        for sid, fix in fixes(geo, workers, first, shelved, wander=False, seed=at):
            state.apply_position(sid, fix)
        state.last_sid["positions"] = f"{shelved}-999999999"
        shelf.put(dump(state, ActionBook(), PREFIX), after)
        flushed = shelved
        for sid, fix in fixes(geo, workers, shelved + 1000, at, wander=True, seed=at + 1):
            ms = int(sid.partition("-")[0])
            if ms - flushed >= FIX_EVERY_S * 1000:
                writer.flush()
                flushed = ms
            writer.offer(sid, fix)
        writer.flush()
    return shelf


def timed(work):
    gc.collect()  # the last one's garbage is not this one's cost
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def seek(replays: Replays, at_ms: int, scope: str):
    """What a seek does: the state rebuilt and its snapshot built, then encoded as sent."""
    rewound, reply = replays.rebuild(at_ms, scope, lite=False)
    return rewound, len(json.dumps(reply, ensure_ascii=False, default=str))


def baseline(bus, geo, at_ms: int) -> int:
    """The whole log folded up to the moment, the collector held off as the seek holds it."""
    with collector_paused():
        state = State(geo, recent_size=500)
        rows = bus.range_raw(EVENTS, "0-0", str(at_ms), 10**8)
        state.fold_log([[(s.encode(), raw) for s, raw in rows]])
        return len(state.incidents)


def play(replays: Replays, rewound, scope: str, seconds: float) -> list[float]:
    """Costs of each 0.5 s step of playing at ×60 for ``seconds`` of wall time."""
    session = Session(scope, False, rewound)
    costs = []
    for _ in range(int(seconds / 0.5)):
        before = rewound.at_ms
        started = time.perf_counter()
        changes: Changes = rewound.advance(before + 30_000)
        json.dumps(replays._delta(session, changes, before), ensure_ascii=False, default=str)
        costs.append(time.perf_counter() - started)
        session.panels_sent -= 0.5  # as if half a second of wall time passed
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=int, default=72)
    parser.add_argument("--per-day", type=float, default=8000)
    parser.add_argument("--workers", type=int, default=10_000)
    args = parser.parse_args()
    banner("replay: seek to a past moment, play at ×60")
    geo = load_geography()
    with tempfile.TemporaryDirectory(prefix="onemap-bench-replay-") as tmp, start_redis() as redis:
        root = Path(tmp)
        bus = Bus(redis.client(), prefix=PREFIX)
        _first, last = write_log(bus, geo, args.hours, args.per_day)
        moments = [last - h * 3_600_000 for h in AGO_H if h < args.hours]
        started = time.perf_counter()
        shelf = prepare(bus, geo, root, moments, args.workers)
        print(f"   shelf and fixes prepared in {time.perf_counter() - started:.0f} s", flush=True)
        sizes = [shelf.path(ms).stat().st_size for ms in shelf.moments()]
        print(f"   shelved checkpoints: {statistics.mean(sizes) / 1e6:.1f} MB each, zstd")
        rewinder = Rewinder(
            bus, shelf, TrackReader(root / "archive"), lambda: State(geo, recent_size=500),
            PREFIX, reach_h=10_000,
        )  # fmt: skip
        replays = Replays(rewinder, 200, 3)
        city = geo.city.code
        rows, plays = [], []
        process = psutil.Process()
        for at_ms in moments:
            rewound = None
            gc.collect()
            rss = process.memory_info().rss
            seek_s, (rewound, size) = timed(lambda at_ms=at_ms: seek(replays, at_ms, city))
            gc.collect()
            held = (process.memory_info().rss - rss) / 2**20
            base_s, incidents = timed(lambda at_ms=at_ms: baseline(bus, geo, at_ms))
            hours = (last - at_ms) / 3_600_000
            rows.append(
                (f"{hours:.0f} h ago", incidents, f"{size / 1e6:.1f} MB",
                 f"{seek_s:.2f} s", f"{base_s:.2f} s", f"{seek_s / base_s:.2f}×",
                 f"{held:.0f} MiB")
            )  # fmt: skip
            plays += play(replays, rewound, city, seconds=10)
        print(table(rows, ["moment", "incidents", "snapshot", "seek", "baseline", "ratio", "held"]))
        p50, p95 = statistics.median(plays), sorted(plays)[int(0.95 * len(plays))]
        print(
            f"   playing at ×60 (30 s of log per 0.5 s step, city wall): step p50 "
            f"{p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(plays) * 1000:.0f} ms: "
            f"{100 * sum(plays) / (0.5 * len(plays)):.0f} % of one core while playing"
        )
        worst = max(float(r[3].split()[0]) for r in rows)
        print(f"   target: seek ≤ 2 s: worst {worst:.2f} s: {'met' if worst <= 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
