"""`onemap demo` (what `make demo` runs) brings up the whole system with live data."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from feeds.redis_server import free_port
from tests.live import ROOT

pytestmark = pytest.mark.browser


def _health(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
        return json.loads(response.read())


def _wait_for_data(url: str, process: subprocess.Popen, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "onemap demo exited early"
        try:
            health = _health(url)
            if health["ready"] and health["incidents"] > 0 and health["workers"] > 0:
                return health
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError("no live data within the timeout")


def _printed_wall_link(log_path) -> str:
    found = re.search(r"wall link \(no password needed\): (\S+)", log_path.read_text())
    assert found, "onemap demo printed no wall link"
    return found.group(1)


def test_demo_runs_embedded_redis_simulator_and_dashboard_with_live_data(page, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "ONEMAP_REDIS_URL"}
    env.update(ONEMAP_PORT=str(port), ONEMAP_DATA_DIR=str(tmp_path / "data"))
    log = open(tmp_path / "demo.log", "wb")
    demo = subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "demo", "--workers", "300"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        first = _wait_for_data(url, demo)
        page.goto(_printed_wall_link(tmp_path / "demo.log"))  # what a person would click
        page.wait_for_url(f"{url}/wall")
        page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)
        page.locator(".ticker-item").first.wait_for(timeout=30_000)
        assert page.locator(".kpi-reported .kpi-value").inner_text() not in ("", "—", "0")
        time.sleep(3)
        later = _health(url)
        assert later["stats"]["accepted:position"] > first["stats"]["accepted:position"]
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=30)
        log.close()
    assert demo.returncode == 0, (tmp_path / "demo.log").read_text()
    with pytest.raises(OSError):
        _health(url)
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path / "data")], capture_output=True)
    assert leftovers.stdout == b"", "the embedded redis-server outlived the demo"
