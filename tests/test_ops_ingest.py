"""Intake never stops: `onemap ingest` rides out Redis stalls and restarts, and a poison message
is dead-lettered with its reason while the messages after it go through.

Real processes against a real redis-server: the stall and restart tests start their own (they
stop it), the others use the session's with a key prefix of their own.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from feeds.bus import Bus
from feeds.geo import Geography
from feeds.redis_server import start_redis
from tests.factories import event_dict, line, position_dict
from tests.live import ROOT, run_cli

# Its own servers and Redis, no promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

# A report whose title has bytes that are not UTF-8, inside a JSON string: the case that made
# msgspec raise UnicodeDecodeError, which nothing caught.
NOT_UTF8_TITLE = "路边垃圾堆放未清理".encode()


def _not_utf8(geo: Geography) -> bytes:
    raw = line(event_dict(geo, 1, id="BAD-1"))
    assert NOT_UTF8_TITLE in raw
    return raw.replace(NOT_UTF8_TITLE, b"\xff\xfe\xfd")


def _eventually(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


@contextmanager
def _ingest(redis_url: str, prefix: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`onemap ingest` as a subprocess; stopped with SIGTERM, which must end it with 0."""
    env = dict(os.environ, ONEMAP_REDIS_URL=redis_url, ONEMAP_PREFIX=prefix)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "onemap.cli", "ingest"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _accepted(bus: Bus) -> int:
    return bus.stats().get("accepted:event", 0)


def _stopped_cleanly(process: subprocess.Popen[bytes], log: Path) -> str:
    text = log.read_text(errors="replace")
    assert process.returncode == 0, text
    assert "Traceback" not in text, text
    return text


@pytest.mark.fault
def test_ingest_rides_out_an_8s_redis_stall_and_accepts_messages_after_it(tmp_path, geo):
    prefix, log = "stall", tmp_path / "ingest.log"
    with start_redis() as server, _ingest(server.url, prefix, log) as ingest:
        bus = Bus(server.client(), prefix=prefix)
        bus.client.xadd(bus.keys["inbox"], {"m": line(event_dict(geo, 1, id="BEFORE"))})
        _eventually(lambda: _accepted(bus) == 1, "the first message accepted")
        os.kill(server.process.pid, signal.SIGSTOP)  # this test's own redis-server, no other
        try:
            time.sleep(8)  # the stall itself
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        assert ingest.poll() is None, log.read_text()
        bus.client.xadd(bus.keys["inbox"], {"m": line(event_dict(geo, 2, id="AFTER"))})
        _eventually(lambda: _accepted(bus) == 2, "the message sent after the stall accepted")
        assert ingest.poll() is None
    _stopped_cleanly(ingest, log)


@pytest.mark.fault
def test_ingest_logs_one_line_per_redis_outage_and_resumes(tmp_path, geo):
    prefix, log = "restart", tmp_path / "ingest.log"
    server = start_redis(directory=tmp_path / "redis", persist=True)
    try:
        with _ingest(server.url, prefix, log) as ingest:
            bus = Bus(server.client(), prefix=prefix)
            bus.client.xadd(bus.keys["inbox"], {"m": line(event_dict(geo, 1, id="BEFORE"))})
            _eventually(lambda: _accepted(bus) == 1, "the first message accepted")
            server.stop()
            time.sleep(4)  # the outage: several of the ingester's retries fall into it
            assert ingest.poll() is None, log.read_text()
            server = start_redis(server.port, server.directory, persist=True)
            bus = Bus(server.client(), prefix=prefix)
            bus.client.xadd(bus.keys["inbox"], {"m": line(event_dict(geo, 2, id="AFTER"))})
            _eventually(lambda: _accepted(bus) == 2, "the message sent after the restart")
    finally:
        server.stop()
    text = _stopped_cleanly(ingest, log)
    assert text.count("redis unavailable") == 1, text
    assert text.count("redis back after") == 1, text


def test_invalid_utf8_in_the_inbox_is_dead_lettered_and_intake_goes_on(
    tmp_path, geo, redis_server, bus, prefix
):
    inbox, log = bus.keys["inbox"], tmp_path / "ingest.log"
    bus.client.xadd(inbox, {"m": _not_utf8(geo)})
    bus.client.xadd(inbox, {"m": line(event_dict(geo, 2, id="GOOD-2"))})
    with _ingest(redis_server.url, prefix, log) as ingest:
        _eventually(lambda: _accepted(bus) == 1, "the message after the bad one accepted")
        letters = _eventually(bus.dead_letters, "the bad message dead-lettered")
        assert [row["reason"] for row in letters] == ["bad_json"]
        assert "UTF-8" in letters[0]["detail"]
        assert [e.message.id for e in bus.replay()] == ["GOOD-2"]
        _eventually(lambda: bus.client.xlen(inbox) == 0, "both taken off the inbox")
        assert bus.client.xpending(inbox, "ingest")["pending"] == 0  # acknowledged: no replay
        time.sleep(1)  # a round of the loop after them: still running
        assert ingest.poll() is None, log.read_text()
    _stopped_cleanly(ingest, log)


def test_publish_rejects_a_line_that_is_not_utf8_and_publishes_the_rest(
    geo, redis_server, bus, prefix
):
    good = line(event_dict(geo, 3, id="GOOD-3"))
    result = run_cli(["publish"], redis_server.url, prefix, _not_utf8(geo) + b"\n" + good + b"\n")
    out = result.stdout.decode()
    assert result.returncode == 1, out + result.stderr.decode()  # 1: a line was rejected
    assert out.splitlines()[0].startswith("1\trejected\tbad_json\tnot UTF-8")
    assert out.splitlines()[1].startswith("2\taccepted\t")
    assert b"Traceback" not in result.stderr
    assert [e.message.id for e in bus.replay()] == ["GOOD-3"]


class _BrokenCountyLookup:
    """The real geography, except that finding a grid's county (which validating a position
    needs, and an event does not) fails the way a bug would."""

    def __init__(self, geo: Geography) -> None:
        self._geo = geo

    def __getattr__(self, name: str) -> Any:
        return getattr(self._geo, name)

    def county_of(self, code: str) -> str | None:
        raise RuntimeError("county index unavailable")


def test_a_message_whose_handling_raises_is_dead_lettered_and_acknowledged(bus, geo, caplog):
    inbox = bus.keys["inbox"]
    bus.client.xadd(inbox, {"m": line(position_dict(geo))})
    bus.client.xadd(inbox, {"m": line(event_dict(geo, 4, id="AN-EVENT"))})
    broken: Any = _BrokenCountyLookup(geo)
    with caplog.at_level(logging.WARNING, logger="feeds.bus"):
        assert bus.ingest_inbox(broken, consumer="c1", block_ms=100) == (1, 1)
    [letter] = bus.dead_letters()
    assert letter["reason"] == "internal_error"
    assert letter["detail"] == "RuntimeError: county index unavailable"
    assert [e.message.id for e in bus.replay()] == ["AN-EVENT"]
    assert [r.exc_info is not None for r in caplog.records].count(True) == 1  # logged once
    assert bus.client.xpending(inbox, "ingest")["pending"] == 0
    assert bus.ingest_inbox(geo, consumer="c1", block_ms=100) == (0, 0)  # nothing comes back
