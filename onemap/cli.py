"""`onemap`: one command with subcommands for every process of the system."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, BinaryIO

import redis

from dashboard.config import SettingError, Settings
from dashboard.ops.printable import printable
from feeds.bus import Bus
from feeds.geo import load_geography
from feeds.outage import REDIS_ERRORS, Outage, connect
from feeds.redis_server import (
    missing_url_message,
    start_redis,
    write_url,
)
from feeds.schema import Limits, Rejection

if TYPE_CHECKING:
    from feeds.archive import Archive

log = logging.getLogger("onemap")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("ONEMAP_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C before a command took over its signals: no traceback
        return 130
    except (redis.ConnectionError, redis.TimeoutError) as exc:  # a one-shot command, or startup
        log.error("redis unavailable at %s: %s", os.environ.get("ONEMAP_REDIS_URL"), exc)
        return 1
    except SettingError as exc:  # a setting that cannot work: said in one line, no traceback
        log.error("%s", exc)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onemap", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve the dashboard (needs ONEMAP_REDIS_URL)")
    serve.add_argument("--host", default=None, help="address to listen on (ONEMAP_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (ONEMAP_PORT)")
    serve.add_argument(
        "--threads", type=int, default=None, help="connections at once, screens included"
    )
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
    redis_cmd.add_argument("--port", type=int, help="default: ONEMAP_EMBEDDED_REDIS_PORT")
    redis_cmd.set_defaults(func=_redis)

    demo = sub.add_parser("demo", help="embedded Redis (if no URL) + simulator + dashboard")
    demo.add_argument("--events-per-day", type=int, default=8000)
    demo.add_argument("--workers", type=int, default=10000)
    demo.add_argument("--speed", type=float, default=1.0)
    demo.set_defaults(func=_demo)

    cluster = sub.add_parser(
        "cluster", help="3 replicas behind HAProxy on Redis with Sentinel, on loopback, fed"
    )
    cluster.add_argument("--port", type=int, default=None, help="the balancer's (ONEMAP_PORT)")
    cluster.add_argument("--dir", default=None, help="default: <ONEMAP_DATA_DIR>/cluster")
    cluster.add_argument("--no-simulator", action="store_true", help="no simulated feed")
    cluster.set_defaults(func=_cluster)

    deadletter = sub.add_parser("deadletter", help="show the latest rejected messages")
    deadletter.add_argument("--count", type=int, default=20)
    deadletter.set_defaults(func=_deadletter)

    archive = sub.add_parser("archive", help="copy complete days of the log to Parquet (history)")
    archive.add_argument("--dir", help="archive directory (default: <ONEMAP_DATA_DIR>/archive)")
    archive.add_argument("--every", type=float, default=0, help="repeat every N s (0: once)")
    archive.add_argument("--before", help="ISO time or 'now' (default: today's local midnight)")
    archive.add_argument("--trend", type=int, metavar="DAYS", help="print daily totals, then exit")
    archive.add_argument("--json", action="store_true", help="print the run as one JSON line")
    archive.add_argument(
        "--no-trim", action="store_true", help="leave the log as it is (the caller trims it)"
    )
    archive.set_defaults(func=_archive)

    from dashboard.ops.accounts import add_commands

    add_commands(sub)  # user, kiosk, audit
    from dashboard.notify.commands import add_notify_commands

    add_notify_commands(sub, _stop_on_signals)  # notify add, list, remove, test, run, deadletter
    from dashboard.ops.producers import add_producer_commands

    add_producer_commands(sub)  # producer add, list, revoke (keys of the ingest API)
    from dashboard.briefing.command import add_report_commands

    add_report_commands(sub)  # report daily (日报)
    from dashboard.ops.workers import add_worker_commands

    add_worker_commands(sub)  # workers import, show (the directory of grid workers)
    return parser


def _bus(settings: Settings, name: str) -> Bus:
    if not settings.redis_url:
        sys.exit(missing_url_message(settings.redis_dir))
    return Bus(
        connect(settings.redis_url, name),
        prefix=settings.prefix,
        events_maxlen=settings.events_maxlen,
        positions_maxlen=settings.positions_maxlen,
        deadletter_maxlen=settings.deadletter_maxlen,
    )


def _limits(settings: Settings) -> Limits:
    from datetime import timedelta

    return Limits(timedelta(seconds=settings.max_future_s), timedelta(hours=settings.max_age_h))


def _stop_on_signals(hangup: bool = False) -> threading.Event:
    """An event that SIGINT and SIGTERM (and SIGHUP with ``hangup``) set: a long-running command
    finishes its round trip and returns 0 instead of dying mid-write with a traceback."""
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        # Set from another thread: Event.set here could wait forever on the event's own lock
        # if the signal interrupted the main thread inside Event.wait while holding it.
        threading.Thread(target=stop.set, daemon=True).start()

    signals = [signal.SIGINT, signal.SIGTERM]
    if hangup and signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:  # nohup's SIG_IGN stays
        signals.append(signal.SIGHUP)
    for number in signals:
        signal.signal(number, handle)
    return stop


def _serve(args: argparse.Namespace) -> int:
    from onemap.server import Serving

    given = {"host": args.host, "port": args.port, "threads": args.threads}
    settings = Settings.from_env(**{k: v for k, v in given.items() if v is not None})
    if not settings.redis_url:
        log.error("ONEMAP_REDIS_URL is empty: start Redis first (`onemap demo` does)")
        return 2
    Serving(settings).run()  # returns when stopped; exits if it fails
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from feeds.sim.run import config_from_args, run

    stop = _stop_on_signals()
    settings = Settings.from_env()
    run(_bus(settings, "onemap-simulate"), load_geography(), config_from_args(args), stop=stop)
    return 0


def _publish(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    bus, geo, limits = _bus(settings, "onemap-publish"), load_geography(), _limits(settings)
    # Bytes, not text: a line that is not UTF-8 is the validator's to reject (bad_json), not a
    # UnicodeDecodeError that ends the whole run.
    stream: BinaryIO = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    rejected = 0
    with stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            result = bus.ingest(line.rstrip(b"\r\n"), geo, limits)
            if isinstance(result, Rejection):
                rejected += 1
                detail = printable(result.detail)
                print(f"{number}\trejected\t{result.reason}\t{detail}", flush=True)
            else:
                print(f"{number}\taccepted\t{result}", flush=True)
    return 1 if rejected else 0


def _ingest(args: argparse.Namespace) -> int:
    stop = _stop_on_signals()
    settings = Settings.from_env()
    bus, geo, limits = _bus(settings, "onemap-ingest"), load_geography(), _limits(settings)
    outage = Outage(log, "ingest", stop=stop)
    log.info("ingesting from %s", bus.keys["inbox"])
    while not stop.is_set():
        try:
            bus.ingest_inbox(geo, limits, consumer=args.consumer)
        except REDIS_ERRORS as exc:  # what was taken and not acknowledged is taken again
            outage.failed(exc)
        else:
            outage.ok()
    return 0


def _deadletter(args: argparse.Namespace) -> int:
    # Every field is as a producer sent it (or made from it): printed with controls escaped.
    for row in _bus(Settings.from_env(), "onemap-deadletter").dead_letters(args.count):
        fields = (row.get("sid", ""), row.get("reason", ""), row.get("detail", ""))
        raw = row.get("raw", "")[:200]
        print("\t".join(printable(field) for field in (*fields, raw)))
    return 0


def _archive(args: argparse.Namespace) -> int:
    from feeds.archive import Archive, trend

    settings = Settings.from_env()
    archive = Archive(args.dir or settings.archive_dir)
    if args.trend:
        print(trend(archive, args.trend).to_string(index=False))
        return 0
    bus = _bus(settings, "onemap-archive")
    if not args.every:  # once: an outage is the caller's to see (exit 1, one line)
        _archive_once(args, bus, archive)
        return 0
    stop = _stop_on_signals()
    outage = Outage(log, "archive", max_delay=min(60.0, max(5.0, args.every)), stop=stop)
    while not stop.is_set():
        try:
            _archive_once(args, bus, archive)
        except REDIS_ERRORS as exc:  # the watermark makes the next run take up where it was
            outage.failed(exc)
            continue
        outage.ok()
        stop.wait(args.every)
    return 0


def _archive_once(args: argparse.Namespace, bus: Bus, archive: Archive) -> None:
    from datetime import datetime

    from dashboard.cold.keeper import archive_days, midnight, trim_log
    from feeds.schema import CHINA_TZ

    settings = Settings.from_env()
    now = datetime.now(CHINA_TZ)
    before = midnight(now)
    if args.before:
        before = now if args.before == "now" else datetime.fromisoformat(args.before)
    run = archive_days(bus, archive, before)
    if run is None:
        log.info("another process is archiving this log now; nothing done")
        if args.json:
            print("null", flush=True)
        return
    trimmed = 0 if args.no_trim else trim_log(bus, archive, now, settings.log_days)
    log.info(
        "archived %d steps (%d repeats) into %d days; %d log entries older than %d days trimmed",
        run.steps,
        run.repeats,
        len(run.days),
        trimmed,
        settings.log_days,
    )
    if args.json:  # for the server's history job, which runs this in a child
        said = {"steps": run.steps, "repeats": run.repeats, "watermark": run.watermark}
        print(json.dumps({**said, "trimmed": trimmed}), flush=True)


def _redis(args: argparse.Namespace) -> int:
    stop = _stop_on_signals(hangup=True)
    settings = Settings.from_env()
    port = args.port or settings.embedded_redis_port
    try:
        server = start_redis(port, settings.redis_dir, persist=True, detach=True)
    except RuntimeError as exc:  # the port taken, most likely: say so in one line
        sys.exit(f"redis-server did not start on port {port}: {exc}")
    write_url(settings.redis_dir, server.url)
    print(server.url, flush=True)
    try:
        while not stop.wait(0.5) and server.process.poll() is None:
            pass
    finally:
        server.stop()
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _cluster(args: argparse.Namespace) -> int:
    from dashboard.ops.cluster import run_cluster

    return run_cluster(args, _stop_on_signals(hangup=True))


def _demo(args: argparse.Namespace) -> int:
    from dashboard.ops.demo import run_demo

    return run_demo(args, _stop_on_signals(hangup=True))


if __name__ == "__main__":
    sys.exit(main())
