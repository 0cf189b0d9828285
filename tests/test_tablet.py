"""The tablet's server side: trends, risks, the lite hello, the manifest and the gzip layer.

Pure parts (daily counts, series from state + archive, gzip middleware) run in-process; the
socket events, the manifest and the page run against a real server subprocess and Redis, with
python-socketio clients signed in through the login form.
"""

from __future__ import annotations

import gzip
import json
import struct
import time
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
import socketio

from dashboard.live.livestate import LiveState
from dashboard.state import State
from dashboard.views.trends import DailyCounts, Trends, local_day
from dashboard.web.webapp import GzipStatic, manifest
from feeds.archive import Archive
from feeds.bus import EVENTS, Entry
from feeds.schema import CHINA_TZ, EventMessage, decode_trusted
from tests.factories import event_dict, line, position_dict
from tests.live import CITY, dashboard, fetch, sign_in

# Its own servers and Redis, no promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

YINZHOU = "330212"


def _event(geo, index: int, ts: datetime, **fields) -> EventMessage:
    raw = event_dict(geo, index, id=f"U-{index}-{uuid.uuid4().hex[:6]}", ts=ts.isoformat(),
                     deadline=(ts + timedelta(hours=4)).isoformat(), **fields)
    message = decode_trusted(line(raw))
    assert isinstance(message, EventMessage)
    return message


def _state(geo, messages: list[EventMessage]) -> State:
    state = State(geo)
    for n, m in enumerate(messages, start=1):
        state.apply_event(f"{1_700_000_000_000 + n}-0", m)
    return state


# -- trends, in-process ---------------------------------------------------------------------
def test_daily_counts_put_reported_and_closed_steps_on_their_local_day(geo):
    now = datetime.now(CHINA_TZ).replace(hour=12)
    first = _event(geo, 1, now - timedelta(days=2))
    closed = msgspec.structs.replace(first, seq=2, type="closed", ts=now - timedelta(days=1))
    state = _state(geo, [first, closed, _event(geo, 2, now)])
    counts = DailyCounts.of(LiveState(state))
    city = counts.area(CITY, CITY)
    today = local_day(now)
    assert city[today - 2] == (1, 0)
    assert city[today - 1] == (0, 1)
    assert city[today] == (1, 0)
    assert counts.first == today - 2
    other = next(c for c in geo.counties if c != first.area.county)
    assert counts.area(other, CITY).get(today - 2) is None


def test_trend_series_takes_old_days_from_the_archive_and_leaves_unknown_days_empty(
    geo, tmp_path
):
    now = datetime.now(CHINA_TZ).replace(hour=12, minute=0)
    in_log = _event(geo, 3, now - timedelta(days=1))
    state = _state(geo, [in_log])
    archive = Archive(tmp_path / "archive")
    old_day = now - timedelta(days=5)
    old = [_event(geo, 10 + i, old_day) for i in range(3)]
    archive.write_day(
        old_day.date(), [Entry(EVENTS, f"{1_600_000_000_000 + i}-0", m) for i, m in enumerate(old)]
    )
    rows = Trends(LiveState(state), archive).series(CITY, 7, now)
    assert [r["day"] for r in rows][-1] == now.date().isoformat()
    by_day = {r["day"]: r for r in rows}
    assert by_day[old_day.date().isoformat()] == {
        "day": old_day.date().isoformat(), "reported": 3, "closed": 0, "source": "archive",
    }
    yesterday = by_day[(now - timedelta(days=1)).date().isoformat()]
    assert (yesterday["reported"], yesterday["source"]) == (1, "log")
    before_anything = by_day[(now - timedelta(days=6)).date().isoformat()]
    assert before_anything["reported"] is None and before_anything["source"] == "none"
    assert by_day[now.date().isoformat()]["reported"] == 0  # today: in the log's range, none yet


