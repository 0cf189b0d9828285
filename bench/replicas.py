"""One, two and three replicas behind HAProxy on this machine: what the screens get, what it costs.

    .venv/bin/python -m bench.replicas [--screens 200] [--seconds 25] [--json FILE]

Issue 17: "1 vs 2 vs 3 replicas on this 2-core machine (report it honestly, with per-core
figures)". The topology of `onemap cluster` (dashboard.ops.cluster: three `onemap serve` behind
HAProxy with deploy/haproxy/haproxy.cfg) on one redis-server, 10,000 workers' positions folded
first. For k = 1, 2, 3 replicas up (the others stopped: HAProxy's checks take them out), the
same number of fresh screens connect **through the balancer** (``leastconn`` spreads them), then
one window of bench.servers' feed: positions at ``--rate``/s and tagged incidents at
``--event-rate``/s. Measured as bench.servers measures one server (its ``_ramp`` and
``_window``): screens in and how long it took, event-step latency on every screen, position
latency on the decoding probes, deliveries/s, and CPU: the replicas together (% of one core),
per replica, the balancer, the screens, the feeders and Redis.

Every replica folds the whole log, so k replicas spend about k times the fold's CPU for the
same feed; what they buy is failure tolerance, and screens spread over processes (one process
is bound by one core: the GIL). On two cores with the screens, feeders and Redis on the same
machine, more replicas cannot mean more capacity here; the figures say how much they cost.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import (
    Server,
    banner,
    kiosk_token,
    machine,
    run_in_tmp,
    say,
    server_pids,
    server_rss_mb,
    table,
    worker_pid,
)
from bench.fanout import _end
from bench.servers import TARGET_P99_MS, Contender, _prefill, _ramp, _window
from dashboard.ops.cluster import Cluster, start_cluster
from feeds.geo import load_geography
from feeds.redis_server import start_redis

PREFIX = "bench-replicas"


class Replicas(Contender):
    """The replicas that are up, as one contender: screens go through the balancer."""

    cluster: Cluster

    def up(self) -> list[Any]:
        return [r for r in self.cluster.replicas if r.process and r.process.poll() is None]

    def pids(self) -> list[int]:
        return [pid for r in self.up() for pid in server_pids(r.process.pid)]

    def now(self) -> dict[str, Any]:
        import psutil

        health = self.cluster.health()
        answers = [h for name, h in health.items() if isinstance(h, dict)]
        threads = 0
        for r in self.up():
            try:
                threads += psutil.Process(worker_pid(r.process.pid)).num_threads()
            except psutil.NoSuchProcess:
                pass
        return {
            "rss_mb": sum(server_rss_mb(r.process.pid) for r in self.up()),
            "worker_rss_mb": 0.0,
            "threads": threads,
            "screens": sum(h["screens"] for h in answers),
            "per_replica": {n: h["screens"] for n, h in health.items() if isinstance(h, dict)},
            "dropped_screens": sum(h["dropped_screens"] for h in answers),
            "deepest_queue": max((h["deepest_queue"] for h in answers), default=0),
        }


class Idle(Contender):
    """No rival here: bench.servers' window measures one."""

    def pids(self) -> list[int]:
        return []


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.replicas",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--screens", type=int, default=200, help="screens through the balancer, each k")
    add("--replicas", default="1,2,3", help="replicas up, in this order")
    add("--procs", type=int, default=4, help="processes the lean screens are spread over")
    add("--probes", type=int, default=20, help="python-socketio screens that decode every frame")
    add("--deadline", type=float, default=120.0, help="seconds the screens have to connect")
    add("--seconds", type=float, default=25.0, help="measured window")
    add("--settle", type=float, default=3.0, help="seconds of the window not measured")
    add("--rate", type=float, default=500.0, help="positions/s during the window")
    add("--event-rate", type=float, default=5.0, help="tagged event steps/s during the window")
    add("--workers", type=int, default=10_000, help="distinct workers the positions cycle over")
    add("--sample-every", type=int, default=32, help="position latency sample: 1 row in N")
    add("--give-up-ms", type=float, default=10_000.0, help="(as bench.servers)")
    add("--keep", action="store_true", help="keep the temporary directory (logs)")
    add("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    args.counts = [int(n) for n in args.replicas.split(",")]
    if (args.screens - args.probes) % args.procs:
        parser.error("--screens minus --probes must be a multiple of --procs")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    banner(f"bench.replicas: {args.replicas} replicas behind HAProxy, {args.screens} screens")
    return run_in_tmp("replicas", args, _run, report, keep=args.keep)


def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    info = machine()
    city = load_geography().city.code
    runs: list[dict[str, Any]] = []
    with ExitStack() as stack:
        redis_server = start_redis()
        stack.callback(redis_server.stop)
        _prefill(redis_server.url, PREFIX, args.workers)
        env = {
            "ONEMAP_PREFIX": PREFIX,
            "ONEMAP_CHECKPOINT_EVERY_S": "0",
            "ONEMAP_COOKIE_SECURE": "0",
            "ONEMAP_LOG_LEVEL": "WARNING",
        }
        cluster = start_cluster(tmp / "cluster", redis_url=redis_server.url, env=env)
        stack.callback(cluster.stop)
        token = kiosk_token(redis_server.url, PREFIX, city)
        say(f"cluster ready: balancer {cluster.url}")
        events = 0
        for k in args.counts:
            _set_up(cluster, k)
            lb = Server(cluster.url, cluster.replicas[0].process, cluster.replicas[0].log_path)
            c = Replicas("replicas", lb, PREFIX, token, events=events)
            c.cluster = cluster
            stack.callback(c.stop_screens)
            rival = Idle("none", lb, PREFIX, token)
            run: dict[str, Any] = {"replicas": k, "connect": _ramp(c, args.screens, args, city)}
            if not c.ended:
                say(f"{k} replica(s): {args.screens} screens on {c.now()['per_replica']}")
                feeder, start, stop, log = _feed(args, redis_server)
                try:
                    run["window"] = _window(c, rival, args, redis_server, (feeder, start, log))
                finally:
                    _end(feeder, stop)
                run["per_replica_cpu"] = _per_replica_cpu(cluster, args)
            events = c.events
            c.stop_screens()
            runs.append(run)
            time.sleep(2)
    return {"machine": info, "config": vars(args), "runs": runs}


def _feed(args: argparse.Namespace, redis_server: Any) -> tuple[Any, Any, Any, Any]:
    """bench.servers' position feeder; ``stop`` must outlive it (the child unpickles it)."""
    import multiprocessing as mp

    from bench.load import FeedPlan, feed_positions
    from bench.servers import GRACE_S

    ctx = mp.get_context("spawn")
    plan = FeedPlan(args.workers, ((args.rate, args.settle + args.seconds + GRACE_S),))
    start, stop, log = ctx.Value("d", 0.0), ctx.Event(), ctx.Queue()
    feeder = ctx.Process(
        target=feed_positions,
        args=(redis_server.url, PREFIX, plan, start, stop, log),
        daemon=True,
    )
    feeder.start()
    return feeder, start, stop, log


def _per_replica_cpu(cluster: Cluster, args: argparse.Namespace) -> dict[str, float]:
    """Each replica's CPU over a short idle look after the window (the screens still on)."""
    from bench.common import CpuMeter

    meter = CpuMeter({r.name: server_pids(r.process.pid) for r in cluster.replicas
                      if r.process and r.process.poll() is None})  # fmt: skip
    meter.start()
    time.sleep(5)
    used = meter.stop()
    return {name: used[name] for name in used if name.startswith("replica")}


def _set_up(cluster: Cluster, k: int) -> None:
    """Exactly the first ``k`` replicas running and marked up by the balancer."""
    for number, replica in enumerate(cluster.replicas, 1):
        running = replica.process is not None and replica.process.poll() is None
        if number <= k and not running:
            replica.start()
            replica.wait_ready()
        elif number > k and running:
            replica.stop()
    time.sleep(3)  # HAProxy: down after 2 failed checks, up after 2 good ones (1 s apart)


def report(result: dict[str, Any]) -> None:
    rows = []
    first = None
    for run in result["runs"]:
        w = run.get("window")
        if w is None:
            rows.append([run["replicas"], "ramp ended", "", "", "", "", ""])
            continue
        lat, cpu = w["step_latency_ms"], w["cpu_percent"]
        first = first or cpu["server"]
        rows.append([
            run["replicas"], f"{run['connect']['all_in_s']:.1f} s",
            f"{lat['p50']:.0f} / {lat['p99']:.0f} ms", f"{w['deliveries_per_s']:,.0f}",
            f"{cpu['server']:.1f} %", f"{cpu['server'] / first:.2f}×",
            ", ".join(f"{v:.0f}" for v in run.get("per_replica_cpu", {}).values()),
        ])  # fmt: skip
    heads = ["replicas", "all in", "step p50 / p99", "deliveries/s", "replicas' CPU", "÷ first"]
    print(table(rows, [*heads, "each, after %"]))
    held = [
        r["replicas"]
        for r in result["runs"]
        if r.get("window") and r["window"]["step_latency_ms"]["p99"] <= TARGET_P99_MS
    ]
    print(f"configurations with step p99 ≤ {TARGET_P99_MS:.0f} ms: {held}")


if __name__ == "__main__":
    raise SystemExit(main())
