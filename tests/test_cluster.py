"""Replicas behind the load balancer, as `onemap cluster` runs them (dashboard.ops.cluster: three
`onemap serve` behind HAProxy with deploy/haproxy/haproxy.cfg): a replica killed or restarted
under a steady feed, with 20 screens connected through the balancer, each compared with the log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import socketio

from dashboard.access.store import UserStore
from dashboard.ops.cluster import Cluster, start_cluster
from feeds.bus import Bus
from feeds.outage import connect
from feeds.redis_server import RedisProcess, start_redis
from tests.live import CITY, PASSWORD, fetch, sign_in
from tests.screens import (
    Publisher,
    Screen,
    first_steps,
    in_scope,
    kiosk_cookie,
    open_screens,
    wait_until_complete,
)

# Not among the fault tests that run side by side: "back within 5 s" and "no gap over 5 s"
# are promises about time, measured here with three replicas and 20 screens on two cores.

COUNTIES = ["330212", "330203"]
SCOPES = [CITY] * 8 + [COUNTIES[0]] * 6 + [COUNTIES[1]] * 6  # 20 screens
PER_TICK = 7  # a tick every 0.1 s opens 7 incidents and moves 14: 210 steps/s
BACK_WITHIN_S = 5.0
GAP_S = 5.0


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    server = start_redis(directory=tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cluster(own_redis: RedisProcess, tmp_path: Path) -> Iterator[Cluster]:
    env = {"ONEMAP_PREFIX": "cluster", "ONEMAP_COOKIE_SECURE": "0"}
    running = start_cluster(tmp_path / "cluster", redis_url=own_redis.url, env=env)
    try:
        yield running
    finally:
        running.stop()


def _wall_cookie(cluster: Cluster) -> str:
    store = UserStore(connect(cluster.redis_url, "test"), "cluster")
    _kiosk, token = store.add_kiosk(CITY, "集群大屏")
    return kiosk_cookie(cluster.url, f"/wall?kiosk={token}")


def _compare(screens: list[Screen], bus: Bus) -> list[str]:
    log = first_steps(bus)
    return wait_until_complete(
        lambda: {s.name: (s.record(), in_scope(log, s.scope)) for s in screens}, timeout=60
    )


def _longest_gap(screen: Screen, since: float, until: float) -> float:
    """The longest time ``screen`` applied nothing within [since, until] (steps arrive on
    every screen several times a second while the feed runs)."""
    times = sorted(t for t in list(screen.applied_at.values()) if since <= t <= until)
    marks = [since, *times, until]
    return max(b - a for a, b in zip(marks, marks[1:], strict=False))


def _spread(cluster: Cluster) -> dict[str, int]:
    found = {}
    for name, answer in cluster.health().items():
        found[name] = answer.get("screens", -1) if isinstance(answer, dict) else -1
    return found


def test_a_replica_killed_under_load_its_screens_are_back_within_5_s_and_miss_nothing(
    cluster: Cluster, geo
):
    bus = Bus(connect(cluster.redis_url, "test-producer"), prefix="cluster")
    publisher = Publisher(bus, geo, "lbkill", per_tick=PER_TICK)
    publisher.warm_up()
    screens = open_screens(cluster.url, _wall_cookie(cluster), SCOPES)
    try:
        publisher.start()
        time.sleep(3)
        spread = _spread(cluster)
        victim = max(cluster.replicas, key=lambda r: spread.get(r.name, 0))
        assert spread[victim.name] > 0, spread
        connects = {s.name: s.connects for s in screens}
        killed = time.time()
        victim.kill()
        moved = _wait_moved(screens, connects, killed, timeout=30)
        time.sleep(3)
        publisher.stop()
        failures = _compare(screens, bus)
    finally:
        publisher.close()
        for screen in screens:
            screen.close()
    late = {name: round(s, 2) for name, s in moved.items() if s > BACK_WITHIN_S}
    print(f"spread {spread}; back after (s): {sorted(round(s, 2) for s in moved.values())}")
    assert moved, f"no screen was on the killed replica: {spread}"
    assert len(moved) >= spread[victim.name] // 2, (moved, spread)
    assert not late, f"back later than {BACK_WITHIN_S} s: {late} (all: {moved})"
    assert not failures, "\n".join(failures)


def _wait_moved(
    screens: list[Screen], connects: dict[str, int], since: float, timeout: float
) -> dict[str, float]:
    """Screens that lost their connection, with how long after ``since`` each was live again
    (reconnected through the balancer, its hello answered)."""
    back: dict[str, float] = {}
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        for screen in screens:
            if screen.name not in back and screen.connects > connects[screen.name] and screen.live:
                back[screen.name] = time.time() - since
        if time.monotonic() - started > 1.0 and all(s.live for s in screens):
            break
        time.sleep(0.05)
    return back


def test_a_rolling_restart_leaves_no_screen_without_data_for_more_than_5_s(
    cluster: Cluster, geo
):
    """Every replica in turn stopped (SIGTERM: it drains, its screens reconnect through the
    balancer to the others) and started again, as a deploy does, while steps arrive."""
    bus = Bus(connect(cluster.redis_url, "test-producer"), prefix="cluster")
    publisher = Publisher(bus, geo, "rolling", per_tick=PER_TICK)
    publisher.warm_up()
    screens = open_screens(cluster.url, _wall_cookie(cluster), SCOPES)
    away: dict[str, float] = {}
    try:
        publisher.start()
        time.sleep(2)
        began = time.time()
        connects = sum(s.connects for s in screens)
        for replica in cluster.replicas:
            away[replica.name] = round(cluster.restart(replica), 1)
            time.sleep(1)
        ended = time.time()
        moved = sum(s.connects for s in screens) - connects
        publisher.stop()
        failures = _compare(screens, bus)
        gaps = {s.name: round(_longest_gap(s, began, ended), 2) for s in screens}
    finally:
        publisher.close()
        for screen in screens:
            screen.close()
    print(f"replicas away (s) {away}; longest gaps (s) {sorted(gaps.values())[-5:]}")
    assert moved >= len(screens) // 2, f"only {moved} reconnections: the restarts moved nobody"
    long = {name: gap for name, gap in gaps.items() if gap > GAP_S}
    assert not long, f"without data for more than {GAP_S} s: {long}; replicas away {away}"
    assert not failures, "\n".join(failures)


YINZHOU = "330212"
SAID_WITHIN_S = 10.0


def _until(check, what: str, timeout: float = SAID_WITHIN_S) -> float:
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < timeout, f"not within {timeout} s: {what}"
        time.sleep(0.05)
    return time.monotonic() - began


def _socket(url: str, cookie: str, hello: dict) -> tuple[socketio.Client, list[dict]]:
    client = socketio.Client(reconnection=False)
    commands: list[dict] = []
    client.on("command", commands.append)
    client.connect(url, headers={"Cookie": cookie}, transports=["websocket"])
    assert client.call("hello", hello, timeout=30)["ok"]
    return client, commands


def test_what_a_user_does_on_one_replica_takes_effect_on_every_replica(cluster: Cluster):
    """A follow and its release, a sign-out and a revoked wall link, each done through one
    replica, reach the screens held by the other two."""
    first, *others = cluster.replicas
    store = UserStore(connect(cluster.redis_url, "test"), "cluster")
    store.add_user("leader-x", "leader", CITY, PASSWORD)
    kiosk, token = store.add_kiosk(CITY, "跨副本大屏")
    walls = [
        _socket(r.url, kiosk_cookie(r.url, f"/wall?kiosk={token}"), {"scope": CITY, "home": CITY})
        for r in others
    ]
    cookie = sign_in(SimpleNamespace(url=first.url), "leader-x")
    leader, _ = _socket(first.url, cookie, {"scope": CITY})
    elsewhere, _ = _socket(others[0].url, cookie, {"scope": CITY})  # the same person's tablet
    try:
        follow = {"verb": "follow", "walls": [kiosk.id], "area": YINZHOU}
        assert leader.call("act", follow)["ok"]
        for _client, commands in walls:
            _until(lambda c=commands: any(x["verb"] == "follow" for x in c), "follow")
            assert [x["area"] for x in commands if x["verb"] == "follow"] == [YINZHOU]
        assert leader.call("act", {"verb": "release", "walls": [kiosk.id]})["ok"]
        for _client, commands in walls:
            _until(lambda c=commands: any(x["verb"] == "release" for x in c), "release")

        issued = fetch(f"{first.url}/api/csrf", cookie=cookie)
        csrf = json.loads(issued.body)["token"]
        out = fetch(f"{first.url}/logout", f"csrf_token={csrf}".encode(), issued.cookie)
        assert out.status == 302
        took = _until(lambda: not elsewhere.connected, "signed out on another replica")
        print(f"sign-out on {first.name} → socket on {others[0].name} closed in {took:.2f} s")

        store.revoke_kiosk(kiosk.id)
        for client, _ in walls:
            _until(lambda c=client: not c.connected, "wall link revoked")
    finally:
        for client in [leader, elsewhere, *(c for c, _ in walls)]:
            if client.connected:
                client.disconnect()
