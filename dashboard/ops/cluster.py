"""`onemap cluster`: the production topology on one machine, on loopback, for a demo and tests.

Three dashboard replicas (`onemap serve`, each its own port and data dir) behind HAProxy
(``deploy/haproxy/haproxy.cfg``, as it is), on Redis with Sentinel failover (a primary, a
replica and three sentinels: ``feeds.redis_group``), the notifier (`onemap notify run`) and the
simulator feeding it. The
replicas share nothing but Redis: each folds the log itself, so any of them can serve any
screen, and a screen whose replica goes away reconnects through the balancer to another.

Stopping (Ctrl-C, SIGTERM) goes from the outside in: simulator, balancer, replicas (each
drains: ``onemap.server``), then Redis.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dashboard.config import Settings
from feeds.redis_server import die_with_parent, free_port

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
REPLICAS = 3  # the servers deploy/haproxy/haproxy.cfg names
# `onemap` + these + the port: as deploy/systemd/onemap-serve@.service starts a replica
SERVE = ["serve", "--host", "127.0.0.1", "--port"]
STOP_S = 10.0


class RedisGroup(Protocol):
    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


@dataclass
class Replica:
    """One `onemap serve` process on its own port and data dir."""

    name: str
    port: int
    directory: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.name}.log"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        env = {**self.env, "ONEMAP_DATA_DIR": str(self.directory / "data")}
        command = [sys.executable, "-m", "onemap.cli", *SERVE, str(self.port)]
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        self.starts += 1

    def ready(self) -> bool:
        return _ready(f"{self.url}/readyz")

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.name} not ready in {timeout:.0f} s:\n{self.log()[-3000:]}"
                )
            time.sleep(0.2)

    def stop(self, timeout: float = STOP_S) -> float:
        """SIGTERM (the replica drains), then SIGKILL past ``timeout``: seconds it took."""
        began = time.monotonic()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s: killed", self.name, timeout)
                self.process.kill()
                self.process.wait()
        return time.monotonic() - began

    def kill(self) -> None:
        """SIGKILL, as a crash: its worker goes with it (``onemap.server``)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class Balancer:
    """HAProxy with the project's configuration file, in the foreground."""

    port: int
    replicas: list[Replica]
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "ONEMAP_LB_BIND": f"127.0.0.1:{self.port}"}
        for number, replica in enumerate(self.replicas, 1):
            env[f"ONEMAP_REPLICA_{number}"] = f"127.0.0.1:{replica.port}"
        with (self.directory / "haproxy.log").open("ab") as out:
            self.process = subprocess.Popen(
                [haproxy_binary(), "-db", "-f", str(HAPROXY_CFG)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + 10
        while not _answers(f"{self.url}/lb-alive"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"haproxy did not start:\n{self.log()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)  # soft stop: ends once its sessions do
            try:
                self.process.wait(2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        try:
            return (self.directory / "haproxy.log").read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class Cluster:
    directory: Path
    redis: RedisGroup | None
    redis_url: str
    replicas: list[Replica]
    balancer: Balancer
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.balancer.url

    def restart(self, replica: Replica, timeout: float = 120) -> float:
        """A deploy's step: stop (drain), start, wait until ready. Seconds it was away."""
        began = time.monotonic()
        replica.stop()
        replica.start()
        replica.wait_ready(timeout)
        return time.monotonic() - began

    def health(self) -> dict[str, Any]:
        """Each replica's /healthz, by name (an error string where it does not answer)."""
        found: dict[str, Any] = {}
        for replica in self.replicas:
            try:
                with urllib.request.urlopen(f"{replica.url}/healthz", timeout=3) as answer:
                    found[replica.name] = json.loads(answer.read())
            except (OSError, ValueError) as exc:
                found[replica.name] = str(exc)
        return found

    def stop(self) -> None:
        for process in self.others:
            _stop(process)
        self.balancer.stop()
        for replica in self.replicas:
            replica.stop()
        if self.redis is not None:
            self.redis.stop()


def start_cluster(
    directory: Path,
    port: int = 0,
    redis_url: str = "",
    env: dict[str, str] | None = None,
    ready_timeout: float = 180,
) -> Cluster:
    """The topology, ready: every replica has folded the log and the balancer sends to them.
    ``redis_url`` empty: a Sentinel group of its own under ``directory``."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    group: RedisGroup | None = None
    if not redis_url:
        group = _redis_group(directory / "redis")
        redis_url = group.url
    base = {
        **os.environ,
        **(env or {}),
        "ONEMAP_REDIS_URL": redis_url,
        "ONEMAP_TRUSTED_PROXIES": "1",  # the balancer's X-Forwarded-For: the client's address
        # one archive for all: each replica archives under the same Redis lock and reads the
        # days the others archived (and trimmed from the log)
        "ONEMAP_ARCHIVE_DIR": str(directory / "archive"),
        "PYTHONUNBUFFERED": "1",
    }
    replicas = [
        Replica(f"replica{n}", free_port(), directory / f"replica{n}", base)
        for n in range(1, REPLICAS + 1)
    ]
    balancer = Balancer(port or free_port(), replicas, directory)
    cluster = Cluster(directory, group, redis_url, replicas, balancer)
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait_ready(ready_timeout)
        balancer.start()
        _wait_backends(balancer, len(replicas))
    except BaseException:
        cluster.stop()
        raise
    return cluster


def haproxy_binary() -> str:
    for candidate in ("/usr/sbin/haproxy", "/usr/bin/haproxy"):
        if Path(candidate).exists():
            return candidate
    raise RuntimeError("haproxy is not installed: `make cluster-deps` (Debian's haproxy)")


def _redis_group(directory: Path) -> RedisGroup:
    from feeds.redis_group import start_group

    group: RedisGroup = start_group(directory)
    return group


def _wait_backends(balancer: Balancer, count: int, timeout: float = 15) -> None:
    """Until HAProxy's checks have seen every replica up: a few requests through it reach
    each (``leastconn`` with idle replicas: round robin)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(f"{balancer.url}/readyz"):
            time.sleep(1.5)  # rise 2 × inter 1 s: every server marked up
            return
        time.sleep(0.2)
    raise RuntimeError(f"the balancer reaches no replica:\n{balancer.log()}")


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(json.loads(answer.read()).get("ready"))
    except (OSError, ValueError):
        return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.HTTPError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_cluster(args: argparse.Namespace, stop: threading.Event) -> int:
    """`onemap cluster`: the topology and the simulator until ``stop`` (Ctrl-C, SIGTERM)."""
    from dashboard.ops.accounts import demo_access, revoke_demo_link

    settings = Settings.from_env()
    directory = Path(args.dir or Path(settings.data_dir) / "cluster")
    port = args.port or settings.port
    env = {"ONEMAP_COOKIE_SECURE": os.environ.get("ONEMAP_COOKIE_SECURE", "0")}  # plain HTTP
    cluster = start_cluster(directory, port=port, env=env)
    kiosk_id = None
    try:
        local = dataclasses.replace(settings, port=port, host="127.0.0.1")
        print(f"export ONEMAP_REDIS_URL={cluster.redis_url}", flush=True)
        kiosk_id = demo_access(local, cluster.redis_url)
        for replica in cluster.replicas:
            print(f"{replica.name}: {replica.url} (log {replica.log_path})", flush=True)
        print(f"balancer: {cluster.url} (HAProxy, {HAPROXY_CFG})", flush=True)
        children = [("notify", ["notify", "run"])]  # idle until someone subscribes
        if not args.no_simulator:
            children.append(("simulate", ["simulate", "--history-days", "1"]))
        for name, argv in children:
            with (cluster.directory / f"{name}.log").open("ab") as out:
                cluster.others.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "onemap.cli", *argv],
                        env={**os.environ, "ONEMAP_REDIS_URL": cluster.redis_url,
                             "ONEMAP_PUBLIC_URL": cluster.url},
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        preexec_fn=die_with_parent,
                    )
                )  # fmt: skip
        while not stop.wait(1.0):
            for replica in cluster.replicas:  # a replica that dies comes back, as systemd's would
                if replica.process is not None and replica.process.poll() is not None:
                    log.warning("%s exited (%s): starting it again", replica.name,
                                replica.process.returncode)  # fmt: skip
                    replica.start()
        return 0
    finally:
        try:
            if kiosk_id is not None:
                revoke_demo_link(settings, cluster.redis_url, kiosk_id)
        finally:
            cluster.stop()
