"""The real-time loop: backfill today so far, then publish each message when its time comes.

Timestamps are the model's scheduled times and a message is only published once the clock has
passed them, so nothing in the feed is ever in the future. Messages due within ``BATCH_WINDOW``
of each other share one round trip to Redis, which keeps 500 positions/s cheap.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from feeds.bus import Bus
from feeds.directory import Directory
from feeds.geo import Geography
from feeds.outage import REDIS_ERRORS, Outage
from feeds.schema import EventMessage, Message
from feeds.sim.desk import DeskWatch
from feeds.sim.model import Model
from feeds.sim.names import card_of
from feeds.sim.options import SimConfig
from feeds.sim.simtime import local_midnight, to_datetime, to_ms

log = logging.getLogger(__name__)

BATCH = 500  # messages per publish_many call
BATCH_WINDOW = 0.05  # seconds: never wake more often than this (messages wait at most this long)
MAX_SLEEP = 5.0  # re-read the clock at least this often, in case it jumps
DAY_MS = 86_400_000
PROGRESS_EVERY = 2.0  # seconds between backfill progress lines
_DEFAULTS = SimConfig()


def run(
    bus: Bus, geo: Geography, config: SimConfig, stop: threading.Event | None = None,
    progress: TextIO | None = sys.stderr, clock: Callable[[], float] = time.time,
) -> None:
    """Simulate until ``stop`` is set. ``clock`` returns epoch seconds (tests shift it)."""
    stop = stop or threading.Event()
    config = config.resolved()
    now_ms = to_ms(clock())
    start_ms = now_ms
    if config.backfill:
        start_ms = local_midnight(now_ms) - config.history_days * DAY_MS
    model = Model(geo, config, to_datetime(start_ms), to_datetime(now_ms))
    _say(progress, f"simulate: seed {config.seed}, {config.events_per_day:,.0f} events/day, "
                   f"{len(model.roster.workers):,} workers, speed {config.speed:g}")
    outage = Outage(log, "simulate", max_delay=MAX_SLEEP, stop=stop)
    _directory(bus, model, stop, outage)
    if config.backfill:
        _backfill(bus, model, now_ms, stop, progress, outage)
    _live(bus, model, stop, clock, outage)


def _directory(bus: Bus, model: Model, stop: threading.Event, outage: Outage) -> None:
    """The simulated workers' names and phones, for the desk (a real city imports its roster:
    ``onemap workers import``)."""
    directory = Directory(bus.client, bus.prefix)
    cards = [card_of(w) for w in model.roster.workers]
    _until_done(lambda: directory.put(cards), stop, outage)


def _backfill(
    bus: Bus, model: Model, until_ms: int, stop: threading.Event, progress: TextIO | None,
    outage: Outage,
) -> None:
    """Publish everything from local midnight to ``until_ms`` as fast as Redis takes it."""
    began = last_line = time.monotonic()
    steps = positions = 0
    span = max(1, until_ms - model.start_ms)
    while not stop.is_set() and (batch := model.take(until_ms, BATCH)):
        _publish(bus, batch, stop, outage)
        done = sum(isinstance(m, EventMessage) for m in batch)
        steps, positions = steps + done, positions + len(batch) - done
        if time.monotonic() - last_line >= PROGRESS_EVERY:
            share = (to_ms(batch[-1].ts) - model.start_ms) / span
            _say(progress, f"backfill {steps:,} steps ({share:.0%})")
            last_line = time.monotonic()
    _say(progress, f"backfill done: {steps:,} steps, {positions:,} positions "
                   f"in {time.monotonic() - began:.1f}s")


def _live(
    bus: Bus, model: Model, stop: threading.Event, clock: Callable[[], float], outage: Outage
) -> None:
    desk = DeskWatch(bus)
    while not stop.is_set():
        desk.follow(model)
        now_ms = to_ms(clock())
        while not stop.is_set() and (batch := model.take(now_ms, BATCH)):
            _publish(bus, batch, stop, outage)
        due = model.next_due()
        if due is None:  # nothing will ever happen again (no workers, no arrivals)
            stop.wait()
            return
        delay = (due - to_ms(clock())) / 1000
        stop.wait(min(MAX_SLEEP, max(BATCH_WINDOW, delay)))


def _publish(bus: Bus, batch: list[Message], stop: threading.Event, outage: Outage) -> None:
    """Publish, riding out Redis stalls and restarts: the batch waits and is retried, never
    dropped (a retried batch that had got through is folded as repeats)."""
    _until_done(lambda: bus.publish_many(batch), stop, outage)


def _until_done(write: Callable[[], object], stop: threading.Event, outage: Outage) -> None:
    """``write`` to Redis until it goes through (or the simulator stops): one log line when
    Redis goes away, one when it is back."""
    while not stop.is_set():
        try:
            write()
        except REDIS_ERRORS as exc:
            outage.failed(exc)
            continue
        outage.ok()
        return


def _say(progress: TextIO | None, line: str) -> None:
    if progress is not None:
        print(line, file=progress, flush=True)


# -- command line ------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``onemap simulate``; see docs/simulator.md."""
    add = parser.add_argument
    add("--speed", type=_number(0.001, 10_000), default=_DEFAULTS.speed,
        help="time compression: N times the arrivals, durations and fix intervals / N")
    add("--events-per-day", type=_number(0, 10_000_000), default=_DEFAULTS.events_per_day,
        help="new incidents per day at speed 1 (default %(default)s)")
    add("--workers", type=_number(0, 1_000_000, int), default=_DEFAULTS.workers,
        help="grid workers sending positions, at most one per grid (default %(default)s)")
    add("--seed", type=int, default=None, help="repeat a run exactly (default: random)")
    add("--backfill", action=argparse.BooleanOptionalAction, default=_DEFAULTS.backfill,
        help="first emit today's incidents since local midnight (default on)")
    add("--history-days", type=_number(0, 2, int), default=_DEFAULTS.history_days,
        help="with --backfill, also the N whole days before today, for day-on-day comparisons")
    add("--burst", type=_number(0, 100_000), default=_DEFAULTS.burst_per_second, metavar="N",
        help="extra new incidents per second, for load tests")
    add("--burst-seconds", type=_number(0, 86_400), default=_DEFAULTS.burst_seconds,
        metavar="S", help="how long the burst lasts (default %(default)s)")
    add("--duplicate-rate", type=_number(0, 1), default=_DEFAULTS.duplicate_rate,
        help="share of event steps re-sent identically later (chaos testing)")
    add("--reorder-rate", type=_number(0, 1), default=_DEFAULTS.reorder_rate,
        help="share of event steps emitted after the incident's next step (chaos testing)")


def config_from_args(ns: argparse.Namespace) -> SimConfig:
    return SimConfig(
        events_per_day=ns.events_per_day, workers=ns.workers, seed=ns.seed, speed=ns.speed,
        backfill=ns.backfill, history_days=ns.history_days, burst_per_second=ns.burst,
        burst_seconds=ns.burst_seconds,
        duplicate_rate=ns.duplicate_rate, reorder_rate=ns.reorder_rate,
    )


def _number(
    low: float, high: float, kind: Callable[[str], float] = float
) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}")
        return value

    return parse
