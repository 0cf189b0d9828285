"""What both benchmarks share: the server under test, CPU meters, percentiles, the report.

Every process a benchmark starts is its own child and is stopped by its own handle in a
``finally``; nothing is ever stopped by name.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import redis

from feeds.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
MACHINE = "machine (all cores)"
OTHERS = "others (not this benchmark)"


# -- processes ------------------------------------------------------------------------------
@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:
            return dict(json.loads(response.read()))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tracebacks(self) -> dict[str, int]:
        """Each distinct exception line of the tracebacks in the log, with how often."""
        found: Counter[str] = Counter()
        inside = False
        for line in self.log().splitlines():
            if line.startswith("Traceback"):
                inside = True
            elif inside and line and not line.startswith(" "):
                found[line[:200]] += 1
                inside = False
        return dict(found)


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def dashboard_server(
    redis_url: str,
    prefix: str,
    tmp: Path,
    ready_timeout: float = 90,
    kind: str = "gunicorn",
    **env: str,
) -> Iterator[Server]:
    """The real dashboard (`python -m onemap.cli serve`) on a free port, like tests/live;
    ``ready_timeout``: how long its first fold may take (a long log's takes minutes);
    ``kind="werkzeug"``: the development server it ran on before (``bench.dev_server``), as a
    baseline."""
    port = free_port()
    log_path = tmp / f"dashboard-{port}.log"
    environ = {
        **os.environ,
        "ONEMAP_REDIS_URL": redis_url,
        "ONEMAP_PREFIX": prefix,
        "ONEMAP_PORT": str(port),
        "ONEMAP_HOST": "127.0.0.1",
        "ONEMAP_LOG_LEVEL": "WARNING",  # a log line per request would be measured as server work
        "ONEMAP_COOKIE_SECURE": "0",  # plain HTTP on loopback
        "ONEMAP_DATA_DIR": str(tmp / "data"),  # its own checkpoints and archive
        "ONEMAP_BRIEFING_AT": "",  # the morning's briefings: Chromium prints, not what is measured
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    command = [PY, "-m", "onemap.cli", "serve"]
    if kind == "werkzeug":
        command = [PY, "-m", "bench.dev_server"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_http(
            f"{server.url}/healthz",
            process,
            lambda body: json.loads(body).get("ready"),
            timeout=ready_timeout,
        )
        yield server
    finally:
        stop_process(process)


def kiosk_token(redis_url: str, prefix: str, scope: str) -> str:
    """A wall's sign-in link token for ``scope``, as an administrator would issue one."""
    from dashboard.access.store import UserStore

    _kiosk, token = UserStore(redis.Redis.from_url(redis_url), prefix).add_kiosk(scope, "bench")
    return token


def session_cookie(base_url: str, token: str) -> str:
    """Sign in like a wall does (its kiosk link sets the session cookie and redirects)."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", f"/wall?kiosk={token}", headers={"Accept": "text/html"})
        response = connection.getresponse()
        response.read()
        cookie = response.getheader("Set-Cookie")
    finally:
        connection.close()
    if response.status != 302 or not cookie:
        raise RuntimeError(f"kiosk sign-in failed: HTTP {response.status}")
    return cookie.split(";", 1)[0]


def wait_http(
    url: str,
    process: subprocess.Popen[bytes],
    ready: Any = lambda body: True,
    timeout: float = 90,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if ready(response.read()):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {timeout}s")


# -- measuring ------------------------------------------------------------------------------
def _cpu_seconds(pids: Iterable[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class CpuMeter:
    """CPU time of named groups of processes over a window, as % of one core."""

    def __init__(self, groups: dict[str, Sequence[int]]) -> None:
        self.groups = {name: list(pids) for name, pids in groups.items() if pids}
        self._start: dict[str, float] = {}
        self._wall = 0.0

    def start(self) -> None:
        psutil.cpu_percent(interval=None)  # primes the machine-wide counter
        self._start = {name: _cpu_seconds(pids) for name, pids in self.groups.items()}
        self._wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        elapsed = time.monotonic() - self._wall
        used = {
            name: 100 * (_cpu_seconds(pids) - self._start[name]) / elapsed
            for name, pids in self.groups.items()
        }
        # Of all cores together: at nproc × 100% everything, server included, was starved.
        # What is not ours is someone else's work on a shared machine: noise, reported as such.
        machine = psutil.cpu_percent(interval=None) * (psutil.cpu_count() or 1)
        used[OTHERS] = max(0.0, machine - sum(used.values()))
        used[MACHINE] = machine
        return used


def rss_mb(pid: int) -> float:
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.NoSuchProcess:
        return float("nan")


def server_pids(pid: int) -> list[int]:
    """A dashboard server's processes: the master (gunicorn's arbiter, ``onemap serve``'s own
    pid) and its worker, which holds the dashboard. Not the worker's short-lived children (the
    checkpoint writer is a fork: its pages are the worker's, counted once)."""
    try:
        return [pid, *(child.pid for child in psutil.Process(pid).children())]
    except psutil.NoSuchProcess:
        return [pid]


