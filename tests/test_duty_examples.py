"""docs/duty.md's examples against a server fed by the simulator: each finds incidents, and the
desk's default order is open incidents by time left (the most overdue first), closed ones after."""

from __future__ import annotations

import re
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feeds.bus import Bus
from feeds.schema import EventMessage
from feeds.sim.model import Model
from feeds.sim.options import SimConfig
from tests.live import dashboard, sign_in

pytestmark = pytest.mark.parallel
DOC = (Path(__file__).resolve().parent.parent / "docs" / "duty.md").read_text(encoding="utf-8")
# The doc's search examples, each as it stands in the doc (the test fails if one is reworded
# there and not here).
SEARCHES = ["井盖", "路灯", "jgqs", "章水镇", "海曙", "鄞州 井盖", "jgqs 海曙"]
URL = "/duty?area=330212&cat=bm01&q=井盖&sort=deadline:asc&open=<id>"


@pytest.fixture(scope="module")
def desk(redis_server, geo, tmp_path_factory):
    """The last 30 hours as the demo simulates them (a fixed seed), and a city duty officer's
    socket to ask as the desk does."""
    import socketio

    now = datetime.now(UTC)
    model = Model(geo, SimConfig(seed=7, workers=2000), now - timedelta(hours=30), positions=False)
    steps = [m for m in model.messages(now) if isinstance(m, EventMessage)]
    prefix = f"t{uuid.uuid4().hex[:10]}"
    bus = Bus(redis_server.client(), prefix=prefix)
    for start in range(0, len(steps), 2000):
        bus.publish_many(steps[start : start + 2000])
    tmp = tmp_path_factory.mktemp("duty-examples")
    with dashboard(redis_server.url, prefix, tmp, ONEMAP_COOKIE_SECURE="0") as server:
        server.add_user("duty-city", "duty", "330200", cli=False)
        client = socketio.Client(reconnection=False)
        client.connect(
            server.url, headers={"Cookie": sign_in(server, "duty-city")}, transports=["websocket"]
        )
        try:
            client.call("hello", {"scope": "330200"}, timeout=60)
            yield client
        finally:
            client.disconnect()


def _rows(desk, **asked) -> dict:
    reply = desk.call("duty_rows", {"start": 0, "end": 100, **asked}, timeout=60)
    assert reply["ok"], reply
    return reply


@pytest.mark.parametrize("q", SEARCHES)
def test_each_search_example_in_the_doc_finds_incidents(desk, q):
    assert f"`{q}`" in DOC
    assert _rows(desk, filter={"q": q})["total"] > 0


def test_an_id_and_its_day_find_that_incident_and_that_days_reports(desk):
    example = re.search(r"`(E\d{8}-\d{6}-\w+)`; `(E\d{8})`", DOC)
    assert example, "the doc's id example is gone or reshaped"
    some = _rows(desk)["rows"][0]["id"]
    assert re.fullmatch(r"E\d{8}-\d{6}-\w+", some)  # ids have the doc's form
    assert [r["id"] for r in _rows(desk, filter={"q": some})["rows"]] == [some]
    day = _rows(desk, filter={"q": some[:9]})
    assert day["total"] > 1 and all(r["id"].startswith(some[:9]) for r in day["rows"])


def test_the_docs_address_opens_a_view_with_rows_and_its_incident(desk):
    assert URL in DOC
    asked = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(URL).query))
    column, direction = asked.pop("sort").split(":")
    asked.pop("open")
    reply = _rows(desk, filter=asked, sort=column, dir=direction)
    assert reply["total"] > 0
    rows = reply["rows"]
    assert all("井盖" in r["title"] and r["category"] == "市政设施" for r in rows)
    assert all(r["place"].startswith("鄞州") for r in rows)
    assert [r["due"] for r in rows] == sorted(r["due"] for r in rows)
    opened = desk.call("incident", {"id": rows[0]["id"]}, timeout=30)
    assert opened["ok"] and opened["incident"]["id"] == rows[0]["id"]


def test_by_default_open_incidents_come_first_by_time_left_then_closed_ones(desk):
    rows = _rows(desk, end=500)["rows"]  # no sort asked: the URL without sort=
    open_ = [r for r in rows if not r["closed"]]
    assert open_ and rows[: len(open_)] == open_, "a closed incident before an open one"
    assert [r["due"] for r in open_] == sorted(r["due"] for r in open_)
    overdue = [r for r in open_ if r["overdue"]]
    assert rows[: len(overdue)] == overdue  # the overdue on top, the most overdue first
    # A view with both: the closed ones after every open one, the latest deadline first.
    both = _rows(desk, filter={"q": "井盖"}, end=500)["rows"]
    closed = [r for r in both if r["closed"]]
    assert closed and not any(r["closed"] for r in both[: len(both) - len(closed)])
    assert [r["due"] for r in closed] == sorted((r["due"] for r in closed), reverse=True)
    # The other sorts still answer as asked: newest first, by the ids' day and number.
    newest = [r["id"].split("-")[:2] for r in _rows(desk, sort="reported", dir="desc")["rows"]]
    assert newest == sorted(newest, reverse=True)
