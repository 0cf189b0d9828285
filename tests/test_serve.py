"""`onemap serve` as a production server (gunicorn, onemap/server.py), run exactly as a user runs
it: readiness apart from liveness, a stop that drains in time, a worker that never outlives its
master and comes back when it dies alone."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from feeds.redis_server import free_port, port_is_free, start_redis
from tests.live import CITY, ROOT, dashboard
from tests.screens import Screen, kiosk_cookie

STOP_S = 10.0  # the issue: SIGTERM → exit within 10 s


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _worker(pid: int) -> psutil.Process:
    [worker] = psutil.Process(pid).children()
    return worker


def test_ready_only_once_the_log_is_folded_while_live_from_the_start(tmp_path):
    """A Redis that does not answer (stopped) holds the fold: the process is live (/livez 200,
    a balancer must not restart it) but not ready (/readyz 503, it must get no screens); once
    Redis answers, ready."""
    own = start_redis(directory=tmp_path / "redis")
    try:
        os.kill(own.process.pid, signal.SIGSTOP)
        secret = {"ONEMAP_SECRET_KEY": "k" * 32}  # the shared key would be read from Redis
        with dashboard(own.url, "ready", tmp_path, wait=False, **secret) as server:
            deadline = time.monotonic() + 60
            while True:
                try:
                    live = _status(f"{server.url}/livez")
                    break
                except OSError:
                    assert time.monotonic() < deadline, server.log()
                    assert server.process.poll() is None, server.log()
                    time.sleep(0.2)
            assert live == 200
            assert _status(f"{server.url}/readyz") == 503
            time.sleep(2)
            assert _status(f"{server.url}/readyz") == 503, "ready with its Redis stopped"
            os.kill(own.process.pid, signal.SIGCONT)
            deadline = time.monotonic() + 60
            while _status(f"{server.url}/readyz") != 200:
                assert time.monotonic() < deadline, server.log()[-2000:]
                time.sleep(0.2)
    finally:
        os.kill(own.process.pid, signal.SIGCONT)
        own.stop()


def test_sigterm_sends_screens_away_refuses_new_connections_and_exits_in_time(
    redis_server, prefix, tmp_path
):
    with dashboard(redis_server.url, prefix, tmp_path) as server:
        cookie = kiosk_cookie(server.url, server.wall_link())
        screen = Screen(server.url, cookie, CITY, "drained").start()
        try:
            screen.wait_live(30)
            port = int(server.url.rsplit(":", 1)[1])
            began = time.monotonic()
            server.process.terminate()
            refused = _refused_within(port, 2.0, server.process)
            server.process.wait(STOP_S + 5)
            took = time.monotonic() - began
            log = server.log()
        finally:
            screen.close()
    assert took < STOP_S, f"stopped in {took:.1f} s\n{log[-2000:]}"
    assert server.process.returncode == 0, log[-2000:]
    assert refused, "a connection made while it stopped was accepted and left waiting"
    assert re.search(r"stopping: 1 screen\(s\) sent to reconnect", log), log[-2000:]
    after = log[log.index("stopping:") :]
    assert "checkpoint written" in after, after  # the state written on the way out
    assert "Traceback" not in log, log
    assert port_is_free(port)


def _refused_within(port: int, seconds: float, process: subprocess.Popen[bytes]) -> bool:
    """Whether a new connection is refused (RST) within ``seconds`` of the stop, rather than
    accepted by a listener nobody serves (a balancer would wait for it until its timeout)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"GET /readyz HTTP/1.0\r\n\r\n")
                conn.settimeout(1)
                answer = conn.recv(64)
                if answer.startswith(b"HTTP/1.1 503") or answer.startswith(b"HTTP/1.0 503"):
                    pass  # still answering, not ready: fine as well, as long as it answers
                elif not answer:
                    return False  # accepted, then dropped unanswered
        except ConnectionRefusedError:
            return True
        except TimeoutError:
            return False
        if process.poll() is not None:
            return True  # gone already: its port refuses
        time.sleep(0.05)
    return False


def test_a_killed_master_takes_its_worker_and_port_with_it(redis_server, prefix, tmp_path):
    """SIGKILL to `onemap serve` (a crash, `kill -9`, the OOM killer): the worker must not live
    on holding the port and its screens (left alone, it would wait for them to leave), or the
    restarted server could not bind the port and the screens would watch a server nobody runs."""
    with dashboard(redis_server.url, prefix, tmp_path) as server:
        cookie = kiosk_cookie(server.url, server.wall_link())
        screen = Screen(server.url, cookie, CITY, "orphaned").start()
        try:
            screen.wait_live(30)
            worker = _worker(server.process.pid)
            port = int(server.url.rsplit(":", 1)[1])
            server.process.kill()
            server.process.wait()
            worker.wait(2)  # raises psutil.TimeoutExpired if it lives on
            assert port_is_free(port)
        finally:
            screen.close()


def test_a_worker_that_dies_alone_is_replaced_and_ready_again(redis_server, prefix, tmp_path):
    with dashboard(redis_server.url, prefix, tmp_path) as server:
        first = _worker(server.process.pid)
        first.kill()
        first.wait(5)
        deadline = time.monotonic() + 90
        while True:
            try:
                if server.health().get("ready") and _worker(server.process.pid).pid != first.pid:
                    break
            except (OSError, ValueError):
                pass
            assert time.monotonic() < deadline, server.log()[-2000:]
            assert server.process.poll() is None, server.log()[-2000:]
            time.sleep(0.3)


def test_serve_flags_choose_the_address(redis_server, prefix, tmp_path):
    """`onemap serve --host --port` over the environment's ONEMAP_HOST/PORT."""
    port = free_port()
    env = {
        **os.environ,
        "ONEMAP_REDIS_URL": redis_server.url,
        "ONEMAP_PREFIX": prefix,
        "ONEMAP_PORT": str(free_port()),  # overridden by --port
        "ONEMAP_DATA_DIR": str(tmp_path / "data"),
    }
    log = Path(tmp_path / "serve.log")
    with log.open("wb") as out:
        command = [sys.executable, "-m", "onemap.cli", "serve", "--host", "127.0.0.1"]
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _status(f"http://127.0.0.1:{port}/livez") == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert "development server" not in log.read_text()
    finally:
        process.terminate()
        process.wait(STOP_S + 5)


def test_serve_without_a_redis_url_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    env.update(ONEMAP_REDIS_URL="", ONEMAP_DATA_DIR=str(tmp_path), ONEMAP_PORT=str(free_port()))
    done = subprocess.run(
        [sys.executable, "-m", "onemap.cli", "serve"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "ONEMAP_REDIS_URL is empty" in done.stderr and "Traceback" not in done.stderr
