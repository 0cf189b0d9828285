"""Faults against real processes: what every open screen applied must equal the log.

Each test starts its own redis-server (never the session's) and the real server
(`python -m onemap.cli serve`) as subprocesses, opens 20 screens (a browser wall through a
kiosk link and python screens that follow the page's protocol, see tests.screens), publishes
steps from a thread that retries through errors, breaks something, and then compares every
screen with the log: 0 lost, 0 duplicated, in order. The tests run beside others on a shared
2-core machine: waits are generous "eventually" deadlines, and latency bounds are on p99, with
room above the issue's 1 s target (a single late sample on a loaded machine is noise; a stall
under a lock is seconds on most samples).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from feeds.bus import EVENTS, Bus
from feeds.redis_server import RedisProcess, free_port, start_redis
from tests.live import CITY, Dashboard, dashboard
from tests.screens import (
    Deaf,
    Publisher,
    Segment,
    Stalled,
    Wall,
    bridge_state,
    first_steps,
    health,
    in_scope,
    kiosk_cookie,
    open_screens,
    percentile,
    rss_mb,
    wait_until_complete,
)

pytestmark = [pytest.mark.browser, pytest.mark.fault]

COUNTIES = ["330212", "330281"]  # 鄞州, 余姚: many of the factories' grids
SCOPES = [CITY] * 7 + [COUNTIES[0]] * 6 + [COUNTIES[1]] * 6  # + the browser wall: 20 screens
HEALTH_DOWN_WITHIN_S = 10.0  # the issue: a stalled bridge shows within 10 s
P99_TARGET_S = 1.0  # the target, publish → receipt
P99_ASSERTED_S = 2.0  # asserted with room for a loaded machine (see the module's docstring)


# -- what every test needs ------------------------------------------------------------------------
def _bus(url: str, prefix: str) -> Bus:
    """The producer's own connection: a stalled Redis surfaces as an error it retries."""
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return Bus(client, prefix=prefix)


@contextmanager
def _own_redis(directory: Path, **options: object) -> Iterator[RedisProcess]:
    server = start_redis(directory=directory, **options)
    try:
        yield server
    finally:
        _resume(server)
        server.stop()


def _resume(server: RedisProcess) -> None:
    if server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)


class Screens:
    """The browser wall and the python screens of one test, compared with the log together."""

    def __init__(self, page, server: Dashboard, scopes: list[str] = SCOPES) -> None:
        link = server.wall_link()
        self.wall = Wall(page, server.url, link) if page is not None else None
        self.cookie = kiosk_cookie(server.url, link)
        self.python = open_screens(server.url, self.cookie, scopes)

    def close(self) -> None:
        for screen in self.python:
            screen.close()

    def problems(self, bus: Bus, timeout: float = 60) -> list[str]:
        log = first_steps(bus)

        def records() -> dict[str, tuple[list[Segment], list[str]]]:
            found = {s.name: (s.record(), in_scope(log, s.scope)) for s in self.python}
            if self.wall is not None:
                found["browser wall"] = (self.wall.record(), in_scope(log, CITY))
            return found

        found = wait_until_complete(records, timeout)
        for name, (segments, expected) in records().items():  # shown with -s, or on failure
            applied = sum(len(segment.sids) for segment in segments)
            print(f"{name}: {applied} applied, {len(segments)} snapshot(s), {len(expected)} in log")
        if found and self.wall is not None and self.wall.loads:
            found.append(f"the browser wall reloaded itself {self.wall.loads} time(s)")
        if found:
            found += [s.describe() for s in self.python[:3]]
            if self.wall is not None:
                found.append(self.wall.describe())
        return found

    def latencies(self, bus: Bus, sent: dict[tuple[str, int], float]) -> list[float]:
        """Publish → applied, in seconds, for every step a live screen applied."""
        log = {s.sid: (s.id, s.seq) for s in first_steps(bus)}
        found = []
        for screen in self.python:
            for sid, at in list(screen.applied_at.items()):
                key = log.get(sid)
                if key in sent:
                    found.append(at - sent[key])
        return found


@pytest.fixture
def closing() -> Iterator[list[Screens | Publisher]]:
    """Screens and publishers to stop at the end, whatever happened."""
    opened: list[Screens | Publisher] = []
    yield opened
    for thing in reversed(opened):
        thing.close()


