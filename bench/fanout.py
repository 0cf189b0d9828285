"""Fan-out: position updates delivered to many screens, at rising rates, and the idle cost.

    .venv/bin/python -m bench.fanout [--clients 100] [--rates 250,500,1000,2000,4000]

100 python-socketio clients (4 processes × 25, each its own websocket connection) say hello to
the city scope of the real dashboard server. A feeder process publishes worker positions
straight into Redis (``Bus.publish_many``, as any producer) at each rate for ``--step-seconds``,
cycling through 40,000 distinct workers so that the 500 ms coalescing never merges two moves:
every published position must reach every client as one row.

Per step, over the window after ``--settle`` seconds: rows delivered per second across all
clients (deliveries/s = rows × clients), publish → receipt latency of a sample of rows (a row's
worker says which message it was, and the feeder logs when it published each), CPU of the
server process (% of one core, psutil) and its RSS, and the CPU of everything else on the
machine, since on 2 cores the screens compete with the server they measure. The steps stop at
saturation: p50 latency over 1 s, or fewer than 80% of the expected rows delivered.

Then IDLE: every client still connected, nothing published for ``--idle`` seconds: the server's
CPU. A probe position afterwards checks that the bridge is still alive, since a dead bridge
also costs nothing.
"""

from __future__ import annotations

import argparse
import bisect
import multiprocessing as mp
import queue
import shutil
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.clients import ClientFleet, ClientSpec, Record
from bench.common import (
    MACHINE,
    OTHERS,
    CpuMeter,
    PySpy,
    Server,
    banner,
    dashboard_server,
    kiosk_token,
    machine,
    print_profile,
    say,
    server_pids,
    server_rss_mb,
    summary,
    table,
    worker_pid,
    write_json,
)
from bench.load import FeedPlan, feed_positions, publish_probe, worker_index
from feeds.bus import Bus
from feeds.geo import load_geography
from feeds.redis_server import start_redis

