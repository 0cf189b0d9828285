"""Werkzeug against gunicorn: connections held, publish → screen latency and CPU, in one run.

    .venv/bin/python -m bench.servers [--screens 100,200,300,400] [--seconds 25] [--json FILE]

Issue 17: `onemap serve`'s production server chosen by measurement against the development
server it replaced (``bench.dev_server``: Werkzeug, a thread per connection), in the same run,
and the screens one replica holds at p99 ≤ 250 ms. Both servers run side by side on one
redis-server, each on its own key prefix (so a feed reaches only the server it is meant for),
each with ``ONEMAP_CHECKPOINT_EVERY_S=0`` (a checkpoint is a fork's CPU in one window of one
server only). Each starts with 10,000 workers' positions folded, so every screen's ``hello``
snapshot is a city's from the first step on.

The screens (bench.clients.ClientFleet) each open a websocket after a kiosk sign-in of their own
and say ``hello`` to the city scope, as walls do. ``--probes`` of them (20) are python-socketio
clients that decode every frame: they measure position rows and their latency. The rest are lean
screens (bench.clients.LeanScreen: Socket.IO spoken by hand, frames not decoded, event steps
timed from the raw text), ``--procs`` processes of them per step: to the server the same
websocket, the same hello and the same frames, at about a fifth of the client CPU (100 screens:
20 % of a core instead of 56 %). With decoding clients only, 200 screens took 110-125 % of a
core, the machine sat at 200 %, and what was measured was the clients' queue (step p50 0.6-1.8 s
with the server at 32-35 % of a core), the same on both servers. The servers are ramped
together, step by step (``--screens``, all screens counted): at each step each server in turn,
the order alternating from step to step so drift favours neither, gets its screens topped up to
the step while the other holds its own screens idle:

1. **Connections held**: the added screens connect (all of each process's in a row, the
   processes side by side, their start included); within ``--deadline`` seconds or the
   server's ramp ends there. Per step: screens the server counts, the seconds until the last
   was in, the server's CPU per added screen (the held screens' frames included: there is a
   trickle of positions), RSS (master + worker; the worker alone) and the worker's threads.
2. **Publish → screen**, with the step's screens on: a feeder publishes positions at
   ``--rate``/s (10,000 distinct workers in turn, as bench.fanout: the 500 ms coalescing never
   merges two moves of one worker) and new incidents at ``--event-rate``/s (bench.load's tagged
   steps) for ``--seconds`` after ``--settle``. Measured: position rows per second on each
   probe (its share of the offered rate; deliveries/s = that × screens, since every screen of
   the scope gets the same frames, and the lean screens' frames per second say they did),
   publish → receipt of 1 position row in ``--sample-every`` on the probes (p50 ≈ 250 ms of it
   is the coalescing frame's wait), publish → receipt of every event step on every screen (a
   step a screen never got counts as infinitely late), the server's CPU (% of one core), the
   screens' CPU, the idle rival's (its server and screens) and everyone else's.
3. **Screens held per replica at p99 ≤ 250 ms**: the largest step whose event-step p99 stayed
   ≤ 250 ms with every screen in, nothing missing and no screen lost. Events, not positions: a
   position waits up to 500 ms for its frame by design.

A server's ramp also ends when it loses screens or its step p99 passes ``--give-up-ms``. Ratios
gunicorn ÷ werkzeug are printed per step: on a shared 2-core machine, where the screens
themselves take a good part of a core, absolute figures are rough and ratios firmer.
``ONEMAP_THREADS`` (gunicorn's threads: its connections at once, screens included) comes from the
environment; past it a screen's connection waits unserved, and so does ``/healthz`` (a ramp that
reaches it ends with the health check's timeout). Screens are ended by stopping their processes
(a lean screen's close waits 3 s for the server's).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import queue
import re
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.clients import ClientFleet, ClientSpec, Record
from bench.common import (
    MACHINE,
    OTHERS,
    CpuMeter,
    Server,
    banner,
    dashboard_server,
    kiosk_token,
    machine,
    rss_mb,
    run_in_tmp,
    say,
    server_pids,
    server_rss_mb,
    summary,
    table,
    worker_pid,
)
from bench.fanout import Publications, _analyse, _end
from bench.load import FeedPlan, event_messages, feed_positions, publish_events
from feeds.geo import load_geography
from feeds.redis_server import start_redis

KINDS = ("werkzeug", "gunicorn")
TARGET_P99_MS = 250.0
GRACE_S = 2.0  # after the last publish: steps still in flight belong to the window
PREFILL_RATE = 5000.0  # positions/s of the first fold of the workers
NOTEWORTHY = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback")
BASELINE_SAYS = re.compile(r"development server|used in a production deployment")  # at start


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.servers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--screens", default="100,200,300,400", help="screens held at each step")
    add("--procs", type=int, default=4, help="processes each step's lean screens are spread over")
    add("--probes", type=int, default=20, help="python-socketio screens (one process), in step 1")
    add("--deadline", type=float, default=120.0, help="seconds a step's screens have to connect")
    add("--seconds", type=float, default=25.0, help="measured window of each step")
    add("--settle", type=float, default=3.0, help="seconds of each window not measured")
    add("--rate", type=float, default=500.0, help="positions/s during the windows")
    add("--event-rate", type=float, default=5.0, help="tagged event steps/s during the windows")
    add("--workers", type=int, default=10_000, help="distinct workers the positions cycle over")
    add("--sample-every", type=int, default=32, help="position latency sample: 1 row in N")
    add("--give-up-ms", type=float, default=10_000.0, help="a step p99 past this ends a ramp")
    add("--keep", action="store_true", help="keep the temporary directory (server logs)")
    add("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    args.steps = [int(n) for n in args.screens.split(",")]
    added = [b - a for a, b in zip([args.probes, *args.steps], args.steps, strict=False)]
    if added[0] < 0 or any(n <= 0 for n in added[1:]) or any(n % args.procs for n in added):
        parser.error("--screens must rise, the first from --probes, each by a multiple of --procs")
    if args.probes < 1:
        parser.error("--probes must be at least 1: position rows are counted on them")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    banner(f"bench.servers: werkzeug vs gunicorn, {args.screens} screens")
    return run_in_tmp("servers", args, _run, report, keep=args.keep)


# -- a server under test and its screens -------------------------------------------------------
@dataclass
class Contender:
    kind: str
    server: Server
    prefix: str
    token: str  # the city's kiosk link on this server's prefix
    probes: ClientFleet | None = None  # decoding screens
    lean: list[ClientFleet] = field(default_factory=list)  # the rest, a fleet per step
    asked: int = 0  # screens asked for so far
    events: int = 0  # tagged steps published so far: each window's titles are new
    ended: str = ""  # why its ramp ended, once it has

    def pids(self) -> list[int]:
        return server_pids(self.server.process.pid)

    @property
    def fleets(self) -> list[ClientFleet]:
        return ([self.probes] if self.probes else []) + self.lean

    def screen_pids(self) -> list[int]:
        return [pid for fleet in self.fleets for pid in fleet.pids]

    def now(self) -> dict[str, Any]:
        """RSS, the worker's threads and the server's own counts."""
        try:
            threads = psutil.Process(worker_pid(self.server.process.pid)).num_threads()
        except psutil.NoSuchProcess:
            threads = -1
        found = {
            "rss_mb": server_rss_mb(self.server.process.pid),
            "worker_rss_mb": rss_mb(worker_pid(self.server.process.pid)),
            "threads": threads,
        }
        try:
            health = self.server.health()
        except OSError as exc:  # a server with no thread left for /healthz says so this way
            return found | {"screens": -1, "health_error": f"{type(exc).__name__}: {exc}"}
        return found | {
            "screens": health["screens"],
            "dropped_screens": health["dropped_screens"],
            "deepest_queue": health["deepest_queue"],
        }

    def flush(self) -> list[list[Record]]:
        """Each fleet's records (the probes' first): a screen's number is its fleet's."""
        return [fleet.flush() for fleet in self.fleets]

    def stop_screens(self) -> None:
        for fleet in self.fleets:
            for process in fleet.processes:
                if process.is_alive():
                    process.terminate()
            for process in fleet.processes:
                process.join(timeout=10)
                if process.is_alive():
                    process.kill()
                    process.join()
        self.probes, self.lean = None, []


def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    info = machine()
    city = load_geography().city.code
    steps: list[dict[str, Any]] = []
    with ExitStack() as stack:
        redis_server = start_redis()
        stack.callback(redis_server.stop)
        contenders: dict[str, Contender] = {}
        for kind in KINDS:
            prefix = f"bench-{kind}"
            _prefill(redis_server.url, prefix, args.workers)
            server = stack.enter_context(dashboard_server(
                redis_server.url, prefix, tmp, kind=kind,
                ONEMAP_CHECKPOINT_EVERY_S="0", ONEMAP_DATA_DIR=str(tmp / kind),
            ))  # fmt: skip
            token = kiosk_token(redis_server.url, prefix, city)
            contenders[kind] = Contender(kind, server, prefix, token)
            stack.callback(contenders[kind].stop_screens)
            say(f"{kind}: ready on {server.url}, {server.health()['workers']:,} workers folded")
        for i, target in enumerate(args.steps):
            for kind in KINDS if i % 2 == 0 else KINDS[::-1]:
                c = contenders[kind]
                rival = contenders[next(k for k in KINDS if k != kind)]
                if not c.ended:
                    steps.append(_step(c, rival, target, args, redis_server, city))
        logs = {kind: _log_report(c.server) for kind, c in contenders.items()}
        ended = {kind: c.ended for kind, c in contenders.items()}
    return {"machine": info, "config": vars(args), "steps": steps, "logs": logs, "ended": ended}


def _prefill(redis_url: str, prefix: str, workers: int) -> None:
    """Every worker's first position, published before the server starts (in this process;
    again when a busy machine made the feeder miss part of its plan's time)."""
    ctx = mp.get_context("spawn")
    plan = FeedPlan(workers, ((PREFILL_RATE, workers / PREFILL_RATE + 0.5),))
    for _attempt in range(3):
        log: queue.Queue[tuple[float, int, int] | None] = queue.Queue()
        started = ctx.Value("d", time.time() + 2.0)  # after the feeder's own preparation
        feed_positions(redis_url, prefix, plan, started, ctx.Event(), log)  # type: ignore[arg-type]  # a queue.Queue read in this process, not an mp.Queue
        if sum(item[2] for item in log.queue if item) >= workers:
            return


