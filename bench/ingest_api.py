"""The ingest API against `onemap publish` in one run: messages/s in batches, single latency.

    .venv/bin/python -m bench.ingest_api [--messages 20000] [--batch 500] [--clients 2]
        [--singles 1000] [--json out.json]

One real server process (`onemap serve`, gunicorn, as in production) on its own Redis. A
producer key (city scope, positions allowed, a rate it never reaches) sends event steps:

* throughput: ``--messages`` in batches of ``--batch`` over ``--clients`` kept-alive
  connections, accepted messages per second from the first request to the last answer;
* latency: ``--singles`` one-message requests one after another, each timed from sending to
  the whole answer (p50/p99).

The same kind of messages (fresh ids: the API would answer `duplicate` to a repeat) go through
`onemap publish`: a file of ``--messages`` lines (rate over the whole run, start-up included,
and from its first printed result to its last), and single-line runs (a producer without the
API starts the command per message). Issue 18's targets: ≥ 5,000 messages/s in batches of 500,
p99 ≤ 50 ms for single messages.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from bench.common import (
    PY,
    ROOT,
    banner,
    dashboard_server,
    run_in_tmp,
    say,
    summary,
    table,
)
from dashboard.access.producers import ProducerStore
from feeds.bus import EVENTS, Bus
from feeds.geo import load_geography
from feeds.redis_server import start_redis
from tests.factories import event_dict, line

CITY = "330200"
API = "/api/v1/messages"


_TEMPLATES: list[dict[str, Any]] = []


def lines(count: int, tag: str) -> list[bytes]:
    """``count`` valid reports over 500 grids of every county, each with its own id."""
    if not _TEMPLATES:
        geo = load_geography()
        _TEMPLATES.extend(event_dict(geo, n) for n in range(500))
    return [line({**_TEMPLATES[n % 500], "id": f"{tag}-{n}"}) for n in range(count)]


def _connection(url: str) -> http.client.HTTPConnection:
    host, _, port = url.removeprefix("http://").partition(":")
    return http.client.HTTPConnection(host, int(port), timeout=60)


def _send(connection: http.client.HTTPConnection, key: str, body: bytes) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connection.request("POST", API, body, headers)
    response = connection.getresponse()
    answer = response.read()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {answer[:300]!r}")
    return dict(json.loads(answer))


def api_batches(url: str, key: str, messages: list[bytes], batch: int, clients: int) -> dict:
    bodies = [
        b"[" + b",".join(messages[i : i + batch]) + b"]" for i in range(0, len(messages), batch)
    ]
    accepted = [0] * clients
    latencies: list[float] = []

    def client(index: int) -> None:
        connection = _connection(url)
        try:
            for body in bodies[index::clients]:
                began = time.perf_counter()
                accepted[index] += _send(connection, key, body)["accepted"]
                latencies.append(time.perf_counter() - began)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return {
        "messages": len(messages),
        "accepted": sum(accepted),
        "seconds": elapsed,
        "per_s": sum(accepted) / elapsed,
        "batch_ms": summary([x * 1000 for x in latencies]),
    }


def api_singles(url: str, key: str, messages: list[bytes]) -> dict:
    connection = _connection(url)
    latencies = []
    try:
        for message in messages:
            began = time.perf_counter()
            if _send(connection, key, b"[" + message + b"]")["accepted"] != 1:
                raise RuntimeError("a single message was not accepted")
            latencies.append((time.perf_counter() - began) * 1000)
    finally:
        connection.close()
    return summary(latencies)


def cli_publish(redis_url: str, prefix: str, messages: list[bytes], tmp: Path) -> dict:
    """`onemap publish` of a file: its whole run, and its rate once started."""
    path = tmp / f"publish-{uuid.uuid4().hex[:6]}.jsonl"
    path.write_bytes(b"\n".join(messages) + b"\n")
    env = {"ONEMAP_REDIS_URL": redis_url, "ONEMAP_PREFIX": prefix, "ONEMAP_LOG_LEVEL": "WARNING"}
    began = time.perf_counter()
    process = subprocess.Popen(
        [PY, "-m", "onemap.cli", "publish", str(path)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    first = last = 0.0
    accepted = 0
    for out in process.stdout:
        last = time.perf_counter()
        first = first or last
        accepted += b"\taccepted\t" in out
    process.wait()
    elapsed = time.perf_counter() - began
    steady = last - first
    return {
        "messages": len(messages),
        "accepted": accepted,
        "seconds": elapsed,
        "per_s": accepted / elapsed,
        "per_s_after_start": (accepted - 1) / steady if steady > 0 else float("nan"),
    }


def cli_singles(redis_url: str, prefix: str, messages: list[bytes]) -> dict:
    env = {
        **os.environ,
        "ONEMAP_REDIS_URL": redis_url,
        "ONEMAP_PREFIX": prefix,
        "ONEMAP_LOG_LEVEL": "WARNING",
    }
    latencies = []
    for message in messages:
        began = time.perf_counter()
        subprocess.run(
            [PY, "-m", "onemap.cli", "publish"],
            cwd=ROOT,
            env=env,
            input=message,
            check=True,
            capture_output=True,
        )
        latencies.append((time.perf_counter() - began) * 1000)
    return summary(latencies)


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    server_redis = start_redis(directory=tmp / "redis")
    prefix = f"b{uuid.uuid4().hex[:8]}"
    try:
        client = redis.Redis.from_url(server_redis.url)
        _producer, key = ProducerStore(client, prefix).add(
            "bench", CITY, positions=True, rate=1_000_000
        )
        say("building messages")
        batch_api = lines(args.messages, "BA")
        batch_cli = lines(args.messages, "BC")
        single_api = lines(args.singles, "SA")
        single_cli = lines(args.cli_singles, "SC")
        with dashboard_server(server_redis.url, prefix, tmp) as server:
            say("warming up")
            api_singles(server.url, key, lines(50, "W"))
            say(f"API: {args.messages} messages in batches of {args.batch}, {args.clients} clients")
            result: dict[str, Any] = {
                "api_batches": api_batches(server.url, key, batch_api, args.batch, args.clients)
            }
            say("onemap publish: the same number of lines")
            result["cli_batches"] = cli_publish(server_redis.url, prefix, batch_cli, tmp)
            say(f"API: {args.singles} single-message requests")
            result["api_single_ms"] = api_singles(server.url, key, single_api)
            say(f"onemap publish: {args.cli_singles} single-line runs")
            result["cli_single_ms"] = cli_singles(server_redis.url, prefix, single_cli)
            say("API: the first batches again (every answer must be duplicate)")
            again = api_batches(server.url, key, batch_api[: args.batch * 4], args.batch, 1)
            result["retry_accepted"] = again["accepted"]
            bus = Bus(client, prefix)
            result["log_steps"] = sum(1 for _ in bus.replay(EVENTS))
            result["expected_steps"] = 50 + 2 * args.messages + args.singles + args.cli_singles
            result["tracebacks"] = server.tracebacks()
        return result
    finally:
        server_redis.stop()


def report(result: dict[str, Any]) -> None:
    api, cli = result["api_batches"], result["cli_batches"]
    single, cli_single = result["api_single_ms"], result["cli_single_ms"]
    print()
    print(
        table(
            [
                ["API, batches", api["accepted"], api["seconds"], api["per_s"]],
                ["onemap publish, whole run", cli["accepted"], cli["seconds"], cli["per_s"]],
                [
                    "onemap publish, once started",
                    cli["accepted"],
                    float("nan"),
                    cli["per_s_after_start"],
                ],
            ],
            ["throughput", "accepted", "seconds", "messages/s"],
        )
    )
    print()
    print(
        table(
            [
                [
                    "API, one message a request",
                    single["count"],
                    single["p50"],
                    single["p99"],
                    single["max"],
                ],
                [
                    "onemap publish, one line a run",
                    cli_single["count"],
                    cli_single["p50"],
                    cli_single["p99"],
                    cli_single["max"],
                ],
            ],
            ["single message", "count", "p50 ms", "p99 ms", "max ms"],
        )
    )
    print()
    batch_ms = api["batch_ms"]
    print(f"API, one batch: p50 {batch_ms['p50']:.1f} ms, p99 {batch_ms['p99']:.1f} ms")
    print(
        f"ratio API / onemap publish, messages/s: {api['per_s'] / cli['per_s']:.2f} "
        f"(whole run), {api['per_s'] / cli['per_s_after_start']:.2f} (once started)"
    )
    print(
        f"ratio onemap publish / API, single-message p99: {cli_single['p99'] / single['p99']:.1f}"
    )
    verdict = "met" if api["per_s"] >= 5000 and single["p99"] <= 50 else "NOT met"
    print(f"targets (≥ 5,000 msgs/s, p99 ≤ 50 ms): {verdict}")
    print(
        f"retried batches: {result['retry_accepted']} appended again (must be 0); "
        f"log holds {result['log_steps']} steps of {result['expected_steps']} sent once"
    )
    if result["tracebacks"]:
        print(f"!! server tracebacks: {result['tracebacks']}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_api", description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--singles", type=int, default=1000)
    parser.add_argument("--cli-singles", type=int, default=10)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    banner("ingest API vs onemap publish")
    return run_in_tmp("ingest", args, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
