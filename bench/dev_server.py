"""The development server `onemap serve` ran on before gunicorn, kept as a benchmark's baseline.

    ONEMAP_REDIS_URL=... .venv/bin/python -m bench.dev_server

Werkzeug's threaded server (a thread per connection, as gunicorn's worker here), started the way
``onemap serve`` started it until 2026-12 (``socketio.run`` with ``allow_unsafe_werkzeug``),
with the same app, live layer and stop (SIGTERM: the state written, then exit). Never for
production: Werkzeug says so at every start.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from werkzeug.serving import BaseWSGIServer

from dashboard.config import Settings
from onemap.app import create_app


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("ONEMAP_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings.from_env()
    onemap = create_app(settings)

    def stop(signum: int, frame: object) -> None:
        onemap.drain()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    # Werkzeug queues 128 connections; a storm of walls reconnecting at once overflowed it
    # (bench.connect): the old `onemap serve` raised it, as here
    BaseWSGIServer.request_queue_size = 4096
    onemap.hub.start()
    onemap.socketio.run(
        onemap.server,
        host=settings.host,
        port=settings.port,
        allow_unsafe_werkzeug=True,
        use_reloader=False,
        log_output=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