def _step(
    c: Contender,
    rival: Contender,
    target: int,
    args: argparse.Namespace,
    redis_server: Any,
    city: str,
) -> dict[str, Any]:
    """Top ``c`` up to ``target`` screens (part 1), then its window (part 2)."""
    ctx = mp.get_context("spawn")
    plan = FeedPlan(args.workers, ((args.rate, args.settle + args.seconds + GRACE_S),))
    start, stop, log = ctx.Value("d", 0.0), ctx.Event(), ctx.Queue()
    feeder = ctx.Process(
        target=feed_positions, args=(redis_server.url, c.prefix, plan, start, stop, log),
        daemon=True,
    )  # fmt: skip
    feeder.start()  # its trickle flows while the screens connect: a live bridge
    try:
        step = {"kind": c.kind, "target": target, "connect": _ramp(c, target, args, city)}
        if c.ended:
            return step
        say(f"{c.kind}: {target} screens on, {args.seconds:g} s window")
        step["window"] = _window(c, rival, args, redis_server, (feeder, start, log))
        return step
    finally:
        _end(feeder, stop)


# -- part 1: connections held -------------------------------------------------------------------
def _ramp(c: Contender, target: int, args: argparse.Namespace, city: str) -> dict[str, Any]:
    added, fleets = target - c.asked, []
    url, token = c.server.url, c.token
    if c.probes is None:
        spec = ClientSpec(url, city, token, args.probes, args.sample_every, record_steps=True)
        c.probes = ClientFleet(spec, 1)
        fleets.append(c.probes)
    lean = (added - len(fleets) * args.probes) // args.procs
    if lean:
        spec = ClientSpec(url, city, token, lean, record_steps=True, lean=True)
        c.lean.append(ClientFleet(spec, args.procs))
        fleets.append(c.lean[-1])
    c.asked = target
    before = c.now()
    meter = CpuMeter({"server": c.pids()})
    meter.start()
    began = time.monotonic()
    connected, all_in_s, errors = _connect(fleets, args.deadline)
    cpu = meter.stop()
    server_cpu_s = cpu["server"] / 100 * (time.monotonic() - began)
    time.sleep(1.0)  # threads of the handshakes settle
    after = c.now()
    result = {
        "added": added,
        "connected": connected,
        "all_in_s": all_in_s,
        "errors": errors,
        "server_cpu_ms_per_screen": 1000 * server_cpu_s / max(1, connected),
        "server_before": before,
        "server": after,
    }
    problem = f"; {errors[0]}" if errors else ""
    say(f"{c.kind}: +{added} → {after['screens']}/{target} screens in {all_in_s:.1f} s, "
        f"{after['threads']} threads, {after['rss_mb']:.0f} MiB{problem}")  # fmt: skip
    if errors or after["screens"] < target:
        c.ended = f"{after['screens']}/{target} screens in at {target}: {errors[:1]}"
        say(f"!! {c.kind}: ramp ends: {c.ended}")
        c.stop_screens()  # a process still connecting answers no flush: all of them go
    return result


