"""Real processes for end-to-end tests: the dashboard server as a subprocess, and a browser.

The server runs exactly as in production (`python -m dashboard.cli serve`) on a free port,
against the test's own Redis and key prefix; it is waited for and always terminated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from feeds.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("ONEMAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@dataclass
class Dashboard:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:
            return json.loads(response.read())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def dashboard(
    redis_url: str, prefix: str, tmp: Path, port: int | None = None, **env: str
) -> Iterator[Dashboard]:
    port = port or free_port()
    log_path = tmp / f"dashboard-{port}.log"
    environ = dict(
        os.environ,
        ONEMAP_REDIS_URL=redis_url,
        ONEMAP_PREFIX=prefix,
        ONEMAP_PORT=str(port),
        ONEMAP_HOST="127.0.0.1",
        PYTHONUNBUFFERED="1",
        **env,
    )
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "dashboard.cli", "serve"],
            cwd=ROOT,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Dashboard(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: Dashboard, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"dashboard exited early:\n{server.log()}")
        try:
            if server.health().get("ready"):
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"dashboard not ready within {timeout}s:\n{server.log()}")


def run_cli(args: list[str], redis_url: str, prefix: str, stdin: bytes = b"", timeout: float = 120):
    env = dict(os.environ, ONEMAP_REDIS_URL=redis_url, ONEMAP_PREFIX=prefix)
    return subprocess.run(
        [sys.executable, "-m", "dashboard.cli", *args],
        cwd=ROOT,
        input=stdin,
        env=env,
        capture_output=True,
        timeout=timeout,
    )