TARGET_DELIVERIES = 100_000.0
TARGET_CPU = 100.0
SATURATED_P50_MS = 1000.0
SATURATED_SHARE = 0.8


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    add = parser.add_argument
    add("--clients", type=int, default=100, help="socket.io connections in all")
    add("--procs", type=int, default=4, help="processes the clients are spread over")
    add("--rates", default="250,500,1000,2000,4000,8000,16000", help="positions/s of each step")
    add("--step-seconds", type=float, default=15.0)
    add("--settle", type=float, default=2.0, help="seconds of each step not measured")
    add("--workers", type=int, default=40_000, help="distinct workers cycled through")
    add("--sample-every", type=int, default=32, help="latency sample: 1 row in N")
    add("--idle", type=float, default=20.0, help="seconds of the idle measurement")
    add("--profile", type=float, default=None, metavar="RATE",
        help="py-spy the server during the step of this rate")  # fmt: skip
    add("--keep", action="store_true", help="keep the temporary directory (server log)")
    add("--json", default=None, help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.clients % args.procs:
        raise SystemExit("--clients must be a multiple of --procs")
    banner(f"bench.fanout: {args.clients} socket.io screens, rising position rates")
    tmp = Path(tempfile.mkdtemp(prefix="onemap-bench-fanout-"))
    try:
        result = _run(args, tmp)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    _verdict(result)
    write_json(args.json, result)
    return 0


@dataclass
class Publications:
    """The feeder's log: when each numbered message was published."""

    workers: int
    times: list[float] = field(default_factory=list)  # per batch, increasing
    firsts: list[int] = field(default_factory=list)  # first message number of each batch
    sizes: list[int] = field(default_factory=list)

    def drain(self, log: mp.Queue) -> bool:
        """Take what the feeder logged; False once it has finished."""
        while True:
            try:
                item = log.get_nowait()
            except queue.Empty:
                return True
            if item is None:
                return False
            at, first, size = item
            self.times.append(at)
            self.firsts.append(first)
            self.sizes.append(size)

    def published_between(self, start: float, end: float) -> int:
        lo, hi = bisect.bisect_left(self.times, start), bisect.bisect_left(self.times, end)
        return sum(self.sizes[lo:hi])

    def latency_ms(self, worker: str, received: float) -> float | None:
        """Receipt minus publication of the last message of ``worker`` sent before receipt."""
        if not worker.startswith("F"):
            return None
        index = worker_index(worker)
        batch = bisect.bisect_right(self.times, received) - 1
        if index >= self.workers or batch < 0:
            return None
        newest = self.firsts[batch] + self.sizes[batch] - 1
        k = newest - (newest - index) % self.workers
        if k < 0:
            return None
        sent = self.times[bisect.bisect_right(self.firsts, k) - 1]
        return (received - sent) * 1000


def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    info = machine()  # the load average before the run, not after it
    geo = load_geography()
    prefix = "bench"
    rates = [float(r) for r in args.rates.split(",")]
    plan = FeedPlan(args.workers, tuple((r, args.step_seconds) for r in rates))
    ctx = mp.get_context("spawn")
    start, stop, log = ctx.Value("d", 0.0), ctx.Event(), ctx.Queue()
    steps: list[dict[str, Any]] = []
    with ExitStack() as stack:
        redis_server = start_redis()
        stack.callback(redis_server.stop)
        bus = Bus(redis_server.client(), prefix=prefix)
        feeder = ctx.Process(
            target=feed_positions, args=(redis_server.url, prefix, plan, start, stop, log),
            daemon=True,
        )  # fmt: skip
        feeder.start()
        stack.callback(_end, feeder, stop)
        # Started with the feeder's trickle flowing: the bridge never sees a quiet start.
        server = stack.enter_context(dashboard_server(redis_server.url, prefix, tmp))
        city = geo.city.code
        token = kiosk_token(redis_server.url, prefix, city)
        spec = ClientSpec(server.url, city, token, args.clients // args.procs, args.sample_every)
        fleet = ClientFleet(spec, args.procs)
        stack.callback(fleet.stop)
        connected = fleet.start()
        say(f"{connected} clients connected in {args.procs} processes")
        fleet.flush()  # drops the warm-up's frames
        groups = {
            "server": server_pids(server.process.pid),
            "clients": fleet.pids,
            "feeder": [feeder.pid],
            "redis": [redis_server.process.pid],
        }
        start.value = time.time() + 1.0
        published = Publications(args.workers)
        say("steps (latency in ms; lost: clients disconnected)")
        _print_header()
        for step_start, rate, seconds in plan.timeline(start.value):
            window = (step_start + args.settle, step_start + seconds)
            spy = (
                PySpy(worker_pid(server.process.pid), tmp / "py-spy.txt")
                if rate == args.profile
                else None
            )
            step = _step(window, rate, CpuMeter(groups), fleet, published, log, server, spy)
            steps.append(_judge(step, connected))
            _print_step(step, steps[0])
            if step["saturated"]:
                say(f"saturated at {rate:g}/s: no further steps")
                break
        stop.set()
        feeder.join(timeout=30)
        say(f"idle: {connected} clients connected, nothing published")
        idle = _idle(args.idle, CpuMeter(groups), fleet, bus, geo, server.process.pid)
        idle["server_tracebacks"] = server.tracebacks()
    return {
        "machine": info,
        "config": {**vars(args), "clients_connected": connected},
        "steps": steps,
        "idle": idle,
    }


def _end(process: mp.Process, stop: Any) -> None:
    stop.set()
    process.join(timeout=10)
    if process.is_alive():
        process.terminate()
        process.join(timeout=5)


def _step(
    window: tuple[float, float],
    rate: float,
    cpu: CpuMeter,
    fleet: ClientFleet,
    published: Publications,
    log: mp.Queue,
    server: Server,
    spy: PySpy | None,
) -> dict[str, Any]:
    time.sleep(max(0.0, window[0] - time.time()))
    cpu.start()
    if spy:
        spy.start(window[1] - window[0])
    time.sleep(max(0.0, window[1] - time.time()))
    used = cpu.stop()
    rss = server_rss_mb(server.process.pid)
    time.sleep(0.3)  # a frame in flight at the window's end belongs to the window
    records = fleet.flush()
    published.drain(log)
    step = _analyse(window, rate, records, published, used, rss)
    if spy:
        step["server_profile"] = spy.report()
    return step


def _analyse(
    window: tuple[float, float],
    rate: float,
    records: list[Record],
    published: Publications,
    used: dict[str, float],
    rss: float,
) -> dict[str, Any]:
    seconds = window[1] - window[0]
    delivered = _delivery_rate(window, records)
    latencies = [
        ms
        for record in records
        for worker, at in record.samples
        if window[0] <= at < window[1] and (ms := published.latency_ms(worker, at)) is not None
    ]
    lat = summary(latencies)
    offered = published.published_between(*window) / seconds
    disconnects = sum(len(record.disconnects) for record in records)
    return {
        "rate": rate,
        "offered_per_s": offered,
        "deliveries_per_s": delivered,
        "latency_ms": lat,
        "cpu_percent": used,
        "server_rss_mb": rss,
        "disconnects": disconnects,
    }


def _delivery_rate(window: tuple[float, float], records: list[Record]) -> float:
    """Rows per second summed over the clients. Each client's rate is the rows of its frames in
    the window after the first, over the time from the first to the last: frames come every
    500 ms, so counting whole frames in a fixed window would be off by up to one frame."""
    frames: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for record in records:
        for client, at, rows in record.frames:
            if window[0] <= at < window[1]:
                frames[client].append((at, rows))
    total = 0.0
    for seen in frames.values():
        seen.sort()
        if len(seen) >= 2 and seen[-1][0] > seen[0][0]:
            total += sum(rows for _at, rows in seen[1:]) / (seen[-1][0] - seen[0][0])
    return total


def _print_header() -> None:
    print(
        "  rate  offered/s  deliveries/s  share  lat p50  lat p99  server CPU%  RSS MiB  "
        "clients CPU%  machine%  others%  lost  server CPU/delivery ×first",
        flush=True,
    )


def _judge(step: dict[str, Any], clients: int) -> dict[str, Any]:
    """The share of expected rows delivered, and whether the step saturated."""
    step["clients"] = clients
    expected = step["offered_per_s"] * clients
    step["share_delivered"] = step["deliveries_per_s"] / expected if expected else float("nan")
    p50 = step["latency_ms"]["p50"]
    step["saturated"] = bool(
        step["disconnects"] or p50 != p50 or p50 > SATURATED_P50_MS
        or step["share_delivered"] < SATURATED_SHARE
    )  # fmt: skip
    return step


def _cpu_per_delivery(step: dict[str, Any]) -> float:
    return step["cpu_percent"]["server"] / max(step["deliveries_per_s"], 1.0)


def _print_step(step: dict[str, Any], base: dict[str, Any]) -> None:
    cpu, lat = step["cpu_percent"], step["latency_ms"]
    ratio = _cpu_per_delivery(step) / _cpu_per_delivery(base)
    print(
        f"{step['rate']:6,.0f}  {step['offered_per_s']:9,.0f}  {step['deliveries_per_s']:12,.0f}"
        f"  {step['share_delivered']:5.2f}  {lat['p50']:7,.0f}  {lat['p99']:7,.0f}"
        f"  {cpu['server']:11.1f}  {step['server_rss_mb']:7.0f}  {cpu['clients']:12.1f}"
        f"  {cpu[MACHINE]:8.0f}  {cpu[OTHERS]:7.0f}  {step['disconnects']:4d}  {ratio:26.2f}",
        flush=True,
    )
    step["server_cpu_per_delivery_vs_first_step"] = ratio


def _idle(
    seconds: float, cpu: CpuMeter, fleet: ClientFleet, bus: Bus, geo: Any, server_pid: int
) -> dict[str, Any]:
    """Server CPU with everyone connected and nothing published, then a liveness probe."""
    drained = _drain(fleet)
    cpu.start()
    time.sleep(seconds)
    used = cpu.stop()
    quiet = fleet.flush()
    probe_at = publish_probe(bus, geo)
    time.sleep(5.0)
    after = fleet.flush()
    reached = len({c for record in after for c, at, _rows in record.frames if at >= probe_at})
    beats = sum(record.counts.get("beats", 0) for record in quiet)
    kpis = sum(record.counts.get("kpis", 0) for record in quiet)
    return {
        "seconds": seconds,
        "drained_in_s": drained,
        "clients_still_connected": fleet.expected - fleet.lost,
        "cpu_percent": used,
        "server_rss_mb": server_rss_mb(server_pid),
        "heartbeats_received": beats + kpis,
        "probe_reached_clients": reached,
    }


def _drain(fleet: ClientFleet, quiet: float = 2.0, limit: float = 60.0) -> float:
    """Wait until no position frame arrives for ``quiet`` s: after a saturated step the clients
    may be digesting a backlog for a while, and that is not idle. Returns the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        time.sleep(quiet)
        if not any(record.frames for record in fleet.flush()):
            break
    return time.monotonic() - began


def _verdict(result: dict[str, Any]) -> None:
    steps, idle = result["steps"], result["idle"]
    for step in steps:
        if "server_profile" in step:
            print_profile(f"server at {step['rate']:g} positions/s", step["server_profile"])
    clients = result["config"]["clients_connected"]
    print()
    rows = [[name, f"{pct:.1f}"] for name, pct in sorted(idle["cpu_percent"].items())]
    print(table(rows, [f"IDLE {idle['seconds']:g} s, {clients} clients", "% of one core"]))
    alive = idle["clients_still_connected"]
    print(
        f"before idle: waited {idle['drained_in_s']:.0f} s for the clients to drain; "
        f"{alive}/{clients} clients still connected"
    )
    print(
        f"heartbeats received by all clients while idle: {idle['heartbeats_received']}; "
        f"probe after idle reached {idle['probe_reached_clients']}/{alive} connected clients"
    )
    if idle["probe_reached_clients"] < alive:
        print("!! the bridge did not deliver to every connected client after the idle period")
    if idle["server_tracebacks"]:
        print(f"!! server log has tracebacks: {idle['server_tracebacks']}")
    good = [
        s
        for s in steps
        if not s["saturated"]
        and s["deliveries_per_s"] >= TARGET_DELIVERIES
        and s["cpu_percent"]["server"] <= TARGET_CPU
    ]
    best = max(steps, key=lambda s: s["deliveries_per_s"] if not s["saturated"] else 0)
    print()
    if good:
        s = good[-1]
        print(f"TARGET ≥ {TARGET_DELIVERIES:,.0f} deliveries/s on ≤ 1 core: met "
              f"({s['deliveries_per_s']:,.0f}/s at {s['cpu_percent']['server']:.0f}% "
              f"server CPU, {s['rate']:g} positions/s × {clients} clients)")  # fmt: skip
    else:
        print(f"TARGET ≥ {TARGET_DELIVERIES:,.0f} deliveries/s on ≤ 1 core: MISSED (best "
              f"unsaturated: {best['deliveries_per_s']:,.0f}/s at "
              f"{best['cpu_percent']['server']:.0f}% server CPU)")  # fmt: skip
    print(f"TARGET idle ≈ 0: server {idle['cpu_percent']['server']:.1f}% of one core")


if __name__ == "__main__":
    raise SystemExit(main())
