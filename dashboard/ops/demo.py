"""`onemap demo`: the embedded Redis, the simulator, ingest and the dashboard, supervised.

A child that dies is restarted (a limited number of times); Ctrl-C or SIGTERM stops the
children, then revokes the demo's wall link, then stops the embedded Redis, in that order.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.config import Settings
from feeds.redis_server import (
    RedisProcess,
    die_with_parent,
    free_port,
    port_is_free,
    serves_directory,
    start_redis,
    write_url,
)

log = logging.getLogger("onemap")

# `onemap demo` restarts a child that dies, but not forever: a child that keeps dying is broken,
# and restarting it every few seconds for months would hide that. Past the limit, it stops all.
RESTART_LIMIT = 5
RESTART_WINDOW_S = 600.0
# After SIGTERM, a child gets this long before SIGKILL: with the revoke and Redis's own stop
# after it, Ctrl-C ends everything in well under 10 s even when something hangs.
STOP_GRACE_S = 3.0
REDIS_STOP_S = 2.0


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


def run_demo(args: argparse.Namespace, stop: threading.Event) -> int:
    """The whole system in one terminal: ``stop`` (Ctrl-C, SIGTERM) stops all it started."""
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
        from dashboard.ops.accounts import demo_access

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
                from dashboard.ops.accounts import revoke_demo_link

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
    command = [sys.executable, "-m", "onemap.cli"]
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
