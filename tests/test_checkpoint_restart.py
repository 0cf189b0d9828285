"""A server stopped with SIGTERM writes a checkpoint; the next start loads it and folds only the
log's tail, and its screens get what a server folding the whole log gives them. Real servers
(`onemap serve`), a real Redis, a real socket."""

from __future__ import annotations

import pytest
import socketio

from feeds.bus import Bus
from feeds.schema import decode_trusted
from tests.factories import event_dict, line
from tests.live import dashboard
from tests.screens import kiosk_cookie

pytestmark = pytest.mark.fault  # servers stopped and started: runs beside the other slow ones


def _snapshot(server) -> dict:
    """What a city wall receives when it says hello."""
    cookie = kiosk_cookie(server.url, server.wall_link())
    client = socketio.Client(reconnection=False)
    client.connect(server.url, headers={"Cookie": cookie}, transports=["websocket"])
    try:
        reply = client.call("hello", {}, timeout=30)
    finally:
        client.disconnect()
    assert reply["ok"] and reply["mode"] == "snapshot", reply
    return reply


def _comparable(reply: dict) -> dict:
    return {
        "kpis": reply["kpis"],
        "last": reply["last"],
        "steps": [(s["sid"], s["id"], s["seq"], s["status"]) for s in reply["steps"]],
        "incidents": sorted(m["id"] for m in reply["incidents"]),
    }


def test_a_restart_after_sigterm_loads_the_checkpoint_and_folds_only_the_tail(
    redis_server, redis_client, prefix, tmp_path, geo
):
    bus = Bus(redis_client, prefix=prefix)
    data = tmp_path / "data"
    opened = [event_dict(geo, i, id=f"CK-{i}") for i in range(240)]
    closed = [{**m, "seq": 2, "type": "closed"} for m in opened[:40]]
    bus.publish_many([decode_trusted(line(m)) for m in opened[:200] + closed[:20]])

    with dashboard(redis_server.url, prefix, tmp_path, ONEMAP_DATA_DIR=str(data)) as first:
        assert first.health()["incidents"] == 200
    checkpoint = data / "checkpoints" / f"{prefix}.checkpoint"
    assert checkpoint.exists(), first.log()
    assert "checkpoint written" in first.log()

    # the tail: written while no server runs
    tail = [decode_trusted(line(m)) for m in opened[200:] + closed[20:]]
    bus.publish_many(tail)

    with dashboard(redis_server.url, prefix, tmp_path, ONEMAP_DATA_DIR=str(data)) as second:
        log = second.log()
        assert "checkpoint of" in log and "loaded" in log, log
        assert f"folded {len(tail)} steps" in log, log  # the tail, not the whole log
        restarted = _comparable(_snapshot(second))
        assert second.health()["incidents"] == 240

    # a server that folds the whole log (no checkpoint) shows exactly the same
    with dashboard(
        redis_server.url, prefix, tmp_path, ONEMAP_DATA_DIR=str(tmp_path / "empty")
    ) as whole:
        assert f"folded {len(opened) + len(closed)} steps" in whole.log()
        assert _comparable(_snapshot(whole)) == restarted


def test_a_checkpoint_of_another_log_is_ignored(redis_server, redis_client, prefix, tmp_path, geo):
    """The Redis behind a data dir was emptied (or replaced): its checkpoint names ids the log
    no longer holds, so it is ignored and the log folded, not mixed with the old state."""
    bus = Bus(redis_client, prefix=prefix)
    data = tmp_path / "data"
    bus.publish_many([decode_trusted(line(event_dict(geo, i, id=f"OLD-{i}"))) for i in range(50)])
    with dashboard(redis_server.url, prefix, tmp_path, ONEMAP_DATA_DIR=str(data)):
        pass
    assert (data / "checkpoints" / f"{prefix}.checkpoint").exists()
    for key in redis_client.scan_iter(f"{prefix}:*"):
        redis_client.delete(key)
    bus.publish_many([decode_trusted(line(event_dict(geo, i, id=f"NEW-{i}"))) for i in range(7)])
    with dashboard(redis_server.url, prefix, tmp_path, ONEMAP_DATA_DIR=str(data)) as server:
        assert "ignored: the events log no longer holds" in server.log()
        assert server.health()["incidents"] == 7