def _connect(fleets: list[ClientFleet], deadline: float) -> tuple[int, float, list[str]]:
    """Start the fleets' processes; (screens in, seconds until the last, errors) by the
    deadline. Unlike ``ClientFleet.start``, a failure is counted, not raised."""
    began = time.monotonic()
    for fleet in fleets:
        for process in fleet.processes:
            process.start()
    connected, errors = 0, []
    for fleet in fleets:
        for _ in fleet.processes:
            left = max(0.1, began + deadline - time.monotonic())
            try:
                _index, n, error = fleet.ready.get(timeout=left)
            except queue.Empty:
                errors.append(f"not all in within {deadline:g} s")
                break
            connected += n
            if error:
                errors.append(error[:200])
    seconds = time.monotonic() - began
    return connected, seconds if not errors else math.inf, errors


# -- part 2: publish → screen -------------------------------------------------------------------
def _window(
    c: Contender,
    rival: Contender,
    args: argparse.Namespace,
    redis_server: Any,
    feed: tuple[Any, Any, Any],
) -> dict[str, Any]:
    feeder, start, log = feed
    ctx = mp.get_context("spawn")
    count = round(args.event_rate * args.seconds)
    messages = event_messages(load_geography(), c.events + count)[c.events :]
    c.events += count
    sent_queue: mp.Queue = ctx.Queue()
    t0 = time.time() + 2.5  # the publisher's imports
    publisher = ctx.Process(
        target=publish_events,
        args=(redis_server.url, c.prefix, messages, args.event_rate, t0 + args.settle, 0.01,
              sent_queue),
        daemon=True,
    )  # fmt: skip
    publisher.start()
    try:
        screens = c.now()["screens"]
        c.flush()  # what came before the window
        start.value = t0
        groups = {
            "server": c.pids(),
            "screens": c.screen_pids(),
            "feeders": [feeder.pid, publisher.pid],
            "redis": [redis_server.process.pid],
            "idle rival": rival.pids() + rival.screen_pids(),
        }
        window = (t0 + args.settle, t0 + args.settle + args.seconds)
        meter = CpuMeter(groups)
        time.sleep(max(0.0, window[0] - time.time()))
        meter.start()
        time.sleep(max(0.0, window[1] - time.time()))
        used = meter.stop()
        server = c.now()
        sent: dict[str, float] = sent_queue.get(timeout=60)
    finally:
        publisher.join(timeout=10)
        if publisher.is_alive():
            publisher.terminate()
    time.sleep(GRACE_S)
    probes, *lean = c.flush()
    everyone = [record for records in (probes, *lean) for record in records]
    published = Publications(args.workers)
    published.drain(log)
    result = _analyse(window, args.rate, probes, published, used, server["rss_mb"])
    per_screen = result.pop("deliveries_per_s") / args.probes
    result |= {
        "screens": screens,
        "server": server,
        "rows_per_s_per_probe": per_screen,
        "share_delivered": per_screen / max(1.0, result["offered_per_s"]),
        "deliveries_per_s": per_screen * screens,
        "lean_frames_per_s": _frames_per_s(window, lean),
        "disconnects": sum(len(r.disconnects) for r in everyone),
        **_steps_latency(sent, everyone, screens),
    }
    lat = result["step_latency_ms"]
    say(f"{c.kind}: step p50 {lat['p50']:.0f} ms, p99 {lat['p99']:.0f} ms, "
        f"{result['deliveries_per_s']:,.0f} deliveries/s, "
        f"server {used['server']:.0f}% CPU")  # fmt: skip
    if result["disconnects"] or lat["p99"] > args.give_up_ms:
        c.ended = f"at {screens} screens: {result['disconnects']} lost, p99 {lat['p99']:.0f} ms"
        say(f"!! {c.kind}: ramp ends: {c.ended}")
    return result