def _wait_health(
    server_url: str, want: Callable[[object], bool], timeout: float
) -> tuple[bool, list[str]]:
    """Poll /healthz until ``want(answer)`` or ``timeout``: (got it, the bridge states seen)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        answer = health(server_url, timeout=2)
        state = bridge_state(answer)
        if not seen or seen[-1] != state:
            seen.append(state)
        if want(answer):
            return True, seen
        if time.monotonic() > deadline:
            return False, seen
        time.sleep(0.5)


def _bridge_ok(answer: object) -> bool:
    return bridge_state(answer) == "ok"


def _bridge_not_ok(answer: object) -> bool:
    return isinstance(answer, dict) and bridge_state(answer) not in ("ok", "no bridge in /healthz")


def _wall_says_feed_down(page, within_s: float) -> list[str]:
    """The browser wall, its socket still up, shows the red banner for a feed that is down."""
    try:
        page.wait_for_function(
            "() => document.getElementById('wall-root').dataset.health === 'down'",
            timeout=within_s * 1000,
        )
    except Exception as exc:  # Playwright's timeout: reported with the other failures
        return [f"the wall did not turn red within {within_s:.0f}s of the stall: {exc}"[:300]]
    text = page.locator(".wall-outage").inner_text()
    return [] if "数据源中断" in text else [f"the wall's banner says {text!r}, not 数据源中断"]


# -- Redis stalls ---------------------------------------------------------------------------------
@pytest.mark.parametrize("stall_s", [8, 30])
def test_redis_stall_loses_and_repeats_nothing_on_any_screen(
    page, prefix, tmp_path, geo, closing, stall_s
):
    """Redis stopped (SIGSTOP) for ``stall_s`` while steps are published: afterwards every
    screen has every step once. A 30 s stall shows as the bridge not ok on /healthz within
    10 s; after SIGCONT it says ok again."""
    failures: list[str] = []
    with _own_redis(tmp_path / "redis") as own:
        bus = _bus(own.url, prefix)
        publisher = Publisher(bus, geo, f"stall{stall_s}")
        closing.append(publisher)
        publisher.warm_up()
        with dashboard(own.url, prefix, tmp_path) as server:
            screens = Screens(page, server)
            closing.append(screens)
            publisher.start()
            time.sleep(2)
            os.kill(own.process.pid, signal.SIGSTOP)
            stopped = time.monotonic()
            try:
                if stall_s > HEALTH_DOWN_WITHIN_S:
                    down, seen = _wait_health(server.url, _bridge_not_ok, HEALTH_DOWN_WITHIN_S)
                    if not down:
                        failures.append(
                            f"/healthz did not report the bridge down within "
                            f"{HEALTH_DOWN_WITHIN_S:.0f}s of a Redis stall; saw {seen}"
                        )
                    failures += _wall_says_feed_down(page, HEALTH_DOWN_WITHIN_S)
                time.sleep(max(0.0, stall_s - (time.monotonic() - stopped)))
            finally:
                _resume(own)
            ok, seen = _wait_health(server.url, _bridge_ok, 30)
            if not ok:
                failures.append(f"/healthz: the bridge not ok 30s after SIGCONT; saw {seen}")
            time.sleep(3)  # steps after the stall, too
            publisher.stop()
            failures += screens.problems(bus)
    assert publisher.failures, "the stall never reached the publisher"
    assert not failures, "\n".join(failures)


# -- Redis restarted ----------------------------------------------------------------------------
def test_redis_restart_with_aof_loses_and_repeats_nothing_on_any_screen(
    page, prefix, tmp_path, geo, closing
):
    """Redis with its AOF stopped (SIGTERM) and started again on the same port and directory
    while steps arrive: the log survives, the bridge resumes, every screen has every step once."""
    failures: list[str] = []
    port, directory = free_port(), tmp_path / "redis"
    first = start_redis(port=port, directory=directory, persist=True)
    second: RedisProcess | None = None
    try:
        bus = _bus(first.url, prefix)
        publisher = Publisher(bus, geo, "restart")
        closing.append(publisher)
        publisher.warm_up()
        with dashboard(first.url, prefix, tmp_path) as server:
            screens = Screens(page, server)
            closing.append(screens)
            publisher.start()
            time.sleep(2)
            before = bus.client.xlen(bus.keys[EVENTS])
            first.stop()  # SIGTERM: Redis writes its AOF out before it exits
            time.sleep(3)  # steps go on arriving at a closed port
            second = start_redis(port=port, directory=directory, persist=True)
            after = bus.client.xlen(bus.keys[EVENTS])
            if after < before:
                failures.append(f"the AOF lost the log: {before} entries before, {after} after")
            ok, seen = _wait_health(server.url, _bridge_ok, 30)
            if not ok:
                failures.append(f"/healthz: the bridge not ok 30s after the restart; saw {seen}")
            time.sleep(3)
            publisher.stop()
            failures += screens.problems(bus)
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert publisher.failures, "the restart never reached the publisher"
    assert not failures, "\n".join(failures)


# -- the server killed ----------------------------------------------------------------------------
@pytest.mark.parametrize("outage_s", [5, 20])
def test_server_killed_and_restarted_loses_and_repeats_nothing_on_any_screen(
    page, prefix, tmp_path, geo, closing, outage_s
):
    """SIGKILL, down ``outage_s`` while steps go on arriving, the same port again: every
    screen reconnects and ends with every step once. (Before the fix the browser wall lost
    every step it missed: live steps overtook the hello's catch-up reply, so the page dropped
    the catch-up as already applied; the issue saw it with a 20 s outage.)"""
    with _own_redis(tmp_path / "redis") as own:
        bus = _bus(own.url, prefix)
        publisher = Publisher(bus, geo, f"kill{outage_s}")
        closing.append(publisher)
        publisher.warm_up()
        (tmp_path / "first").mkdir()
        (tmp_path / "second").mkdir()
        with dashboard(own.url, prefix, tmp_path / "first") as first:
            port = int(first.url.rsplit(":", 1)[1])
            screens = Screens(page, first)
            closing.append(screens)
            publisher.start()
            time.sleep(2)
            first.process.kill()
            first.process.wait()
        time.sleep(outage_s)
        with dashboard(own.url, prefix, tmp_path / "second", port=port) as second:
            restarted = len(publisher.sent)
            time.sleep(5)  # steps after the restart: the ones the 20 s outage lost
            publisher.stop()
            failures = screens.problems(bus)
            failures += [f"{s.name} never reconnected" for s in screens.python if s.connects < 2]
            if failures:
                failures.append(
                    f"{len(publisher.sent) - restarted} steps were published after the restart"
                )
                failures.append(second.log()[-1500:])
    assert not failures, "\n".join(failures)


# -- sockets that stop answering -----------------------------------------------------------------
HOLD_S = 120.0
RSS_GROWTH_MB = 100.0


def test_sockets_that_never_answer_pings_or_never_read_do_not_stall_the_others(
    page, prefix, tmp_path, geo, closing
):
    """A socket that reads but never answers pings, one that never reads (stopped with SIGSTOP),
    both for two minutes: every step still reaches every live screen in time, the server does
    not grow, and /healthz's ``last`` keeps moving. The current code froze after ~45 s: the
    ping-timeout close ran the disconnect handler inside an emit, under the same lock."""
    failures: list[str] = []
    with _own_redis(tmp_path / "redis") as own:
        bus = _bus(own.url, prefix)
        publisher = Publisher(bus, geo, "deaf", per_tick=4)
        closing.append(publisher)
        publisher.warm_up()
        with dashboard(own.url, prefix, tmp_path) as server:
            screens = Screens(page, server, SCOPES[:-2])  # 18 live screens with the wall
            closing.append(screens)
            deaf = Deaf(server.url, screens.cookie, CITY).start()
            stalled = Stalled(server.url, screens.cookie, CITY, tmp_path / "stalled.log")
            try:
                stalled.stop_after_hello()
                rss_before = peak = rss_mb(server.process.pid)
                publisher.start()
                started = last_move = time.monotonic()
                last_seen = ""
                while time.monotonic() - started < HOLD_S:
                    time.sleep(5)
                    answer = health(server.url)
                    now_last = answer["last"]["events"] if isinstance(answer, dict) else ""
                    if now_last and now_last != last_seen:
                        last_seen, last_move = now_last, time.monotonic()
                    peak = max(peak, rss_mb(server.process.pid))
                    if time.monotonic() - last_move > 20:
                        failures.append(
                            f"/healthz's last stopped at {last_seen} "
                            f"{last_move - started:.0f}s into the hold (answer: {answer!r:.200})"
                        )
                        break
                publisher.stop()
                failures += screens.problems(bus, timeout=60 if not failures else 15)
                latencies = screens.latencies(bus, publisher.sent)
                p99 = percentile(latencies, 99)
                print(
                    f"publish → screen p50 {percentile(latencies, 50):.3f}s p99 {p99:.3f}s "
                    f"over {len(latencies)}; RSS {rss_before:.0f} → peak {peak:.0f} MB; deaf "
                    f"socket closed by the server {deaf.closed_by_server}x"
                )
                if p99 > P99_ASSERTED_S:
                    failures.append(
                        f"publish → screen p99 {p99:.2f}s (target {P99_TARGET_S}s, "
                        f"asserted {P99_ASSERTED_S}s)"
                    )
                if peak - rss_before > RSS_GROWTH_MB:
                    failures.append(
                        f"the server grew {peak - rss_before:.0f} MB ({rss_before:.0f} → "
                        f"{peak:.0f} MB)"
                    )
                if not deaf.hellos:
                    failures.append(f"the deaf socket never got its hello answered: {deaf.errors}")
            finally:
                deaf.close()
                stalled.kill()
    assert not failures, "\n".join(failures)
