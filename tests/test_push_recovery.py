"""Nothing lost, nothing doubled: a real browser on /wall through drops, kills and restarts.

Each test publishes a burst of event steps (with repeats, which the log keeps and the state
drops) while something breaks: the browser's socket, the server's Redis connections, or the
server process itself. Afterwards the list of steps the page applied must equal, in order, the
steps the log says a page should have applied: every first occurrence of an (id, seq) pair after
the page's initial snapshot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from feeds.bus import EVENTS, Bus
from feeds.schema import decode_trusted
from tests.factories import event_dict, line
from tests.live import dashboard, sign_in_wall

pytestmark = [pytest.mark.browser, pytest.mark.parallel]

TYPES = ["reported", "dispatched", "accepted", "handled", "feedback", "closed"]


def _burst(bus: Bus, geo, tag: str, incidents: int = 150, pause: float = 0.02) -> None:
    """Steps of ``incidents`` incidents interleaved, every tenth batch sent twice."""
    for seq, kind in enumerate(TYPES, start=1):
        for start in range(0, incidents, 25):
            batch = [
                decode_trusted(line(event_dict(geo, i, id=f"{tag}-{i}", seq=seq, type=kind)))
                for i in range(start, start + 25)
            ]
            _publish(bus, batch)
            if start % 250 == 0:
                _publish(bus, batch[:5])  # producers do repeat themselves
            time.sleep(pause)


def _publish(bus: Bus, batch) -> None:
    for _attempt in range(50):
        try:
            bus.publish_many(batch)
            return
        except Exception:  # a killed connection: the producer retries, as real ones do
            time.sleep(0.05)
    raise RuntimeError("could not publish")


def _expected(bus: Bus, after: str) -> list[str]:
    seen: set[tuple[str, int]] = set()
    expected = []
    for entry in bus.replay(EVENTS):
        key = (entry.message.id, entry.message.seq)
        if key in seen:
            continue
        seen.add(key)
        if _later(entry.sid, after):
            expected.append(entry.sid)
    return expected


def _later(a: str, b: str) -> bool:
    def key(s: str) -> tuple[int, int]:
        return tuple(int(x) for x in s.split("-"))

    return key(a) > key(b)


def _open(page, server) -> str:
    sign_in_wall(page, server)
    page.goto(f"{server.url}/wall?record=1")
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)
    return page.evaluate("window.onemap.stats.lastSid") or "0-0"


def _run_burst_while(bus, geo, tag: str, trouble: Callable[[], None]) -> None:
    burst = threading.Thread(target=_burst, args=(bus, geo, tag))
    burst.start()
    time.sleep(0.5)
    trouble()
    burst.join(60)
    assert not burst.is_alive()


def _assert_page_matches_log(page, bus: Bus, after: str) -> None:
    expected = _expected(bus, after)
    deadline = time.monotonic() + 30
    applied: list[str] = []
    while time.monotonic() < deadline:
        applied = page.evaluate("window.onemap.applied")
        if len(applied) >= len(expected):
            break
        time.sleep(0.2)
    time.sleep(0.5)  # anything extra (a duplicate) would arrive now
    applied = page.evaluate("window.onemap.applied")
    assert len(applied) == len(set(applied)), "the page applied a step twice"
    missing = sorted(set(expected) - set(applied))
    assert not missing, f"{len(missing)} steps never reached the page"
    assert applied == expected


@pytest.fixture
def live(redis_server, redis_client, prefix, tmp_path):
    with dashboard(redis_server.url, prefix, tmp_path) as server:
        yield server, Bus(redis_client, prefix=prefix)


def test_browser_socket_drop_during_burst_loses_and_repeats_nothing(page, live, geo):
    server, bus = live
    after = _open(page, server)

    def drop_socket() -> None:
        page.evaluate("window.onemap.wall.socket.disconnect()")
        time.sleep(1.5)
        page.evaluate("window.onemap.wall.socket.connect()")

    _run_burst_while(bus, geo, "drop", drop_socket)
    _assert_page_matches_log(page, bus, after)
    assert page.evaluate("window.onemap.stats.connects") == 2
    assert page.evaluate("window.onemap.stats.caughtUp") > 0, "the drop missed nothing to test"


def test_killed_server_redis_connections_during_burst_lose_nothing(
    page, live, geo, redis_client
):
    server, bus = live
    after = _open(page, server)

    def kill_dashboard_connections() -> None:
        for _ in range(3):
            for client in redis_client.client_list():
                if client.get("name") == "onemap-dashboard":
                    redis_client.client_kill_filter(_id=client["id"])
            time.sleep(0.4)

    _run_burst_while(bus, geo, "kill", kill_dashboard_connections)
    _assert_page_matches_log(page, bus, after)
    assert "live bridge: redis unavailable" in server.log()


def test_server_restart_during_burst_loses_and_repeats_nothing(
    page, redis_server, redis_client, prefix, tmp_path, geo
):
    bus = Bus(redis_client, prefix=prefix)
    with dashboard(redis_server.url, prefix, tmp_path) as first:
        port = int(first.url.rsplit(":", 1)[1])
        after = _open(page, first)
        burst = threading.Thread(target=_burst, args=(bus, geo, "restart"))
        burst.start()
        time.sleep(0.7)
    # The first server is gone; the burst goes on; a new process takes the same port.
    with dashboard(redis_server.url, prefix, tmp_path, port=port):
        burst.join(60)
        _assert_page_matches_log(page, bus, after)
        assert page.evaluate("window.onemap.stats.connects") >= 2
        assert page.evaluate("window.onemap.stats.caughtUp") > 0