def _frames_per_s(window: tuple[float, float], fleets: list[list[Record]]) -> dict[str, float]:
    """Position frames per second of each lean screen in the window (one every 500 ms when it
    keeps up)."""
    rates = []
    for records in fleets:
        seen: dict[int, list[float]] = {}
        for record in records:
            for number, at, _rows in record.frames:
                if window[0] <= at < window[1]:
                    seen.setdefault(number, []).append(at)
        # between the first frame and the last, as bench.fanout counts rows
        rates += [(len(t) - 1) / (max(t) - min(t)) for t in seen.values() if max(t) > min(t)]
    return summary(rates) | {"min": min(rates, default=math.nan)}


def _steps_latency(sent: dict[str, float], records: list[Record], screens: int) -> dict[str, Any]:
    """Publish → receipt of every tagged step on every screen; a missing one is never."""
    latencies = [at * 1000 - sent[tag] for r in records for tag, at in r.steps if tag in sent]
    due = len(sent) * screens
    missing = max(0, due - len(latencies))
    return {
        "tagged_steps": len(sent),
        "step_deliveries_due": due,
        "step_missing": missing,
        "step_extra": max(0, len(latencies) - due),  # duplicates
        "step_latency_ms": summary(latencies + [math.inf] * missing),
    }


def _log_report(server: Server) -> dict[str, Any]:
    """Warnings and errors in a server's log (Werkzeug's own warning at start aside)."""
    lines = server.log().splitlines()
    noted = [line for line in lines if NOTEWORTHY.search(line) and not BASELINE_SAYS.search(line)]
    return {"tracebacks": server.tracebacks(), "lines": len(lines), "noted": noted[:20],
            "noted_count": len(noted)}  # fmt: skip


