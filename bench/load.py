"""The load: the simulator's worker positions, event steps at a fixed rate, raw position feeds.

Producers run in their own processes so their work and their GIL are not the benchmark's.
Each one notes the wall-clock time just before each ``publish_many`` call, which is where every
latency in these benchmarks starts.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from bench.common import ROOT
from feeds.bus import Bus
from feeds.geo import Geography, load_geography
from feeds.schema import EventMessage, PositionMessage, decode_trusted
from feeds.sim.model import Model
from feeds.sim.options import SimConfig
from tests.factories import event_dict, line

TITLE = "LAT-{:06d} 井盖缺失 路口东侧"  # bench.clients.TAG and the page's observer match LAT-nnnnnn


# -- the simulator ------------------------------------------------------------------------
def simulator_speed(geo: Geography, workers: int, rate: float, seed: int) -> float:
    """The ``--speed`` giving ``rate`` positions/s now.

    Workers only send fixes on shift (15% at night), so the speed that gives 1,000 fixes/s is
    ~2 by day and ~11 at night: count one simulated minute at speed 1 from now.
    """
    now = datetime.now(UTC)
    config = SimConfig(workers=workers, events_per_day=0, seed=seed, speed=1, backfill=False)
    model = Model(geo, config, now, now)
    now_ms = int(now.timestamp() * 1000)
    model.take(now_ms, 10**7)  # every worker's first fix is due at once: not the steady rate
    per_s = len(model.take(now_ms + 60_000, 10**7)) / 60
    return round(rate / per_s, 3) if per_s else 1.0


def start_simulator(
    redis_url: str, prefix: str, workers: int, speed: float, seed: int, log_path: Path
) -> subprocess.Popen[bytes]:
    """`onemap simulate` with positions only: no backfill and no incidents of its own."""
    env = dict(os.environ, ONEMAP_REDIS_URL=redis_url, ONEMAP_PREFIX=prefix)
    command = [sys.executable, "-m", "onemap.cli", "simulate", "--workers", str(workers),
               "--events-per-day", "0", "--no-backfill", "--seed", str(seed),
               "--speed", str(speed)]  # fmt: skip
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


# -- event steps at a fixed rate ------------------------------------------------------------
def event_messages(geo: Geography, count: int) -> list[EventMessage]:
    """``count`` new incidents, each with a unique title, spread over the whole city."""
    messages = []
    for n in range(count):
        raw = line(event_dict(geo, n % 997, id=f"LAT{n:07d}", title=TITLE.format(n)))
        message = decode_trusted(raw)
        assert isinstance(message, EventMessage)
        messages.append(message)
    return messages


def publish_events(
    redis_url: str,
    prefix: str,
    messages: list[EventMessage],
    rate: float,
    start: float,
    tick: float,
    results: mp.Queue,
) -> None:
    """Publish ``messages`` at ``rate``/s from wall-clock ``start``; report when each went."""
    bus = Bus(redis.Redis.from_url(redis_url), prefix=prefix)
    sent: dict[str, float] = {}
    done = 0
    beat = 0
    while done < len(messages):
        beat += 1
        _sleep_until(start + beat * tick)  # absolute deadlines: no drift
        due = min(len(messages), int((time.time() - start) * rate))
        if due <= done:
            continue
        batch = messages[done:due]
        at = time.time() * 1000
        bus.publish_many(batch)
        for message in batch:
            sent[message.title[:10]] = at
        done = due
    results.put(sent)


def _sleep_until(when: float) -> None:
    delay = when - time.time()
    if delay > 0:
        time.sleep(delay)


# -- raw positions at stepped rates ------------------------------------------------------------
@dataclass(frozen=True)
class FeedPlan:
    """Positions for ``workers`` distinct workers, cycled in order, at each (rate, seconds)."""

    workers: int
    steps: tuple[tuple[float, float], ...]
    warm_rate: float = 20.0  # until the start: keeps the bridge fed while screens connect
    tick: float = 0.02

    def timeline(self, start: float) -> list[tuple[float, float, float]]:
        """(wall-clock start, rate, seconds) of each step."""
        out, at = [], start
        for rate, seconds in self.steps:
            out.append((at, rate, seconds))
            at += seconds
        return out


def worker_id(index: int) -> str:
    return f"F{index:06d}"


def worker_index(worker: str) -> int:
    return int(worker[1:])


def _fixes(geo: Geography, workers: int) -> list[PositionMessage]:
    grids = sorted(geo.grids)
    rng = random.Random(1)
    now = datetime.now(UTC)
    fixes = []
    for i in range(workers):
        grid = grids[i % len(grids)]
        lon, lat = geo.random_point(grid, rng)
        fixes.append(PositionMessage(worker_id(i), now, lon, lat, grid, "patrolling", 80, 5.0))
    return fixes


def feed_positions(
    redis_url: str,
    prefix: str,
    plan: FeedPlan,
    start: Any,  # mp.Value("d"): 0 until the parent sets the first step's wall-clock start
    stop: Any,  # mp.Event
    log: mp.Queue,
) -> None:
    """Publish the plan; put (publish time, first message number, count) per batch on ``log``.

    Message number k is worker k mod ``plan.workers``: with enough workers each one moves
    again only seconds later, so the server's coalescing never merges two of them and a row's
    worker says which message it was.
    """
    bus = Bus(redis.Redis.from_url(redis_url), prefix=prefix)
    fixes = _fixes(load_geography(), plan.workers + 100)
    template, spare = fixes[: plan.workers], fixes[plan.workers :]
    _warm(bus, spare, plan.warm_rate, start, stop)
    sent = 0
    for step_start, rate, seconds in plan.timeline(start.value):
        began, beat = sent, 0
        while not stop.is_set() and (now := time.time()) < step_start + seconds:
            due = began + int((now - step_start) * rate)
            if due > sent:
                at = time.time()
                bus.publish_many(_moved(template, sent, due))
                log.put((at, sent, due - sent))
                sent = due
            beat += 1
            _sleep_until(step_start + beat * plan.tick)
    log.put(None)


def _moved(template: list[PositionMessage], first: int, end: int) -> list[PositionMessage]:
    now = datetime.now(UTC)
    return [_stamped(template[k % len(template)], now) for k in range(first, end)]


def _stamped(fix: PositionMessage, ts: datetime) -> PositionMessage:
    return PositionMessage(fix.worker, ts, fix.lon, fix.lat, fix.grid, fix.status, 80, 5.0)


def _warm(bus: Bus, spare: list[PositionMessage], rate: float, start: Any, stop: Any) -> None:
    """A trickle of workers outside the plan until the first step: the server sees a live feed
    while the screens connect (and a quiet bridge is not what the steps measure)."""
    k = 0
    while not stop.is_set() and not (start.value and time.time() >= start.value):
        bus.publish_many([_stamped(spare[k % len(spare)], datetime.now(UTC))])
        k += 1
        time.sleep(1 / rate)


def publish_probe(bus: Bus, geo: Geography) -> float:
    """One position of a worker never seen before; returns when it was published."""
    fix = _fixes(geo, 1)[0]
    probe = PositionMessage("PROBE1", datetime.now(UTC), fix.lon, fix.lat, fix.grid, "idle")
    at = time.time()
    bus.publish_many([probe])
    return at