# -- gzip, in-process ----------------------------------------------------------------------
def _wsgi(app, path: str, encoding: str = "gzip") -> tuple[str, dict[str, str], bytes]:
    seen = {}

    def start(status, headers, exc_info=None):
        seen.update(status=status, headers=dict(headers))

    body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": path,
                         "HTTP_ACCEPT_ENCODING": encoding}, start))
    return seen["status"], seen["headers"], body


def test_gzip_compresses_static_javascript_and_leaves_the_rest_alone():
    script = b"var onemap = {};\n" * 500

    def app(environ, start_response):
        kind = "application/javascript" if environ["PATH_INFO"].endswith(".js") else "text/html"
        start_response("200 OK", [("Content-Type", kind), ("ETag", '"v1"'),
                                  ("Content-Length", str(len(script)))])
        return [script]

    wrapped = GzipStatic(app)
    status, headers, body = _wsgi(wrapped, "/_dash-component-suites/dash/x.js")
    assert headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in headers["Vary"]
    assert gzip.decompress(body) == script and int(headers["Content-Length"]) == len(body)
    assert len(body) < len(script) / 10
    assert _wsgi(wrapped, "/_dash-component-suites/dash/x.js", "identity")[2] == script
    assert _wsgi(wrapped, "/wall")[2] == script  # other pages are left as they are
    assert "Content-Encoding" not in _wsgi(wrapped, "/socket.io/x.js")[1]


def test_manifest_opens_the_tablet_full_screen():
    data = manifest()
    assert data["start_url"] == "/tablet"
    assert data["display"] in ("fullscreen", "standalone")
    assert {icon["sizes"] for icon in data["icons"]} == {"192x192", "512x512"}


