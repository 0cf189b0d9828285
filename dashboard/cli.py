"""`onemap`: one command with subcommands for every process of the system."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import redis

from dashboard.config import Settings
from feeds.bus import Bus
from feeds.geo import load_geography
from feeds.outage import REDIS_ERRORS, Outage, connect
from feeds.redis_server import (
    RedisProcess,
    die_with_parent,
    free_port,
    missing_url_message,
    port_is_free,
    serves_directory,
    start_redis,
    write_url,
)
from feeds.schema import Limits, Rejection

if TYPE_CHECKING:
    from feeds.archive import Archive

log = logging.getLogger("onemap")

# `onemap demo` restarts a child that dies, but not forever: a child that keeps dying is broken,
# and restarting it every few seconds for months would hide that. Past the limit, it stops all.
RESTART_LIMIT = 5
RESTART_WINDOW_S = 600.0
# After SIGTERM, a child gets this long before SIGKILL: with the revoke and Redis's own stop
# after it, Ctrl-C ends everything in well under 10 s even when something hangs.
STOP_GRACE_S = 3.0
REDIS_STOP_S = 2.0


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
    redis_cmd.add_argument("--port", type=int, help="default: ONEMAP_EMBEDDED_REDIS_PORT")
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
    from dashboard.server import create_app

    # Werkzeug's loop ends quietly on KeyboardInterrupt; SIGTERM should end it the same way.
    signal.signal(signal.SIGTERM, _interrupt)
    settings = Settings.from_env()
    app = create_app(settings)
    log.info("OneMap dashboard on http://%s:%s/wall", settings.host, settings.port)
    app.run()
    # Stopped (Ctrl-C or SIGTERM). Redis holds all state, so skip the interpreter's teardown:
    # with the bridge's threads still holding DuckDB objects it only prints nanobind's leak
    # report, pages of it, at every stop.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


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
                print(f"{number}\trejected\t{result.reason}\t{result.detail}", flush=True)
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
    for row in _bus(Settings.from_env(), "onemap-deadletter").dead_letters(args.count):
        print(f"{row['sid']}\t{row['reason']}\t{row['detail']}\t{row['raw'][:200]}")
    return 0


def _archive(args: argparse.Namespace) -> int:
    from feeds.archive import Archive, trend

    settings = Settings.from_env()
    archive = Archive(args.dir or Path(settings.data_dir) / "archive")
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
    from datetime import UTC, datetime

    from feeds.archive import archive_log

    before = None
    if args.before:
        before = datetime.now(UTC) if args.before == "now" else datetime.fromisoformat(args.before)
    run = archive_log(bus, archive, before)
    log.info("archived %d steps (%d repeats) into %d days", run.steps, run.repeats, len(run.days))


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


def _embedded_redis(settings: Settings) -> tuple[RedisProcess | None, str]:
    """The demo's own Redis: persistent, under the data dir, on the stable port if it can.

    Returns the process to stop at the end (None when this data dir's Redis was already
    running, say `onemap redis` in another terminal: the demo uses it and leaves it be).
    """
    directory, port = Path(settings.redis_dir), settings.embedded_redis_port
    directory.mkdir(parents=True, exist_ok=True)
    server = None
    if port_is_free(port):
        server = _start_embedded(port, directory)
    elif serves_directory(port, directory):
        log.warning(
            "this data dir's redis-server already runs on port %d: using it; it "
            "keeps running after the demo",
            port,
        )
    else:
        taken, port = port, free_port()
        log.warning(
            "port %d is taken by another program (not this demo's Redis): the "
            "embedded Redis uses port %d this time; set ONEMAP_EMBEDDED_REDIS_PORT "
            "to a free port to keep its URL stable",
            taken,
            port,
        )
        server = _start_embedded(port, directory)
    url = f"redis://127.0.0.1:{port}/0"
    write_url(directory, url)
    log.info("embedded redis-server on %s, data in %s", url, directory)
    return server, url


def _start_embedded(port: int, directory: Path) -> RedisProcess:
    try:
        return start_redis(port, directory, persist=True, detach=True)
    except RuntimeError as exc:  # e.g. a damaged AOF: redis-server's own words, no traceback
        sys.exit(f"the embedded redis-server did not start ({directory}/redis.log): {exc}")


@dataclass
class _Child:
    """One supervised process of the demo, with the times it was restarted."""

    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: deque[float] = field(default_factory=deque)

    def start(self) -> None:
        # Its own process group: a Ctrl-C reaches only the demo, which stops its children in
        # order (and a child still importing cannot print a KeyboardInterrupt traceback); it
        # dies with the demo should the demo itself be killed.
        self.process = subprocess.Popen(
            self.argv, env=self.env, start_new_session=True, preexec_fn=die_with_parent
        )

    def may_restart(self, now: float) -> bool:
        while self.restarts and now - self.restarts[0] > RESTART_WINDOW_S:
            self.restarts.popleft()
        if len(self.restarts) >= RESTART_LIMIT:
            return False
        self.restarts.append(now)
        return True


def _demo(args: argparse.Namespace) -> int:
    """The whole system in one terminal: Ctrl-C (or SIGTERM) stops everything it started."""
    stop = _stop_on_signals(hangup=True)
    settings = Settings.from_env()
    server: RedisProcess | None = None
    children: list[_Child] = []
    kiosk_id = None
    url = settings.redis_url
    try:
        if not url:
            server, url = _embedded_redis(settings)
        print(
            f"for onemap user/kiosk/... in another terminal:\n  export ONEMAP_REDIS_URL={url}",
            flush=True,
        )
        from dashboard.accounts import demo_access

        kiosk_id = demo_access(settings, url)
        env = dict(os.environ, ONEMAP_REDIS_URL=url, ONEMAP_DATA_DIR=settings.data_dir)
        env.setdefault("ONEMAP_COOKIE_SECURE", "0")  # the demo serves plain HTTP
        children = _demo_children(args, settings, env)
        for child in children:
            child.start()
        return _supervise(children, stop)
    finally:
        try:
            _stop_children(children)
            if kiosk_id is not None:
                from dashboard.accounts import revoke_demo_link

                revoke_demo_link(settings, url, kiosk_id)  # before its Redis stops
        finally:  # whatever failed above, the demo's Redis must not outlive it
            if server is not None:
                server.stop(timeout=REDIS_STOP_S)


def _demo_children(
    args: argparse.Namespace, settings: Settings, env: dict[str, str]
) -> list[_Child]:
    # One seed per data dir: a restarted simulator (or demo) backfills exactly the incidents
    # it showed before (same ids and bytes), which the state folds as repeats, not new ones.
    seed_file = Path(settings.data_dir) / "demo-seed"
    if not seed_file.exists():
        seed_file.parent.mkdir(parents=True, exist_ok=True)
        seed_file.write_text(f"{secrets.randbits(31)}\n")
    simulate = [
        "simulate",
        "--events-per-day", str(args.events_per_day),
        "--workers", str(args.workers),
        "--speed", str(args.speed),
        "--seed", seed_file.read_text().strip(),
        "--history-days", "1",  # yesterday too, so the wall can compare with the same hour
    ]  # fmt: skip
    command = [sys.executable, "-m", "dashboard.cli"]
    return [
        _Child("simulate", [*command, *simulate], env),
        _Child("ingest", [*command, "ingest"], env),
        _Child("serve", [*command, "serve"], env),
    ]


def _supervise(children: list[_Child], stop: threading.Event) -> int:
    """Restart a child that dies (RESTART_LIMIT times in RESTART_WINDOW_S); 0 when stopped."""
    while not stop.wait(0.5):
        for child in children:
            assert child.process is not None
            code = child.process.poll()
            if code is None or stop.is_set():
                continue
            if not child.may_restart(time.monotonic()):
                log.error(
                    "%s exited (status %s) %d times within %.0f minutes: giving up, "
                    "stopping the demo",
                    child.name,
                    code,
                    RESTART_LIMIT + 1,
                    RESTART_WINDOW_S / 60,
                )
                return 1
            log.warning(
                "%s exited (status %s); restarting it (restart %d of at most %d "
                "within %.0f minutes)",
                child.name,
                code,
                len(child.restarts),
                RESTART_LIMIT,
                RESTART_WINDOW_S / 60,
            )
            child.start()
    return 0


def _stop_children(children: list[_Child]) -> None:
    """SIGTERM to all, then SIGKILL to any still there after STOP_GRACE_S."""
    running = [c.process for c in children if c.process is not None and c.process.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("pid %d did not stop within %.0fs; killing it", process.pid, STOP_GRACE_S)
            process.kill()
            process.wait()


if __name__ == "__main__":
    sys.exit(main())
