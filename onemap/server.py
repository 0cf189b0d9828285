"""`onemap serve` in production: gunicorn, one worker process with a thread per connection.

Flask-SocketIO's deployment guide: gunicorn cannot route a Socket.IO client back to the same
worker, so one worker per server process (replicas are more processes behind a load balancer,
docs/deployment.md), and with ``async_mode="threading"`` a thread per connection, whose
websocket is served by simple-websocket from ``gunicorn.socket``. Threads rather than gevent:
a duty search or a snapshot is CPU work of 10–300 ms in Python; between greenlets it would hold
every screen's push until it ends, between threads the interpreter switches every 5 ms.

The master process (gunicorn's arbiter) holds the listening socket and restarts a worker that
dies; the worker holds the dashboard. A SIGKILLed master takes its worker with it (the kernel's
parent-death signal), as a killed server must: an orphan would keep the port and the screens.

SIGTERM (or Ctrl-C) drains, within ``STOP_S``: readiness turns false at once, the listener is
closed (a load balancer's next connection goes to another replica), every screen is told to
reconnect (it comes back through the balancer, elsewhere), the state is written (checkpoint),
and the worker exits when its last connection has.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from dashboard.config import Settings
from feeds.redis_server import die_with_parent

log = logging.getLogger(__name__)

STOP_S = 10.0  # systemd's and Kubernetes' patience is longer; a deploy's is not


class DashboardWorker(ThreadWorker):
    """gunicorn's threaded worker that drains the dashboard when told to stop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refusing = threading.Event()  # the listener is closed
        self.drained = threading.Event()  # screens sent away, state written
        self.draining: threading.Thread | None = None

    def init_signals(self) -> None:
        super().init_signals()
        # Ctrl-C reaches the whole process group: the worker drains like on SIGTERM (gunicorn's
        # SIGINT/SIGQUIT are "stop now", which loses the checkpoint and drops every screen)
        signal.signal(signal.SIGINT, self.handle_exit)
        signal.signal(signal.SIGQUIT, self.handle_exit)

    def handle_exit(self, sig: int, frame: object) -> None:
        if self.alive and self.draining is None:
            self.draining = threading.Thread(target=self._drain, name="drain", daemon=True)
            self.draining.start()
        super().handle_exit(sig, frame)

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:
            # The master closed its copy already: once ours is closed too, a new connection is
            # refused at once (a balancer retries it elsewhere) instead of waiting unaccepted.
            for listener in self.sockets:
                listener.close()
            self.refusing.set()

    def _drain(self) -> None:
        try:
            onemap = getattr(self.app, "onemap", None)
            if onemap is not None:
                # screens told to reconnect while this one still accepted would come back here
                self.refusing.wait(1.0)
                onemap.drain()
        finally:
            self.drained.set()


class Serving(BaseApplication):
    """The dashboard as a gunicorn application; ``create_app`` runs in the worker, after the
    fork, so the live layer's threads are the worker's own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.threads = settings.threads
        self.onemap: Any = None
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options = {
            "bind": [f"[{s.host}]:{s.port}" if ":" in s.host else f"{s.host}:{s.port}"],
            "workers": 1,
            "worker_class": f"{__name__}.DashboardWorker",
            "threads": self.threads,
            # a screen is a connection for hours: room for every thread, and some for
            # kept-alive HTTP requests beside them
            "worker_connections": self.threads + 100,
            "backlog": 4096,  # a wall storm after a restart (bench.connect); somaxconn caps it
            "graceful_timeout": int(STOP_S) - 1,
            "timeout": 60,  # the worker's main loop is alone in answering this, not the app
            "keepalive": 5,
            "post_fork": _die_with_master,
            "worker_exit": _exit_drained,
            "proc_name": "onemap-serve",
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "control_socket_disable": True,
        }
        for key, value in options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Any:
        from onemap.app import create_app

        self.onemap = create_app(self.settings)
        self.onemap.hub.start()
        log.info("OneMap dashboard on http://%s:%s/wall", self.settings.host, self.settings.port)
        return self.onemap.server


def _die_with_master(server: Any, worker: Any) -> None:
    """The worker gets SIGKILL when its master dies, however it dies (Linux)."""
    if not die_with_parent(signal.SIGKILL):  # not Linux: a dead master's worker ends by itself
        log.warning("no parent-death signal here: a killed master's worker lingers a while")
    if os.getppid() != worker.ppid:  # the master died before the signal was asked for
        os._exit(1)


def _exit_drained(server: Any, worker: Any) -> None:
    """The worker's last act: once the drain is over (or its time is), exit without the
    interpreter's teardown. The live layer's threads still hold DuckDB and Arrow objects; a
    teardown only prints nanobind's leak report, pages of it, at every stop."""
    drained = getattr(worker, "drained", None)
    if drained is not None and getattr(worker, "draining", None) is not None:
        drained.wait(STOP_S - 1.5)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
