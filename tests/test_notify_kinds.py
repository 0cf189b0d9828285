"""The notification kinds told from the log's own steps, end to end: escalation to a level
(``level``), an area turning red on the governance index (``red``) and an early warning
(``warning``). Each: a real feed through the Bus and Redis, a real notifier (`onemap notify
run`), real local receivers; one message for the subscription in scope, none for the one out
of it, none again when the notifier reads the same log a second time (de-duplicated by cause).

No clock is asserted: the tests wait until the notifier has read to the end of the stream and
every job it queued is handled (``_read_through``), then count what the receivers got.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from dashboard.analytics import AnalyticsConfig
from dashboard.analytics.watch import WatchConfig
from dashboard.cold.keeper import midnight
from dashboard.notify.store import GROUP, NotifyStore
from dashboard.state import State
from feeds.bus import EVENTS, WARNINGS, Bus
from feeds.schema import CHINA_TZ, WarningMessage
from tests.factories import a_grid
from tests.live import dashboard
from tests.test_metrics import ROUTINE, fold, life
from tests.test_notify import (
    MASKED_TITLE,
    NAME,
    PHONE,
    _wait_for,
    notifier,
    publish_event,
    receiver,
    subscribe,
)

# Its own notifier, receivers and key prefix, no promise about time: beside the fault tests.
pytestmark = pytest.mark.parallel

HAISHU, NANMEN, CIXI = "330203", "330203001", "330282"
_5_MIN = timedelta(minutes=5)


def _settled(store: NotifyStore) -> bool:
    """Nothing queued, taken or waiting for a retry: every job is handled."""
    client, outbox = store.client, store.key("outbox")
    pending = client.xpending(outbox, GROUP)["pending"]
    return client.xlen(outbox) == 0 and pending == 0 and client.zcard(store.key("later")) == 0


def _read_through(bus: Bus, store: NotifyStore, stream: str, timeout: float = 60) -> None:
    """Until the notifier's cursor is at ``stream``'s last entry (it saves it after queueing
    what it read) and every job it queued is handled."""
    last = bus.client.xrevrange(bus.keys[stream], count=1)[0][0].decode()
    _wait_for(lambda: store.cursor().get(stream) == last and _settled(store), timeout)


def _second_pass(url: str, bus: Bus, store: NotifyStore, stream: str, tmp: Path) -> None:
    """A notifier that crashed before its cursor moved: restarted, it reads ``stream`` again
    from the start."""
    bus.client.hset(store.key("cursor"), stream, "0-0")
    with notifier(url, bus.prefix, tmp, "again"):
        _read_through(bus, store, stream)


def test_escalation_to_level_three_is_told_once_in_scope(redis_server, bus, geo, tmp_path):
    url, store = redis_server.url, NotifyStore(bus)
    with receiver() as inside, receiver() as outside:
        index = _index_in(geo, HAISHU)
        subscribe(store, "haishu", inside.url, scope=HAISHU, kinds=("level",), min_level=3)
        subscribe(store, "cixi", outside.url, scope=CIXI, kinds=("level",), min_level=3)
        with notifier(url, bus.prefix, tmp_path):
            steps = [("reported", 1), ("escalated", 2), ("escalated", 3), ("escalated", 4)]
            for seq, (kind, level) in enumerate(steps, start=1):
                publish_event(
                    bus, geo, index, id="LV-1", seq=seq, type=kind, level=level, title=MASKED_TITLE
                )
            # a hotline case sent straight to the street office: it reached level 3 when reported
            publish_event(bus, geo, index, id="LV-2", seq=1, type="reported", level=3)
            # first seen at its third step (the log trimmed before it): it did not reach 3 now
            publish_event(bus, geo, index, id="LV-3", seq=3, type="accepted", level=3)
            # out of order: its escalation to 3 arrives before its report
            publish_event(bus, geo, index, id="LV-4", seq=2, type="escalated", level=3)
            publish_event(bus, geo, index, id="LV-4", seq=1, type="reported", level=1)
            inside.wait(3)
            _read_through(bus, store, EVENTS)
        assert len(inside.got) == 3 and outside.got == []
        got = {g.json()["incident"]: g for g in inside.got}
        assert sorted(got) == ["LV-1", "LV-2", "LV-4"]
        told = got["LV-1"].json()
        assert (told["kind"], told["kindName"]) == ("level", "升级")
        assert told["level"] == 3  # the step that reached min_level, not the one past it
        assert got["LV-2"].json()["level"] == 3
        text = got["LV-1"].body.decode()
        assert PHONE not in text and NAME not in text and "138****5678" in text
        _second_pass(url, bus, store, EVENTS, tmp_path)
        assert len(inside.got) == 3 and outside.got == []


def _index_in(geo, county: str) -> int:
    """A ``tests.factories`` index whose grid is in ``county``."""
    return next(i for i in range(5000) if a_grid(geo, i).startswith(county))


def _turning_red(geo, tick: datetime) -> list[WarningMessage]:
    """The real index watch (its hold cut from 15 to 5 minutes) over real steps: every town of
    the city closing one incident in time today, then six overdue incidents in 南门街道, seen
    on the clock from ``tick`` on. Returns the index drops it raises (南门街道 turning red,
    and its county, 海曙区)."""
    watch = WatchConfig(every_s=60, hold_s=300)
    state = State(geo, analytics=AnalyticsConfig(watch=watch))
    start = tick - timedelta(minutes=65)
    for n, town in enumerate(sorted(geo.towns)):
        grid = min(g for g in geo.grids if g.startswith(town))
        fold(
            geo,
            *life(geo, f"ok{n}", ROUTINE, grid=grid, start=start, deadline=tick - _5_MIN),
            *life(geo, f"op{n}", ROUTINE[:1], grid=grid, start=start),
            state=state,
        )
    found = state.metrics.tick(tick)
    grid = min(g for g in geo.grids if g.startswith(NANMEN))
    for n in range(6):
        late = life(
            geo,
            f"late{n}",
            ROUTINE[:1],
            grid=grid,
            category="zz04",
            start=tick - timedelta(minutes=70),
            deadline=tick - timedelta(minutes=60),
        )
        fold(geo, *late, state=state)
    for minutes in (1, 4, 6):
        found += state.metrics.tick(tick + timedelta(minutes=minutes))
    return [w for w in found if w.type == "index_drop"]


def test_an_area_turning_red_is_told_once_in_scope(redis_server, bus, geo, tmp_path):
    url, store = redis_server.url, NotifyStore(bus)
    # Every step on one local day (what falls due is counted by day): just after midnight
    # the story is set an hour or so ahead, which the notifier still tells (it skips only
    # warnings more than an hour old).
    now = datetime.now(CHINA_TZ)
    tick = max(now - 2 * _5_MIN, midnight(now) + timedelta(minutes=75))
    drops = _turning_red(geo, tick)
    assert sorted(w.area for w in drops) == [HAISHU, NANMEN]
    with receiver() as inside, receiver() as outside:
        subscribe(store, "nanmen", inside.url, scope=NANMEN, kinds=("red",))
        subscribe(store, "cixi", outside.url, scope=CIXI, kinds=("red",))
        with notifier(url, bus.prefix, tmp_path):
            bus.publish_warnings(drops)  # as the server's bridge publishes what it found
            inside.wait(1)
            _read_through(bus, store, WARNINGS)
        assert len(inside.got) == 1 and outside.got == []  # not the county's drop: outside
        told = inside.got[0].json()
        assert (told["kind"], told["kindName"], told["area"]) == ("red", "转红", NANMEN)
        assert "转红" in told["title"] and told["severity"] == "major"
        _second_pass(url, bus, store, WARNINGS, tmp_path)
        assert len(inside.got) == 1 and outside.got == []


def test_an_early_warning_from_the_servers_detectors_is_told_once_in_scope(
    redis_server, bus, geo, tmp_path
):
    """Three reports of one thing at one place through three channels: the real server's
    cluster detector raises an early warning; the notifier tells it."""
    url, store = redis_server.url, NotifyStore(bus)
    index = _index_in(geo, HAISHU)
    with (
        receiver() as inside,
        receiver() as outside,
        receiver() as red_only,
        dashboard(url, bus.prefix, tmp_path),
    ):
        subscribe(store, "haishu", inside.url, scope=HAISHU, kinds=("warning",))
        subscribe(store, "cixi", outside.url, scope=CIXI, kinds=("warning",))
        subscribe(store, "red", red_only.url, scope=HAISHU, kinds=("red",))
        with notifier(url, bus.prefix, tmp_path):
            for n, source in enumerate(("hotline_12345", "wechat", "grid_worker")):
                publish_event(bus, geo, index, id=f"CL-{n}", source=source, category="zf06")
            inside.wait(1, timeout=60)
            _read_through(bus, store, WARNINGS)
        assert len(inside.got) == 1 and outside.got == [] and red_only.got == []
        told = inside.got[0].json()
        assert (told["kind"], told["kindName"]) == ("warning", "预警")
        assert told["source"].startswith("warning:cluster-") and "3个渠道" in told["title"]
        _second_pass(url, bus, store, WARNINGS, tmp_path)
        assert len(inside.got) == 1 and outside.got == [] and red_only.got == []
