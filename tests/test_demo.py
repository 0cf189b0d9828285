"""`onemap demo` (what `make demo` runs) brings up the whole system with live data, keeps it
across restarts, restarts a child that dies, and stops cleanly on Ctrl-C.

The demo runs as a user runs it: the `onemap` script, in its own process group (a terminal's
Ctrl-C is SIGINT to the whole group), with only the web and Redis ports moved to free ones.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from feeds.redis_server import free_port, port_is_free
from tests.live import run_cli

ONEMAP = str(Path(sys.executable).with_name("onemap"))  # the script `make demo` runs
DEMO = [ONEMAP, "demo", "--workers", "300", "--events-per-day", "1000"]

pytestmark = [pytest.mark.browser, pytest.mark.fault]


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
    env = _env(ONEMAP_PORT=str(port), ONEMAP_DATA_DIR=str(tmp_path / "data"))
    log = tmp_path / "demo.log"
    demo = _start(tmp_path, env, log, [ONEMAP, "demo", "--workers", "300"])
    url = f"http://127.0.0.1:{port}"
    try:
        first = _wait_for_data(url, demo)
        children = _children(demo.pid)
        page.goto(_printed_wall_link(log))  # what a person would click
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
    _stopped_cleanly(demo, log, children, url, int(env["ONEMAP_EMBEDDED_REDIS_PORT"]))


def test_demo_from_a_fresh_checkout_stops_on_ctrl_c_and_keeps_accounts_and_log(tmp_path):
    # exactly as `make demo` in a fresh clone: relative default data dir, no Redis URL
    env = _env(ONEMAP_PORT=str(free_port()))
    redis_port, url = (
        int(env["ONEMAP_EMBEDDED_REDIS_PORT"]),
        f"http://127.0.0.1:{env['ONEMAP_PORT']}",
    )
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"

    demo = _start(tmp_path, env, first_log)
    try:
        _wait_for_data(url, demo)
        redis_url = _printed_redis_url(first_log)
        assert redis_url == f"redis://127.0.0.1:{redis_port}/0"
        added = run_cli(
            ["user", "add", "alice", "--role", "duty", "--scope", "330200", "--password-stdin"],
            redis_url,
            "onemap",
            b"correct horse battery\n",
        )
        assert added.returncode == 0, added.stderr
        first_step = _first_step(redis_url)
        children = _children(demo.pid)
    finally:
        _ctrl_c(demo)
    _stopped_cleanly(demo, first_log, children, url, redis_port)
    assert (tmp_path / ".onemap" / "redis" / "url").read_text().strip() == redis_url
    hint = subprocess.run([ONEMAP, "user", "list"], cwd=tmp_path, env=env, capture_output=True)
    assert hint.returncode != 0 and f"export ONEMAP_REDIS_URL={redis_url}" in hint.stderr.decode()

    demo = _start(tmp_path, env, second_log)
    try:
        _wait_for_data(url, demo)
        assert _printed_redis_url(second_log) == redis_url  # the same Redis, the same data
        users = run_cli(["user", "list"], redis_url, "onemap")
        assert "alice\tduty\t330200" in users.stdout.decode()
        assert _first_step(redis_url) == first_step  # the log of the first run is still there
        assert "password (shown once)" not in second_log.read_text()  # admin kept too
        children = _children(demo.pid)
    finally:
        _ctrl_c(demo)
    _stopped_cleanly(demo, second_log, children, url, redis_port)


def test_demo_restarts_a_child_killed_with_sigkill_and_stops_even_with_redis_stalled(tmp_path):
    env = _env(ONEMAP_PORT=str(free_port()), ONEMAP_DATA_DIR=str(tmp_path / "data"))
    url, log = f"http://127.0.0.1:{env['ONEMAP_PORT']}", tmp_path / "demo.log"
    demo = _start(tmp_path, env, log)
    try:
        before = _wait_for_data(url, demo)
        [serve] = [pid for pid in _children(demo.pid) if b" serve" in _cmdline(pid)]
        os.kill(serve, signal.SIGKILL)
        _wait_for_gone(url)
        after = _wait_for_data(url, demo)  # the demo still runs, with a new server
        assert after["stats"]["accepted:event"] >= before["stats"]["accepted:event"]
        [again] = [pid for pid in _children(demo.pid) if b" serve" in _cmdline(pid)]
        assert again != serve
        assert "serve exited" in log.read_text()
        children = _children(demo.pid)
        [server] = [pid for pid in children if b"redis-server" in _cmdline(pid)]
        os.kill(server, signal.SIGSTOP)  # stalled as Ctrl-C comes: the demo's own Redis only
    finally:
        _ctrl_c(demo)
    _stopped_cleanly(demo, log, children, url, int(env["ONEMAP_EMBEDDED_REDIS_PORT"]))


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ONEMAP_REDIS_URL", "ONEMAP_DATA_DIR")}
    env["ONEMAP_EMBEDDED_REDIS_PORT"] = str(free_port())  # not 6380: tests must not collide
    env.update(settings)
    return env


def _start(cwd: Path, env: dict[str, str], log: Path, command: list[str] = DEMO):
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # a group of its own, as a terminal gives a command
        )  # fmt: skip


def _ctrl_c(demo: subprocess.Popen) -> None:
    """SIGINT to the whole process group, as a terminal sends it; must be over within 10 s."""
    if demo.poll() is not None:
        return
    began = time.monotonic()
    os.killpg(demo.pid, signal.SIGINT)
    try:
        demo.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGKILL)
        demo.wait()
        raise AssertionError("onemap demo did not stop within 10 s of Ctrl-C") from None
    assert time.monotonic() - began < 10


def _stopped_cleanly(demo, log: Path, children: list[int], url: str, redis_port: int) -> None:
    text = log.read_text(errors="replace")
    assert demo.returncode == 0, text
    assert "Traceback" not in text, text
    assert children, "no children were seen"
    left = [pid for pid in children if _alive(pid)]
    assert left == [], f"still running after the demo: {[_cmdline(pid) for pid in left]}"
    assert port_is_free(redis_port), "the embedded redis-server outlived the demo"
    with pytest.raises(OSError):
        _health(url)


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in found.stdout.split()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for_gone(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _health(url)
        except (OSError, http.client.HTTPException):  # refused, or killed mid-answer
            return
        time.sleep(0.1)
    raise AssertionError("the killed server still answers")


def _printed_redis_url(log: Path) -> str:
    found = re.search(r"export ONEMAP_REDIS_URL=(\S+)", log.read_text())
    assert found, "onemap demo printed no ONEMAP_REDIS_URL"
    return found.group(1)


def _first_step(redis_url: str) -> bytes:
    client = redis.Redis.from_url(redis_url)
    try:
        [(sid, _fields)] = client.xrange("onemap:events", count=1)
    finally:
        client.close()
    return sid