# -- against a real server -----------------------------------------------------------------
@pytest.fixture(scope="module")
def server(redis_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tablet-server")
    prefix = f"t{uuid.uuid4().hex[:10]}"
    with dashboard(redis_server.url, prefix, tmp, ONEMAP_DATA_DIR=str(tmp)) as running:
        running.add_user("city-boss", "leader", CITY)
        running.add_user("yz-boss", "leader", YINZHOU)
        yield running


class Client:
    def __init__(self, server, user: str) -> None:
        self.events: list[tuple[str, dict]] = []
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", lambda event, data: self.events.append((event, data)))
        cookie = sign_in(server, user)
        self.client.connect(server.url, headers={"Cookie": cookie}, transports=["websocket"])

    def call(self, event: str, data: dict) -> dict:
        return self.client.call(event, data, timeout=30)

    def of(self, event: str) -> list[dict]:
        return [data for name, data in self.events if name == event]

    def close(self) -> None:
        self.client.disconnect()


def _publish(server, messages: list[dict]) -> None:
    server.cli(["publish"], stdin=b"\n".join(line(m) for m in messages) + b"\n")


def _wait(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_risks_list_overdue_incidents_most_overdue_first_with_masked_titles(server, geo):
    now = datetime.now(UTC).astimezone(CHINA_TZ)
    tag = uuid.uuid4().hex[:6]
    late = [
        event_dict(geo, 21 + i, id=f"R-{tag}-{i}", ts=(now - timedelta(hours=5)).isoformat(),
                   deadline=(now - timedelta(hours=hours)).isoformat(),
                   title=f"张三 13812345678 反映 {tag} 第{i}件")
        for i, hours in enumerate((1, 3))
    ]
    _publish(server, late)
    client = Client(server, "city-boss")
    try:
        def mine() -> list[dict]:
            reply = client.call("risks", {"scope": CITY})
            assert reply["ok"]
            return [r for r in reply["overdue"] if r["id"].startswith(f"R-{tag}")]

        assert _wait(lambda: len(mine()) == 2)
        rows = mine()
        assert [r["id"] for r in rows] == [f"R-{tag}-1", f"R-{tag}-0"]  # 3 h late before 1 h
        assert rows[0]["overdueMin"] >= 179
        assert all("13812345678" not in r["title"] for r in rows)
        assert client.call("risks", {"scope": "nowhere"})["ok"] is False
    finally:
        client.close()


def test_a_county_leader_gets_no_risks_or_trends_of_the_city(server):
    client = Client(server, "yz-boss")
    try:
        assert client.call("risks", {"scope": CITY}) == {"ok": False, "error": "scope not allowed"}
        assert client.call("trends", {"scope": CITY, "days": 7})["ok"] is False
        assert client.call("risks", {"scope": YINZHOU})["ok"] is True
        reply = client.call("trends", {"scope": YINZHOU, "days": 30})
        assert reply["ok"] and len(reply["days"]) == 30
        assert reply["days"][-1]["day"] == datetime.now(CHINA_TZ).date().isoformat()
        assert client.call("trends", {"scope": YINZHOU, "days": 9})["ok"] is False
    finally:
        client.close()


def test_lite_hello_sends_no_worker_positions(server, geo):
    _publish(server, [event_dict(geo, 31, id=f"L-{uuid.uuid4().hex[:6]}")])
    lite, full = Client(server, "city-boss"), Client(server, "city-boss")
    try:
        _publish(server, [position_dict(geo, 7, worker=f"W{uuid.uuid4().hex[:6]}")])
        assert _wait(lambda: server.health()["workers"] >= 1)
        small = lite.call("hello", {"scope": CITY, "lite": True})
        big = full.call("hello", {"scope": CITY})
        assert small["positions"] == [] and small["incidents"] == []
        assert big["positions"] and big["incidents"]
        assert small["kpis"] and small["panels"] and small["last"] == big["last"]
        # resuming after an id the log no longer holds: a snapshot, still a lite one
        again = lite.call("hello", {"scope": CITY, "lite": True, "after": "1-0"})
        assert again["mode"] == "snapshot" and again["positions"] == []
        _publish(server, [position_dict(geo, 8, worker=f"W{uuid.uuid4().hex[:6]}")])
        assert _wait(lambda: full.of("positions"))
        assert _wait(lambda: lite.of("kpis"))  # the lite one is in the room all the same
        assert lite.of("positions") == []
    finally:
        lite.close()
        full.close()


def test_manifest_and_icons_are_served_without_a_session(server):
    answer = fetch(f"{server.url}/manifest.webmanifest")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/manifest+json")
    assert json.loads(answer.body)["start_url"] == "/tablet"
    for size in (192, 512):
        icon = fetch(f"{server.url}/icons/tablet-{size}.png")
        assert icon.status == 200 and icon.headers["Content-Type"] == "image/png"
    raw = _raw(f"{server.url}/icons/tablet-512.png")
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", raw[16:24]) == (512, 512)
    favicon = _raw(f"{server.url}/favicon.ico")  # asked for by the login page, signed out
    assert favicon[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", favicon[16:24]) == (32, 32)
    assert fetch(f"{server.url}/tablet").status == 401  # the page itself needs a session


def _raw(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_tablet_page_links_the_manifest(server):
    cookie = sign_in(server, "yz-boss")
    page = fetch(f"{server.url}/tablet", cookie=cookie, Accept="text/html")
    assert page.status == 200 and 'rel="manifest"' in page.body


def test_tablet_page_loads_without_the_pages_round_trip_or_dcc(server):
    """The tablet's page lists no dcc bundle and sends its own origin a referrer; the layout it
    then asks for is the tablet itself, so no pages callback has to run before it exists."""
    cookie = sign_in(server, "yz-boss")
    page = fetch(f"{server.url}/tablet", cookie=cookie, Accept="text/html").body
    assert "/_dash-component-suites/dash/dcc/" not in page
    assert '<meta name="referrer" content="same-origin">' in page
    assert page.index("onemap-60-tablet.js") < page.index('id="tablet-geo"')
    assert f'data-code="{YINZHOU}"' in page and "<title>OneMap 领导平板</title>" in page
    url = f"{server.url}/_dash-layout"
    layout = fetch(url, cookie=cookie, Referer=f"{server.url}/tablet?area=330212001").body
    assert '"tablet-root"' in layout and "_pages_location" not in layout
    assert '"data-scope": "330212001"' in layout or '"data-scope":"330212001"' in layout
    plain = fetch(url, cookie=cookie, Referer=f"{server.url}/wall").body
    assert "_pages_location" in plain and "tablet-root" not in plain
    assert "_pages_location" in fetch(url, cookie=cookie).body  # no referrer: Dash's own
    other = fetch(url, cookie=cookie, Referer="http://elsewhere.example/tablet").body
    assert "tablet-root" not in other


def test_wall_page_goes_without_the_duty_grid_and_the_duty_page_keeps_it(server):
    cookie = sign_in(server, "yz-boss")
    wall = fetch(f"{server.url}/wall", cookie=cookie, Accept="text/html").body
    duty = fetch(f"{server.url}/duty", cookie=cookie, Accept="text/html").body
    assert "/_dash-component-suites/dash_leaflet/" in wall and "onemap-90-wall.js" in wall
    assert "/_dash-component-suites/dash_ag_grid/" not in wall and "onemap-55-duty.js" not in wall
    assert "tablet.css" not in wall and "duty.css" not in wall and "wall.css" in wall
    assert "/_dash-component-suites/dash_ag_grid/" in duty and "onemap-55-duty.js" in duty


def test_follow_mode_offers_the_registered_walls_of_the_leaders_jurisdiction(server):
    store = server.store()
    tag = uuid.uuid4().hex[:4]
    made = {
        name: store.add_kiosk(scope, name, **extra)[0].id
        for scope, name, extra in [
            (CITY, f"主屏{tag}", {}),
            (YINZHOU, f"鄞州屏{tag}", {}),
            (YINZHOU, f"鄞州副屏{tag}", {}),
            ("330212001", f"街道屏{tag}", {}),
            ("330281", f"余姚屏{tag}", {}),
            ("330212002", f"过期屏{tag}", {"days": -1}),
        ]
    }

    def offered(user: str) -> dict[str, str]:
        cookie = sign_in(server, user)
        layout = fetch(f"{server.url}/_dash-layout", cookie=cookie,
                       Referer=f"{server.url}/tablet").body
        found: dict[str, str] = {}

        def walk(node) -> None:  # the follow buttons: the wall's id -> its display name
            if isinstance(node, dict):
                props = node.get("props", {})
                if "follow-target" in str(props.get("className", "")):
                    found[props["data-target"]] = props["data-name"]
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(json.loads(layout))
        return found

    ours = set(made.values())
    mine = {i: name for i, name in offered("yz-boss").items() if i in ours}
    # one button per wall, by its display name: its county's walls first, then its town's
    assert list(mine.values()) == sorted([f"鄞州屏{tag}", f"鄞州副屏{tag}"]) + [f"街道屏{tag}"]
    city = {i: name for i, name in offered("city-boss").items() if i in ours}
    assert list(city.values())[0] == f"主屏{tag}" and f"余姚屏{tag}" in city.values()
    assert set(city) == ours - {made[f"过期屏{tag}"]}


def test_tablet_inline_map_is_coarsened_to_the_first_view(server):
    cookie = sign_in(server, "city-boss")
    page = fetch(f"{server.url}/tablet", cookie=cookie, Accept="text/html").body
    start = page.index(">", page.index('id="tablet-geo"')) + 1
    area = json.loads(page[start : page.index("</script>", start)])
    assert area["code"] == CITY and len(area["shapes"]["features"]) == 10
    shapes = [f["geometry"]["coordinates"] for f in area["shapes"]["features"]]
    numbers = json.dumps(shapes).replace("[", " ").replace("]", " ").replace(",", " ")
    decimals = [len(n.split(".")[1]) for n in numbers.split() if n.count(".") == 1]
    assert decimals and max(decimals) <= 3
