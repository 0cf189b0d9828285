"""The bounded working set (issue 16) end to end, as a user runs it: six days of history in a
real Redis log, the real `onemap serve` with its history job every 2 s, people signed in
through the login form asking over a real socket and over HTTP.

The server archives the complete days, lets closed incidents of the old days leave memory, and
the desk still counts, finds and opens every one of them, masked for roles that may not read
names and numbers, never outside the asker's county; a new step brings one back whole; and a
log trimmed to three days (the least allowed) loses nothing the desk can see.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
import socketio

from dashboard.cold.keeper import midnight
from feeds.bus import EVENTS, Bus
from feeds.schema import CHINA_TZ, EventMessage, decode_trusted
from feeds.sim import Model, SimConfig
from tests.factories import event_dict, line
from tests.live import CITY, Dashboard, dashboard, fetch, sign_in
from tests.test_working_set import HOT_DAYS, logged_at_their_time

# Its own servers and Redis, no promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

YINZHOU, YUYAO = "330212", "330281"
STONE = "H-stone-000001"  # a hand-made incident of five days ago, in Yinzhou, with PII
WORD = "石狮子"  # in its title only
PHONE = "13812345678"
EVERY_S = "2"  # the history job's period


@dataclass(frozen=True)
class History:
    messages: list[EventMessage]
    now: datetime

    @property
    def ids(self) -> set[str]:
        return {m.id for m in self.messages}

    def steps(self, incident_id: str) -> list[EventMessage]:
        return sorted((m for m in self.messages if m.id == incident_id), key=lambda m: m.seq)

    def evicted(self) -> set[str]:
        """What the server must let go: closed before the local midnight HOT_DAYS - 1 days
        ago (every step of theirs arrived before it, so is archived)."""
        before = midnight(self.now, HOT_DAYS - 1)
        last: dict[str, EventMessage] = {}
        for m in self.messages:
            if m.id not in last or m.seq > last[m.id].seq:
                last[m.id] = m
        return {i for i, m in last.items() if m.type == "closed" and m.ts < before}


@pytest.fixture(scope="module")
def history(geo) -> History:
    """Six simulated days (as tests.test_working_set's ``six_days``) and the stone incident."""
    now = datetime.now(CHINA_TZ)
    model = Model(geo, SimConfig(seed=16, events_per_day=300, workers=200), midnight(now, 6),
                  positions=False)  # fmt: skip
    steps = [m for m in model.messages(until=now) if isinstance(m, EventMessage)]
    return History([*steps, *_stone(geo, now)], now)


def _stone(geo, now: datetime) -> list[EventMessage]:
    """Reported, dispatched and closed five days ago: evicted, and its title's word is its own."""
    index = next(i for i in range(5000) if event_dict(geo, i)["area"]["county"] == YINZHOU)
    at = midnight(now, 5) + timedelta(hours=9)
    report = event_dict(
        geo, index, id=STONE, ts=at.isoformat(), deadline=(at + timedelta(days=1)).isoformat(),
        title=f"{WORD}倾倒 居民陈小明反映 电话{PHONE}", detail=f"居民陈小明反映，电话{PHONE}",
    )  # fmt: skip
    kinds = [(1, "reported", 0), (2, "dispatched", 1), (3, "closed", 6)]
    return [
        decode_trusted(line({**report, "seq": seq, "type": kind,
                             "ts": (at + timedelta(hours=h)).isoformat()}))
        for seq, kind, h in kinds
    ]  # fmt: skip


class Desk:
    """One signed-in person: the socket the duty page opens, and the session cookie."""

    def __init__(self, server: Dashboard, name: str, role: str, scope: str) -> None:
        server.add_user(name, role, scope, cli=False)
        self.server = server
        self.cookie = sign_in(server, name)
        self.client = socketio.Client(reconnection=False)
        self.client.connect(server.url, headers={"Cookie": self.cookie}, transports=["websocket"])

    def rows(self, **ask: str) -> dict:
        asked = {"filter": ask, "start": 0, "end": 100}
        reply = self.client.call("duty_rows", asked, timeout=30)
        assert reply["ok"], reply
        return reply

    def incident(self, incident_id: str) -> dict | None:
        reply = self.client.call("incident", {"id": incident_id}, timeout=30)
        return reply["incident"] if reply["ok"] else None

    def http(self, incident_id: str) -> tuple[int, dict]:
        got = fetch(f"{self.server.url}/api/incident/{incident_id}", cookie=self.cookie)
        return got.status, json.loads(got.body)

    def close(self) -> None:
        self.client.disconnect()


def _until(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise TimeoutError(f"not within {timeout}s: {what}")  # not an assertion: no xfail takes it


def _settled(server: Dashboard) -> dict:
    """/healthz once the history job has archived and let memory go."""
    return _until(
        lambda: (
            (h := server.health())["history"]["evicted"] > 0
            and h["history"]["watermark"] != "0-0"
            and h
        ),
        "the history job archived and evicted",
    )


def _prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def served(redis_server, history: History, tmp_path_factory) -> Iterator[tuple[Dashboard, Bus]]:
    """The six days logged at their own times, then the server started on them."""
    client = redis_server.client()
    bus = Bus(client, prefix=_prefix())
    logged_at_their_time(bus, history.messages)
    tmp = tmp_path_factory.mktemp("history-server")
    env = {"ONEMAP_ARCHIVE_EVERY_S": EVERY_S}
    try:
        with dashboard(redis_server.url, bus.prefix, tmp, **env) as server:
            _settled(server)
            yield server, bus
    finally:
        client.close()


@pytest.fixture(scope="module")
def desks(served) -> Iterator[dict[str, Desk]]:
    server, _bus = served
    people = {
        "duty": Desk(server, "duty-city", "duty", CITY),
        "leader": Desk(server, "leader-city", "leader", CITY),
        "yinzhou": Desk(server, "duty-yz", "duty", YINZHOU),
        "yuyao": Desk(server, "duty-yy", "duty", YUYAO),
    }
    try:
        yield people
    finally:
        _close(people.values())


def _close(desks: Iterable[Desk]) -> None:
    """Side by side: each socket's close waits ~3 s for the development server's answer."""
    closing = [threading.Thread(target=d.close) for d in desks]
    for thread in closing:
        thread.start()
    for thread in closing:
        thread.join()


def _reopen(bus: Bus, steps: list[EventMessage]) -> EventMessage:
    """A ``reopened`` step for the incident of ``steps``, published now."""
    reopened = msgspec.structs.replace(
        steps[0], seq=steps[-1].seq + 1, type="reopened", ts=datetime.now(UTC), level=1
    )
    bus.publish(reopened)
    return reopened


def test_the_server_archives_the_old_days_and_lets_old_closed_incidents_go(served, history):
    server, _bus = served
    health = server.health()
    evicted = history.evicted()
    assert STONE in evicted and len(evicted) > 100
    assert health["history"]["errors"] == 0, health["history"]["last_error"]
    before_today = [m for m in history.messages if m.ts < midnight(history.now)]
    assert health["history"]["archived"] == len(before_today)  # every step of the whole days
    assert health["history"]["evicted"] == len(evicted)
    recalled = health["history"]["recalled"]  # 0, unless a reopening test ran first
    assert health["incidents"] == len(history.ids) - len(evicted) + recalled


def test_the_desk_counts_every_incident_in_memory_or_archived(served, desks, history):
    server, _bus = served
    everything = desks["duty"].rows()
    assert everything["total"] == len(history.ids)  # nothing lost
    recalled = server.health()["history"]["recalled"]  # back in memory: not the archive's
    assert everything["archived"] == len(history.evicted()) - recalled
    closed = desks["duty"].rows(status="closed")
    assert closed["archived"] == everything["archived"]


def test_a_search_finds_an_evicted_incident_by_a_word_of_its_title(desks):
    for who in ("duty", "leader", "yinzhou"):
        found = desks[who].rows(q=WORD)
        assert [r["id"] for r in found["rows"]] == [STONE], who
        assert found["total"] == found["archived"] == 1, who
    assert desks["yuyao"].rows(q=WORD)["total"] == 0  # another county's, archived or not
    # what a role may not read, it cannot search for in the archive either
    assert desks["duty"].rows(q=PHONE)["total"] == 1
    assert desks["leader"].rows(q=PHONE)["total"] == 0


def test_an_evicted_incident_opens_whole_from_the_archive(desks, history):
    duty = desks["duty"]
    by_socket = duty.incident(STONE)
    status, by_http = duty.http(STONE)
    assert status == 200
    for found in (by_socket, by_http):
        assert found["archived"] is True and found["status"] == "closed"
        assert [(s["seq"], s["type"]) for s in found["steps"]] == [
            (m.seq, m.type) for m in history.steps(STONE)
        ]
        assert found["title"].startswith(WORD) and PHONE in found["detail"]
        assert found["masked"] is False
    # a simulated one, with as many steps as the simulator gave it
    other = max(history.evicted() - {STONE}, key=lambda i: (len(history.steps(i)), i))
    found = duty.incident(other)
    assert found["archived"] is True
    assert [s["seq"] for s in found["steps"]] == [m.seq for m in history.steps(other)]


def test_a_role_that_may_not_read_names_gets_the_archived_incident_masked(desks):
    found = desks["leader"].incident(STONE)
    status, by_http = desks["leader"].http(STONE)
    assert status == 200
    for got in (found, by_http):
        assert got["archived"] is True and got["masked"] is True
        assert PHONE not in json.dumps(got, ensure_ascii=False)
        assert "陈小明" not in json.dumps(got, ensure_ascii=False)
        assert got["reporter"] is None
        assert "138****5678" in got["detail"]


def test_a_county_officer_does_not_get_another_countys_archived_incident(desks):
    assert desks["yinzhou"].incident(STONE)["archived"] is True  # its own county: granted
    assert desks["yuyao"].incident(STONE) is None
    status, body = desks["yuyao"].http(STONE)
    assert (status, body) == (404, {"error": "not found"})
    # the same answer as for an incident that never was: ids cannot be probed
    assert desks["yuyao"].http("no-such-incident") == (status, body)


def test_a_reopened_evicted_incident_comes_back_whole_and_open(served, desks, history):
    server, bus = served
    evicted = sorted(history.evicted() - {STONE})
    back = evicted[len(evicted) // 2]
    steps = history.steps(back)
    assert desks["duty"].incident(back)["archived"] is True
    open_before = desks["duty"].rows(status="open")["total"]
    reopened = _reopen(bus, steps)

    def reopened_whole() -> dict | None:
        found = desks["duty"].incident(back)
        return found if found["status"] == "open" else None

    found = _until(reopened_whole, f"{back} open again", timeout=10)
    assert "archived" not in found  # in memory again
    assert [(s["seq"], s["type"]) for s in found["steps"]] == [
        *((m.seq, m.type) for m in steps),
        (reopened.seq, "reopened"),
    ]
    health = server.health()
    assert health["history"]["recalled"] >= 1
    assert health["history"]["recall_failures"] == 0
    # counted once, and open: in memory now, left out of the archive's answer
    assert desks["duty"].rows()["total"] == len(history.ids)
    assert desks["duty"].rows(status="open")["total"] == open_before + 1


def test_the_checkpoint_at_stop_is_written_after_an_incident_came_back_from_the_archive(
    redis_server, bus: Bus, prefix, tmp_path, history
):
    logged_at_their_time(bus, history.messages)  # an archive of many files: DuckDB's threads
    with dashboard(redis_server.url, prefix, tmp_path, ONEMAP_ARCHIVE_EVERY_S=EVERY_S) as server:
        _settled(server)
        _reopen(bus, history.steps(STONE))
        _until(lambda: server.health()["history"]["recalled"] == 1, "recalled", timeout=10)
    stopping = server.log()[server.log().index("stopping:") :]
    last = [line for line in stopping.splitlines() if "dashboard.live.checkpoint" in line][-1]
    assert "checkpoint written by a forked writer" in last, last  # not "writer failed"


LOG_DAYS = 3  # the least allowed (ONEMAP_HOT_DAYS): half the six days are trimmed
TRIMMED = {
    "ONEMAP_ARCHIVE_EVERY_S": EVERY_S,
    "ONEMAP_LOG_DAYS": str(LOG_DAYS),
    "ONEMAP_CHECKPOINT_EVERY_S": "0",  # a process that starts later folds the log
}


@dataclass(frozen=True)
class Trimmed:
    server: Dashboard
    bus: Bus
    logged: list[str]  # stream ids
    trimmed: datetime  # by then
    health: dict  # once the log was trimmed
    tmp: Path  # its data dir's parent


@pytest.fixture(scope="module")
def trimmed(redis_server, history: History, tmp_path_factory) -> Iterator[Trimmed]:
    """The six days, and a server that keeps three days of log and writes no checkpoint."""
    client = redis_server.client()
    bus = Bus(client, prefix=_prefix())
    logged = logged_at_their_time(bus, history.messages)
    tmp = tmp_path_factory.mktemp("trimmed-server")
    try:
        with dashboard(redis_server.url, bus.prefix, tmp, **TRIMMED) as server:
            _settled(server)
            health = _until(
                lambda: (h := server.health())["history"]["trimmed"] > 0 and h, "the log trimmed"
            )
            yield Trimmed(server, bus, logged, datetime.now(UTC), health, tmp)
    finally:
        client.close()


def test_a_log_trimmed_to_three_days_keeps_them_and_the_archive_the_rest(trimmed: Trimmed):
    bus, logged, health = trimmed.bus, trimmed.logged, trimmed.health
    kept = bus.client.xlen(bus.keys[EVENTS])
    assert kept == len(logged) - health["history"]["trimmed"] and kept < len(logged)
    first, watermark = bus.first_id(EVENTS), health["history"]["watermark"]
    days_ago = int((trimmed.trimmed - timedelta(days=LOG_DAYS)).timestamp() * 1000)
    dropped = [s for s in logged if _key(s) < _key(first)]
    assert dropped and all(_ms(s) < days_ago for s in dropped)  # the last days are kept
    assert all(_key(s) <= _key(watermark) for s in dropped)  # the archive holds the rest


def test_a_log_trimmed_to_three_days_loses_nothing_the_desk_sees(trimmed: Trimmed, history):
    duty = Desk(trimmed.server, "duty-city", "duty", CITY)
    try:
        assert duty.rows()["total"] == len(history.ids)
        assert duty.incident(STONE)["archived"] is True
    finally:
        _close([duty])


def test_a_server_started_on_a_log_trimmed_to_three_days_loses_nothing_the_desk_sees(
    redis_server, trimmed: Trimmed, history
):
    """A second process (or a restart with no checkpoint) folds the trimmed log."""
    with dashboard(redis_server.url, trimmed.bus.prefix, trimmed.tmp, **TRIMMED) as second:
        duty = Desk(second, "duty-second", "duty", CITY)
        try:
            assert duty.rows()["total"] == len(history.ids)
        finally:
            _close([duty])


def _ms(sid: str) -> int:
    return int(sid.split("-")[0])


def _key(sid: str) -> tuple[int, int]:
    ms, _, seq = sid.partition("-")
    return int(ms), int(seq or 0)