# -- the report ---------------------------------------------------------------------------------
def report(result: dict[str, Any]) -> None:
    steps = result["steps"]
    print()
    print(_connect_table(steps))
    print()
    print(_window_table([s for s in steps if "window" in s]))
    print()
    print(_ratio_table(steps))
    print()
    print(_held_table(result))
    _problems(result)


def _connect_table(steps: list[dict[str, Any]]) -> str:
    rows = []
    for s in steps:
        r, on = s["connect"], s["connect"]["server"]
        per = (on["threads"] - r["server_before"]["threads"]) / max(1, r["added"])
        rows.append([
            s["kind"], s["target"], r["added"], on["screens"], r["all_in_s"],
            r["server_cpu_ms_per_screen"], on["rss_mb"], on["worker_rss_mb"], on["threads"],
            per, len(r["errors"]),
        ])  # fmt: skip
    header = ["1. connections", "screens", "added", "held", "all in s", "server CPU ms/added",
              "RSS MiB", "worker RSS", "threads", "threads/added", "errors"]  # fmt: skip
    return table(rows, header)


def _window_table(steps: list[dict[str, Any]]) -> str:
    rows = []
    for s in steps:
        w = s["window"]
        cpu, lat, pos = w["cpu_percent"], w["step_latency_ms"], w["latency_ms"]
        rows.append([
            s["kind"], w["screens"], w["deliveries_per_s"], w["share_delivered"],
            w["lean_frames_per_s"]["p50"], w["lean_frames_per_s"]["min"],
            pos["p50"], pos["p99"], lat["p50"], lat["p99"], lat["max"], w["step_missing"],
            w["disconnects"], cpu["server"], cpu.get("screens", math.nan),
            cpu.get("idle rival", math.nan), cpu[OTHERS], cpu[MACHINE], w["server"]["rss_mb"],
        ])  # fmt: skip
    header = ["2. publish → screen", "screens", "deliveries/s", "share", "lean frames/s p50",
              "min", "pos p50 ms",
              "pos p99", "step p50 ms", "step p99", "step max", "missing", "lost",
              "server CPU%", "screens CPU%", "idle rival CPU%", "others CPU%", "machine%",
              "RSS MiB"]  # fmt: skip
    return table(rows, header)


