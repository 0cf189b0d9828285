"""What an acknowledged append can lose when the Redis primary dies, and what WAIT 1 costs.

    .venv/bin/python -m bench.failover [--rounds 3] [--steps 4000] [--batch 10] [--kills 3]
        [--wait-ms 1000] [--json out.json]

Everything runs against a real failover group (feeds.redis_group: a primary, a replica, three
sentinels, configured from deploy/sentinel/) through its Sentinel URL, as the product does.

* Cost: ``Bus.publish_many`` of ``--batch`` steps (and ``Bus.publish``, one step), in a loop,
  as is and with ``WAIT 1 <--wait-ms>`` pipelined after the appends (one round trip, as the Bus
  appends); rounds alternate the two so the machine's noise hits both. Per step, and the ratio
  against the baseline (no WAIT) measured in the same run.
* Loss: ``--kills`` times per mode, a fresh group, one producer publishing batches as fast as it
  can (retrying a batch that failed, as real producers do), the primary SIGKILLed after 2 s.
  After the failover: how many acknowledged steps the promoted replica's log lacks, how long
  the sentinels took, how long the producer was without an acknowledgement. With WAIT, a
  batch the replica did not confirm in time counts as failed and is retried.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import redis

from bench.common import banner, run_in_tmp, say, summary, table
from feeds.bus import EVENTS, Bus
from feeds.geo import load_geography
from feeds.log_reader import as_text
from feeds.outage import connect
from feeds.redis_group import RedisGroup, start_group
from feeds.schema import EventMessage, Message, decode_trusted
from tests.factories import event_dict, line

MODES = ("as is", "WAIT 1")
Key = tuple[str, int]


class NotReplicated(redis.RedisError):
    """The replica did not confirm the append in time: not acknowledged, to be retried."""


class WaitingBus(Bus):
    """``Bus.publish_many`` with ``WAIT replicas timeout`` in the same pipeline: what a
    ``ONEMAP_REDIS_WAIT_REPLICAS`` option of the Bus would do (docs/redis-failover.md)."""

    def __init__(self, client: redis.Redis, prefix: str, wait_ms: int, replicas: int = 1) -> None:
        super().__init__(client, prefix=prefix)
        self.wait_ms = wait_ms
        self.replicas = replicas

    def publish_many(self, messages: Iterable[Message]) -> list[str]:
        pipe = self.client.pipeline(transaction=False)
        count = 0
        for message in messages:
            keys, args = self._script_args(message)
            self._append(keys=keys, args=args, client=pipe)
            count += 1
        if not count:
            return []
        pipe.execute_command("WAIT", self.replicas, self.wait_ms)
        *sids, confirmed = pipe.execute()
        if int(confirmed) < self.replicas:
            raise NotReplicated(f"{confirmed} of {self.replicas} replica(s) in {self.wait_ms} ms")
        return [as_text(sid) for sid in sids]


def make_bus(group: RedisGroup, mode: str, wait_ms: int, prefix: str = "bench") -> Bus:
    client = connect(group.url, "bench-failover", socket_timeout=2)
    return WaitingBus(client, prefix, wait_ms) if mode == "WAIT 1" else Bus(client, prefix)


class Steps:
    """Valid event steps, each a new (id, seq), spread over the city."""

    def __init__(self, tag: str) -> None:
        geo = load_geography()
        self.templates = [decode_trusted(line(event_dict(geo, i))) for i in range(200)]
        self.tag = tag
        self.n = 0

    def batch(self, size: int) -> list[EventMessage]:
        out = []
        for _ in range(size):
            template = self.templates[self.n % len(self.templates)]
            assert isinstance(template, EventMessage)
            out.append(msgspec.structs.replace(template, id=f"{self.tag}-{self.n}", seq=1))
            self.n += 1
        return out


# -- cost -------------------------------------------------------------------------------------
def measure_cost(group: RedisGroup, args: argparse.Namespace) -> dict[str, Any]:
    """Per-step seconds of each (mode, batch size), every round, alternating the modes."""
    steps = Steps("cost")
    found: dict[str, list[float]] = {}
    batch_times: dict[str, list[float]] = {}
    for round_ in range(args.rounds):
        order = MODES if round_ % 2 == 0 else MODES[::-1]
        for mode in order:
            bus = make_bus(group, mode, args.wait_ms, prefix=f"cost{round_}")
            for size in (1, args.batch):
                name = f"{mode}, batch {size}"
                times = _publish_loop(bus, steps, size, max(args.steps // size, 200))
                found.setdefault(name, []).append(sum(times) / (len(times) * size))
                batch_times.setdefault(name, []).extend(times)
            bus.client.close()
    return {
        "per_step_s": found,
        "per_batch": {name: summary(times) for name, times in batch_times.items()},
    }


def _publish_loop(bus: Bus, steps: Steps, size: int, batches: int) -> list[float]:
    prepared = [steps.batch(size) for _ in range(batches)]
    bus.publish_many(prepared[0])  # the scripts loaded, the connection made
    times = []
    for batch in prepared:
        started = time.perf_counter()
        bus.publish_many(batch)
        times.append(time.perf_counter() - started)
    return times


# -- loss -------------------------------------------------------------------------------------
class Producer:
    """Publishes batches as fast as it can from a thread; a failed batch is retried."""

    def __init__(self, bus: Bus, tag: str, size: int) -> None:
        self.bus, self.size = bus, size
        self.steps = Steps(tag)
        self.acked: dict[str, Key] = {}
        self.ack_times: list[float] = []  # monotonic
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Producer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def acked_since(self, since: float) -> bool:
        return bool(self.ack_times) and self.ack_times[-1] > since

    def longest_gap(self, since: float, until: float) -> float:
        """The longest time without an acknowledgement between ``since`` and ``until``."""
        times = [since, *(t for t in self.ack_times if since < t < until), until]
        return max(b - a for a, b in zip(times, times[1:], strict=False))

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self.steps.batch(self.size)
            while not self._stop.is_set():
                try:
                    sids = self.bus.publish_many(batch)
                except (redis.RedisError, OSError):
                    self.failures += 1
                    self._stop.wait(0.05)
                    continue
                self.ack_times.append(time.monotonic())
                self.acked.update({s: (m.id, m.seq) for s, m in zip(sids, batch, strict=True)})
                break


def one_failover(directory: Path, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """Kill the primary under a producer; restart it once the replica is promoted (as
    systemd would) and wait until the producer is acknowledged again."""
    with start_group(directory) as group:
        producer = Producer(make_bus(group, mode, args.wait_ms), directory.name, args.batch)
        producer.start()
        time.sleep(2)
        killed = group.kill_master()
        killed_at = time.monotonic()
        acked_before = len(producer.acked)
        failover_s = group.wait_for_failover(killed)
        group.restart(killed)
        restarted_s = time.monotonic() - killed_at
        while not producer.acked_since(killed_at + restarted_s) and _since(killed_at) < 60:
            time.sleep(0.05)
        time.sleep(1)
        producer.stop()
        ended = time.monotonic()
        log = _log_keys(producer.bus)
        lost = set(producer.acked.values()) - set(log)
    return {
        "mode": mode,
        "acked_before_kill": acked_before,
        "lost": len(lost),
        "log_duplicates": len(log) - len(set(log)),
        "failover_s": failover_s,
        "restarted_s": restarted_s,
        "no_ack_s": producer.longest_gap(killed_at, ended),
        "failed_publishes": producer.failures,
    }


def _since(moment: float) -> float:
    return time.monotonic() - moment


def _log_keys(bus: Bus) -> list[Key]:
    keys = []
    for entry in bus.replay(EVENTS):
        assert isinstance(entry.message, EventMessage)
        keys.append((entry.message.id, entry.message.seq))
    return keys


def measure_loss(tmp: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    runs = []
    for kill in range(args.kills):
        for mode in MODES if kill % 2 == 0 else MODES[::-1]:
            name = f"{'wait' if mode == 'WAIT 1' else 'plain'}-{kill}"
            say(f"failover {kill + 1}/{args.kills}, {mode}")
            runs.append(one_failover(tmp / name, mode, args))
    return runs


# -- the report -------------------------------------------------------------------------------
def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    say("starting the group (primary, replica, 3 sentinels)")
    with start_group(tmp / "cost") as group:
        say("cost of the append, with and without WAIT 1")
        cost = measure_cost(group, args)
    loss = measure_loss(tmp, args) if args.kills else []
    return {"args": vars(args), "cost": cost, "loss": loss}


def report(result: dict[str, Any]) -> None:
    per_step = result["cost"]["per_step_s"]
    batch = result["args"]["batch"]
    rows = []
    for size in (1, batch):
        base = statistics.median(per_step[f"as is, batch {size}"])
        for mode in MODES:
            name = f"{mode}, batch {size}"
            median = statistics.median(per_step[name])
            p99 = result["cost"]["per_batch"][name]["p99"]
            rows.append([name, median * 1e6, p99 * 1e3, median / base])
    print()
    print(table(rows, ["append", "µs per step (median)", "p99 ms per call", "× as is"]))
    if result["loss"]:
        print()
        loss_rows = [
            [
                r["mode"],
                r["acked_before_kill"],
                r["lost"],
                r["log_duplicates"],
                r["failover_s"],
                r["restarted_s"],
                r["no_ack_s"],
            ]
            for r in result["loss"]
        ]
        header = [
            "kill -9",
            "acked before",
            "acked, lost",
            "in log twice",
            "promoted s",
            "old primary back s",
            "longest without ack s",
        ]
        print(table(loss_rows, header))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="cost rounds, modes alternating")
    parser.add_argument("--steps", type=int, default=4000, help="steps per cost measurement")
    parser.add_argument("--batch", type=int, default=10, help="steps per publish_many")
    parser.add_argument("--kills", type=int, default=3, help="failovers per mode (0: none)")
    parser.add_argument("--wait-ms", type=int, default=1000, help="WAIT's timeout")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    banner("bench.failover: an append's cost with WAIT 1, and what a failover loses")
    return run_in_tmp("failover", args, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
