"""The feed contract on a real Redis: round trips, rejections, atomic log + announcement."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from feeds.bus import EVENTS, POSITIONS, Bus
from feeds.schema import (
    MAX_DETAIL_CHARS,
    MAX_MESSAGE_BYTES,
    REJECTION_REASONS,
    EventMessage,
    PositionMessage,
    Rejection,
    decode_trusted,
    validate,
)
from tests.factories import event_dict, line, position_dict
from tests.live import run_cli

# No promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel


def test_event_round_trips_through_the_stream(bus, geo):
    raw = line(event_dict(geo))
    sid = bus.ingest(raw, geo)
    assert isinstance(sid, str)
    [entry] = list(bus.replay(EVENTS))
    assert entry.sid == sid
    assert entry.message == decode_trusted(raw)
    assert isinstance(entry.message, EventMessage)
    assert bus.stats() == {"accepted:event": 1}


def test_position_lands_in_stream_and_latest_positions(bus, geo):
    first = position_dict(geo, 1, status="patrolling")
    later = position_dict(geo, 1, status="handling")
    bus.ingest(line(first), geo)
    bus.ingest(line(later), geo)
    assert [e.message.status for e in bus.replay(POSITIONS)] == ["patrolling", "handling"]
    latest = bus.latest_positions()
    assert set(latest) == {first["worker"]}
    assert isinstance(latest[first["worker"]], PositionMessage)
    assert latest[first["worker"]].status == "handling"


def _bad_lines(geo) -> list[tuple[str, bytes]]:
    other_county = next(c for c in sorted(geo.counties) if c != event_dict(geo)["area"]["county"])
    far_point = geo.counties[other_county]
    now = datetime.now(UTC)
    ev = event_dict(geo)
    return [
        ("too_large", line(event_dict(geo, detail="x" * (MAX_MESSAGE_BYTES + 10)))),
        ("bad_json", b'{"kind": "event", "id": '),
        ("bad_json", b"\xff\xfe not utf-8"),
        ("schema", line({k: v for k, v in ev.items() if k != "category"})),
        ("schema", line(event_dict(geo, surprise=1))),
        ("schema", line(event_dict(geo, ts="2026-11-23T10:00:00"))),  # no offset
        ("schema", line(event_dict(geo, level=6))),
        ("schema", line(event_dict(geo, type="vanished"))),
        ("schema", line(event_dict(geo, id="<script>"))),
        ("schema", line({"kind": "weather", "id": "x"})),
        ("schema", line(ev)[:-1] + b', "title": "the same key again"}'),  # json keeps the last
        ("unknown_category", line(event_dict(geo, category="zz99"))),
        ("unknown_area", line(event_dict(geo, area={**ev["area"], "grid": "330200999999999"}))),
        ("unknown_area", line(position_dict(geo, grid="123"))),
        ("area_mismatch", line(event_dict(geo, area={**ev["area"], "county": other_county}))),
        ("area_mismatch", line(event_dict(geo, area={**ev["area"], "village": None}))),
        ("out_of_bounds", line(event_dict(geo, lon=116.39, lat=39.9))),  # Beijing
        ("out_of_bounds", line(event_dict(geo, lon=far_point.lon, lat=far_point.lat))),
        ("bad_timestamp", line(event_dict(geo, ts=(now + timedelta(hours=2)).isoformat()))),
        ("bad_timestamp", line(event_dict(geo, ts=(now - timedelta(days=30)).isoformat()))),
        ("bad_timestamp", line(event_dict(geo, deadline=(now - timedelta(hours=1)).isoformat()))),
        ("bad_timestamp", line(event_dict(geo, deadline="9999-12-31T23:59:59+00:00"))),
        (
            "bad_timestamp",
            line(event_dict(geo, seq=2, type="handled", deadline="0001-01-01T00:00:00+14:00")),
        ),
        ("text_too_long", line(event_dict(geo, title="长" * 101))),
        ("text_too_long", line(event_dict(geo, detail="长" * (MAX_DETAIL_CHARS + 1)))),
        ("bad_text", line(event_dict(geo, title="   "))),
        ("bad_text", line(event_dict(geo, detail="ok\x1b[31mred"))),
        ("bad_text", line(event_dict(geo, title="井盖\u202e失缺"))),  # shown reversed
        ("bad_text", line(event_dict(geo, title="井盖缺失\n第二行"))),  # a title is one line
        ("bad_text", line(event_dict(geo, seq=2, type="dispatched", remark="ok\u202efed"))),
        ("text_too_long", line(event_dict(geo, seq=2, type="returned", remark="长" * 501))),
        # only OneMap's duty desk writes steps from the command centre
        (
            "reserved_source",
            line(event_dict(geo, seq=2, type="dispatched", source="command_center")),
        ),
    ]


def test_every_rejection_class_is_dead_lettered_and_the_feed_goes_on(bus, geo):
    bad = _bad_lines(geo)
    assert {reason for reason, _ in bad} == set(REJECTION_REASONS), "a reason has no test case"
    accepted = []
    for index, (reason, raw) in enumerate(bad):
        result = bus.ingest(raw, geo)
        assert isinstance(result, Rejection), reason
        assert result.reason == reason, (reason, result.detail)
        good = bus.ingest(line(event_dict(geo, index + 1, id=f"OK-{index}")), geo)
        assert isinstance(good, str)
        accepted.append(good)
    letters = list(reversed(bus.dead_letters(count=1000)))
    assert [row["reason"] for row in letters] == [reason for reason, _ in bad]
    for (_, raw), row in zip(bad, letters, strict=True):
        assert row["raw"] == raw[:16384].decode("utf-8", "replace")
        assert row["detail"]
    assert [e.sid for e in bus.replay(EVENTS)] == accepted
    stats = bus.stats()
    assert stats["accepted:event"] == len(bad)
    assert sum(v for k, v in stats.items() if k.startswith("rejected:")) == len(bad)


def test_validation_never_raises_on_arbitrary_bytes(geo):
    for raw in [b"", b"null", b"[]", b'"x"', b"1e999", b"{}", bytes(range(256)), b"{" * 5000]:
        assert isinstance(validate(raw, geo), Rejection)


def test_every_announcement_has_its_log_entry_with_the_same_payload(bus, geo, redis_client):
    received = []
    subscribed = threading.Event()

    def listen() -> None:
        pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(bus.keys["channel"])
        subscribed.set()
        deadline = time.monotonic() + 10
        while len(received) < 200 and time.monotonic() < deadline:
            item = pubsub.get_message(timeout=1)
            if item is None:
                continue
            note = json.loads(item["data"])
            # Checked the moment the announcement arrives: the log entry must already be there.
            rows = redis_client.xrange(bus.keys[note["stream"]], note["sid"], note["sid"])
            received.append((note, rows))
        pubsub.close()

    listener = threading.Thread(target=listen)
    listener.start()
    subscribed.wait(5)
    time.sleep(0.1)
    messages = [decode_trusted(line(event_dict(geo, i, id=f"A-{i}"))) for i in range(100)]
    messages += [decode_trusted(line(position_dict(geo, i))) for i in range(100)]
    sids = bus.publish_many(messages)
    listener.join(10)
    assert len(received) == 200
    for (note, rows), sid in zip(received, sids, strict=True):
        assert note["sid"] == sid
        assert len(rows) == 1
        assert json.loads(rows[0][1][b"m"]) == note["m"]


def test_a_failed_append_announces_nothing(bus, geo, redis_client):
    redis_client.set(bus.keys[EVENTS], "not a stream")
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(bus.keys["channel"])
    pubsub.get_message(timeout=1)
    with pytest.raises(Exception, match="WRONGTYPE"):
        bus.publish(decode_trusted(line(event_dict(geo))))
    assert pubsub.get_message(timeout=0.5) is None
    pubsub.close()


def test_stream_is_capped_approximately(redis_client, prefix, geo):
    small = Bus(redis_client, prefix=prefix, events_maxlen=100)
    small.publish_many([decode_trusted(line(event_dict(geo, i, id=f"C-{i}"))) for i in range(1000)])
    length = redis_client.xlen(small.keys[EVENTS])
    assert 100 <= length < 1000


def test_follow_resumes_after_its_connection_is_killed(bus, geo, redis_client, redis_server):
    follower = Bus(redis_server.client(), prefix=bus.prefix)
    seen: list[str] = []
    done = threading.Event()

    def follow() -> None:
        for batch in follower.follow({EVENTS: "0-0"}, block_ms=200, max_backoff=0.2):
            seen.extend(e.sid for e in batch)
            if len(seen) >= 200 or done.is_set():
                return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    first = bus.publish_many(
        [decode_trusted(line(event_dict(geo, i, id=f"K-{i}"))) for i in range(100)]
    )
    time.sleep(0.3)
    killed = redis_client.client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1
    second = bus.publish_many(
        [decode_trusted(line(event_dict(geo, i, id=f"L-{i}"))) for i in range(100)]
    )
    thread.join(10)
    done.set()
    assert seen == first + second


def test_publish_command_prints_a_result_per_line_and_fails_on_rejection(
    redis_server, prefix, geo, redis_client
):
    good = line(event_dict(geo, 1, id="P-1"))
    bad = line(event_dict(geo, 2, category="nope"))
    result = run_cli(["publish"], redis_server.url, prefix, good + b"\n\n" + bad + b"\n")
    out = result.stdout.decode().splitlines()
    assert result.returncode == 1, result.stderr.decode()
    assert out[0].startswith("1\taccepted\t")
    assert out[1].startswith("3\trejected\tunknown_category")
    assert len(out) == 2
    assert Bus(redis_client, prefix=prefix).stats()["rejected:unknown_category"] == 1

    result = run_cli(["publish"], redis_server.url, prefix, good.replace(b"P-1", b"P-2") + b"\n")
    assert result.returncode == 0


def test_inbox_ingester_validates_what_plain_producers_add(bus, geo, redis_client):
    good = line(event_dict(geo, 8, id="I-1"))
    redis_client.xadd(bus.keys["inbox"], {"m": good})
    redis_client.xadd(bus.keys["inbox"], {"m": b'{"kind": "event"}'})
    redis_client.xadd(bus.keys["inbox"], {"wrong-field": b"x"})
    assert bus.ingest_inbox(geo, block_ms=100) == (1, 2)
    assert [e.message.id for e in bus.replay(EVENTS)] == ["I-1"]
    assert [row["reason"] for row in bus.dead_letters()] == ["bad_json", "schema"]
    assert redis_client.xlen(bus.keys["inbox"]) == 0
    assert bus.ingest_inbox(geo, block_ms=100) == (0, 0)


def test_inbox_entries_taken_but_not_acknowledged_are_taken_again(bus, geo, redis_client):
    inbox = bus.keys["inbox"]
    redis_client.xgroup_create(inbox, "ingest", id="0", mkstream=True)
    redis_client.xadd(inbox, {"m": line(event_dict(geo, 9, id="I-2"))})
    # A crashed ingester: it read the entry and died before acknowledging it.
    redis_client.xreadgroup("ingest", "crashed", {inbox: ">"}, count=10)
    assert bus.ingest_inbox(geo, consumer="crashed", block_ms=100) == (1, 0)
    assert [e.message.id for e in bus.replay(EVENTS)] == ["I-2"]