def _by_target(steps: list[dict[str, Any]]) -> dict[int, dict[str, dict[str, Any]]]:
    found: dict[int, dict[str, dict[str, Any]]] = {}
    for s in steps:
        found.setdefault(s["target"], {})[s["kind"]] = s
    return found


def _ratio_table(steps: list[dict[str, Any]]) -> str:
    rows = []
    for target, pair in _by_target(steps).items():
        if len(pair) < 2:
            continue
        g, w = pair["gunicorn"], pair["werkzeug"]

        def ratio(pick: Any, g: dict[str, Any] = g, w: dict[str, Any] = w) -> float:
            try:
                found = float(pick(g) / pick(w))
            except (KeyError, ZeroDivisionError):
                return math.nan
            return found if math.isfinite(found) and found > 0 else math.nan

        rows.append([
            target,
            ratio(lambda s: s["connect"]["all_in_s"]),
            ratio(lambda s: s["connect"]["server_cpu_ms_per_screen"]),
            ratio(lambda s: s["connect"]["server"]["rss_mb"]),
            ratio(lambda s: s["connect"]["server"]["threads"]),
            ratio(lambda s: s["window"]["cpu_percent"]["server"]),
            ratio(lambda s: s["window"]["deliveries_per_s"]),
            ratio(lambda s: s["window"]["latency_ms"]["p99"]),
            ratio(lambda s: s["window"]["step_latency_ms"]["p50"]),
            ratio(lambda s: s["window"]["step_latency_ms"]["p99"]),
        ])  # fmt: skip
    header = ["gunicorn ÷ werkzeug", "all in s", "CPU ms/added", "RSS", "threads",
              "server CPU%", "deliveries/s", "pos p99", "step p50", "step p99"]  # fmt: skip
    return table(rows, header)


def held_at_target(steps: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    """The largest step of ``kind`` with every screen in, none lost, nothing missing and the
    event-step p99 ≤ 250 ms."""
    good = [
        s for s in steps
        if s["kind"] == kind and "window" in s
        and s["window"]["screens"] >= s["target"] and not s["window"]["disconnects"]
        and not s["window"]["step_missing"]
        and s["window"]["step_latency_ms"]["p99"] <= TARGET_P99_MS
    ]  # fmt: skip
    return max(good, key=lambda s: s["target"]) if good else None


def _held_table(result: dict[str, Any]) -> str:
    steps, rows = result["steps"], []
    for kind in KINDS:
        best = held_at_target(steps, kind)
        held = max((s["connect"]["server"]["screens"] for s in steps if s["kind"] == kind),
                   default=0)  # fmt: skip
        tried = max((s["target"] for s in steps if s["kind"] == kind), default=0)
        if best is None:
            rows.append([kind, "none of the steps", math.nan, math.nan, held, tried])
            continue
        w = best["window"]
        rows.append([kind, best["target"], w["step_latency_ms"]["p99"], w["cpu_percent"]["server"],
                     held, tried])  # fmt: skip
    header = [f"3. screens at step p99 ≤ {TARGET_P99_MS:g} ms", "screens", "step p99 ms",
              "server CPU%", "most held", "largest step tried"]  # fmt: skip
    return table(rows, header)


def _problems(result: dict[str, Any]) -> None:
    for kind, why in result["ended"].items():
        if why:
            print(f"!! {kind}: ramp ended {why}")
    for kind, log in result["logs"].items():
        if log["tracebacks"]:
            print(f"!! {kind} log has tracebacks: {log['tracebacks']}")
        if log["noted"]:
            print(f"!! {kind} log: {log['noted_count']} warning/error lines of {log['lines']}, "
                  f"first: {log['noted'][0][:200]}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