def server_rss_mb(pid: int) -> float:
    """What a dashboard server holds: its master's and its worker's RSS."""
    return sum(rss_mb(p) for p in server_pids(pid))


def worker_pid(pid: int) -> int:
    """The process that holds the dashboard (its threads, its state)."""
    pids = server_pids(pid)
    return pids[-1]


def descendants_named(word: str) -> list[int]:
    """Our own child processes whose name contains ``word`` (Chromium's many processes)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if word in child.name():
                found.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


class PySpy:
    """py-spy (``pip install py-spy``) sampling a process's Python stacks over a window, without
    pausing it; the report is the share of one core spent in each function."""

    # A server with 100 sockets has ~300 threads, and py-spy reads every thread's stack per
    # sample: at 100 Hz it falls behind and burns a core of its own. --gil keeps only the thread
    # holding the GIL, which is where a Python process's CPU goes.
    def __init__(self, pid: int, out: Path, rate: int = 20) -> None:
        found = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
        if not Path(found).exists():
            raise SystemExit("profiling needs py-spy: .venv/bin/pip install py-spy")
        self.command = [found, "record", "--pid", str(pid), "--rate", str(rate), "--gil",
                        "--format", "raw", "--nonblocking", "--output", str(out)]  # fmt: skip
        self.out, self.rate = out, rate
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, seconds: float) -> None:
        self.seconds = max(1, round(seconds))
        with open(self.out.with_suffix(".log"), "wb") as log:
            self.process = subprocess.Popen(
                [*self.command, "--duration", str(self.seconds)], stdout=log, stderr=log
            )

    def report(self, top: int = 12) -> dict[str, list[tuple[str, float]]]:
        """Self and inclusive time of the busiest functions, in % of one core."""
        if self.process is None:
            return {}
        try:
            self.process.wait(timeout=self.seconds + 30)
        except subprocess.TimeoutExpired:
            stop_process(self.process)
        if not self.out.exists():
            problem = self.out.with_suffix(".log").read_text(errors="replace").strip()
            print(f"!! py-spy recorded nothing: {problem[-500:]}")
            return {}
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        for line in self.out.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            frames = [_function(frame) for frame in stack.split(";")]
            own[frames[-1]] += int(count)
            for name in set(frames):
                inclusive[name] += int(count)
        scale = 100 / (self.rate * self.seconds)
        return {
            "self": [(name, n * scale) for name, n in own.most_common(top)],
            "inclusive": [(name, n * scale) for name, n in inclusive.most_common(top)],
        }


def _function(frame: str) -> str:
    """'emit (socketio/base_manager.py:44)' → 'emit (socketio/base_manager.py)'."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def print_profile(title: str, profile: dict[str, list[tuple[str, float]]]) -> None:
    for kind in ("self", "inclusive"):
        rows = [[name[:90], f"{share:.1f}"] for name, share in profile.get(kind, [])]
        if rows:
            print()
            print(table(rows, [f"{title}: {kind} time", "% of one core"]))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
    }


# -- reporting ------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": model,
        "python": platform.python_version(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }


_STARTED = time.monotonic()


def say(message: str) -> None:
    """A progress line, with the seconds since the benchmark started."""
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {message}", flush=True)


def banner(title: str) -> None:
    info = machine()
    print(f"== {title}")
    print(
        f"   {info['date']} · {info['nproc']} cores · {info['ram_gib']} GiB · {info['cpu']} · "
        f"Python {info['python']} · load {info['load_before']}",
        flush=True,
    )


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "—"
        if value == float("inf"):
            return "never"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_json(path: str | None, result: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        print(f"results written to {path}")


def run_in_tmp(
    name: str,
    args: Any,
    run: Callable[[Any, Path], dict[str, Any]],
    report: Callable[[dict[str, Any]], None],
    keep: bool = False,
) -> int:
    """A benchmark's main: run in a temporary directory (removed unless ``keep``), report, and
    write ``args.json`` when asked."""
    tmp = Path(tempfile.mkdtemp(prefix=f"onemap-bench-{name}-"))
    try:
        result = run(args, tmp)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    report(result)
    write_json(args.json, result)
    return 0
