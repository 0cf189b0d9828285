"""`onemap`: one command with subcommands for every process of the system."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import redis

from dashboard.config import Settings
from feeds.bus import Bus
from feeds.geo import load_geography
from feeds.redis_server import start_redis
from feeds.schema import Limits, Rejection

log = logging.getLogger("onemap")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("ONEMAP_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onemap", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve the dashboard (needs ONEMAP_REDIS_URL)")
    serve.set_defaults(func=_serve)

    simulate = sub.add_parser("simulate", help="run the simulator, publishing to Redis")
    from feeds.sim.run import add_arguments

    add_arguments(simulate)
    simulate.set_defaults(func=_simulate)

    publish = sub.add_parser("publish", help="validate and publish JSON lines")
    publish.add_argument("file", nargs="?", default="-", help="JSON lines file (default: stdin)")
    publish.set_defaults(func=_publish)

    ingest = sub.add_parser("ingest", help="validate messages producers put in the inbox stream")
    ingest.add_argument("--consumer", default="ingest-1", help="stable name per ingester")
    ingest.set_defaults(func=_ingest)

    redis_cmd = sub.add_parser("redis", help="run the embedded redis-server in the foreground")
    redis_cmd.add_argument("--port", type=int, default=6380)
    redis_cmd.set_defaults(func=_redis)

    demo = sub.add_parser("demo", help="embedded Redis (if no URL) + simulator + dashboard")
    demo.add_argument("--events-per-day", type=int, default=8000)
    demo.add_argument("--workers", type=int, default=10000)
    demo.add_argument("--speed", type=float, default=1.0)
    demo.set_defaults(func=_demo)

    deadletter = sub.add_parser("deadletter", help="show the latest rejected messages")
    deadletter.add_argument("--count", type=int, default=20)
    deadletter.set_defaults(func=_deadletter)

    archive = sub.add_parser("archive", help="copy complete days of the log to Parquet (history)")
    archive.add_argument("--dir", help="archive directory (default: <ONEMAP_DATA_DIR>/archive)")
    archive.add_argument("--every", type=float, default=0, help="repeat every N s (0: once)")
    archive.add_argument("--before", help="ISO time or 'now' (default: today's local midnight)")
    archive.add_argument("--trend", type=int, metavar="DAYS", help="print daily totals, then exit")
    archive.set_defaults(func=_archive)

    from dashboard.accounts import add_commands

    add_commands(sub)  # user, kiosk, audit
    return parser


def _bus(settings: Settings) -> Bus:
    if not settings.redis_url:
        sys.exit("ONEMAP_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")
    return Bus(
        redis.Redis.from_url(settings.redis_url),
        prefix=settings.prefix,
        events_maxlen=settings.events_maxlen,
        positions_maxlen=settings.positions_maxlen,
        deadletter_maxlen=settings.deadletter_maxlen,
    )


def _limits(settings: Settings) -> Limits:
    from datetime import timedelta

    return Limits(timedelta(seconds=settings.max_future_s), timedelta(hours=settings.max_age_h))


def _serve(args: argparse.Namespace) -> int:
    from dashboard.server import create_app

    settings = Settings.from_env()
    app = create_app(settings)
    log.info("OneMap dashboard on http://%s:%s/wall", settings.host, settings.port)
    app.run()
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from feeds.sim.run import config_from_args, run

    settings = Settings.from_env()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run(_bus(settings), load_geography(), config_from_args(args), stop=stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


def _publish(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    bus, geo, limits = _bus(settings), load_geography(), _limits(settings)
    stream: TextIO = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
    rejected = 0
    with stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            result = bus.ingest(line.rstrip("\n").encode("utf-8", "surrogatepass"), geo, limits)
            if isinstance(result, Rejection):
                rejected += 1
                print(f"{number}\trejected\t{result.reason}\t{result.detail}", flush=True)
            else:
                print(f"{number}\taccepted\t{result}", flush=True)
    return 1 if rejected else 0


def _ingest(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    bus, geo, limits = _bus(settings), load_geography(), _limits(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info("ingesting from %s", bus.keys["inbox"])
    while not stop.is_set():
        try:
            bus.ingest_inbox(geo, limits, consumer=args.consumer)
        except redis.ConnectionError as exc:
            log.warning("redis unavailable (%s); retrying", exc)
            time.sleep(1)
    return 0


def _deadletter(args: argparse.Namespace) -> int:
    for row in _bus(Settings.from_env()).dead_letters(args.count):
        print(f"{row['sid']}\t{row['reason']}\t{row['detail']}\t{row['raw'][:200]}")
    return 0


def _archive(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from feeds.archive import Archive, archive_log, trend

    settings = Settings.from_env()
    archive = Archive(args.dir or Path(settings.data_dir) / "archive")
    if args.trend:
        print(trend(archive, args.trend).to_string(index=False))
        return 0
    bus = _bus(settings)
    while True:
        before = None
        if args.before:
            before = datetime.now(UTC) if args.before == "now" else datetime.fromisoformat(
                args.before
            )
        run = archive_log(bus, archive, before)
        log.info("archived %d steps (%d repeats) into %d days", run.steps, run.repeats,
                 len(run.days))
        if not args.every:
            return 0
        time.sleep(args.every)


def _redis(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    server = start_redis(port=args.port, directory=Path(settings.data_dir) / "redis", persist=True)
    print(server.url, flush=True)
    try:
        server.process.wait()
    except KeyboardInterrupt:
        server.stop()
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _demo(args: argparse.Namespace) -> int:
    """The whole system in one terminal: Ctrl-C (or SIGTERM) stops everything it started."""
    signal.signal(signal.SIGTERM, _interrupt)
    settings = Settings.from_env()
    server = None
    if not settings.redis_url:
        server = start_redis(directory=Path(settings.data_dir) / "redis")
        log.info("embedded redis-server on %s", server.url)
    env = dict(os.environ, ONEMAP_REDIS_URL=settings.redis_url or server.url)  # type: ignore[union-attr]
    env.setdefault("ONEMAP_COOKIE_SECURE", "0")  # the demo serves plain HTTP
    from dashboard.accounts import demo_access

    store, kiosk_id = demo_access(settings, env["ONEMAP_REDIS_URL"])
    sim_args = [
        "--events-per-day",
        str(args.events_per_day),
        "--workers",
        str(args.workers),
        "--speed",
        str(args.speed),
        "--history-days",
        "1",  # yesterday too, so the wall can compare with the same hour yesterday
    ]
    command = [sys.executable, "-m", "dashboard.cli"]
    children = [
        subprocess.Popen([*command, "simulate", *sim_args], env=env),
        subprocess.Popen([*command, "ingest"], env=env),
        subprocess.Popen([*command, "serve"], env=env),
    ]
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=15)
        store.revoke_kiosk(kiosk_id)  # the printed wall link dies with the demo
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
