"""Open311 GeoReport v2 over real HTTP: a real server subprocess, a real Redis, producer keys.

Conformance: every response is compared with the spec's own example documents
(wiki.open311.org/GeoReport_v2, written out below): the same field names, the same kinds of
value, the same XML elements. Then the behaviour: a POST becomes a ``reported`` step at the grid
containing the point, a retry makes no second incident, the status follows the lifecycle to
``closed``, scope, bad input (never a 500), personal data masked, keys kept out of the logs.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any

import msgspec
import pytest

from dashboard.access.auth import redact_secrets
from dashboard.access.privacy import mask_text
from dashboard.access.producers import ProducerStore
from dashboard.cold.keeper import midnight
from feeds.bus import EVENTS, Bus
from feeds.catalogue import CATEGORIES, PLATFORMS
from feeds.geo import Geography, contains
from feeds.schema import CHINA_TZ, EventMessage, decode_trusted
from tests.factories import a_grid, line
from tests.live import CITY, Dashboard, Fetched, dashboard, fetch
from tests.test_working_set import logged_at_their_time

# Its own servers and Redis, no promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

BASE = "/open311/v2"
YINZHOU, CIXI = "330212", "330282"

# -- the spec's example documents ----------------------------------------------------------
SPEC_SERVICES = [
    {
        "service_code": "001",
        "service_name": "Cans left out 24x7",
        "description": "Garbage or recycling cans that have been left out for more than 24 hours "
        "after collection. Violators will be cited.",
        "metadata": True,
        "type": "realtime",
        "keywords": "lorem, ipsum, dolor",
        "group": "sanitation",
    }
]
SPEC_POST = [
    {
        "service_request_id": 293944,
        "service_notice": "The City will inspect and require the responsible party to correct "
        "within 24 hours and/or issue a Correction Notice or Notice of Violation of the Public "
        "Works Code",
        "account_id": None,
    }
]
SPEC_REQUESTS = [
    {
        "service_request_id": 638344,
        "status": "closed",
        "status_notes": "Duplicate request.",
        "service_name": "Sidewalk and Curb Issues",
        "service_code": "006",
        "description": None,
        "agency_responsible": None,
        "service_notice": None,
        "requested_datetime": "2010-04-14T06:37:38-08:00",
        "updated_datetime": "2010-04-14T06:37:38-08:00",
        "expected_datetime": "2010-04-15T06:37:38-08:00",
        "address": "8TH AVE and JUDAH ST",
        "address_id": 545483,
        "zipcode": 94122,
        "lat": 37.762221815,
        "long": -122.4651145,
        "media_url": "http://city.gov.s3.amazonaws.com/requests/media/638344.jpg",
    }
]
SPEC_ERROR = [
    {"code": 403, "description": "Invalid api_key received -- can't proceed with create_request."}
]
SPEC_SERVICES_XML = """<?xml version="1.0" encoding="utf-8"?>
<services><service><service_code>001</service_code><service_name>Cans left out 24x7</service_name>
<description>Garbage or recycling cans that have been left out for more than 24 hours after
collection. Violators will be cited.</description><metadata>true</metadata><type>realtime</type>
<keywords>lorem, ipsum, dolor</keywords><group>sanitation</group></service></services>"""
SPEC_POST_XML = """<?xml version="1.0" encoding="utf-8"?>
<service_requests><request><service_request_id>293944</service_request_id>
<service_notice>The City will inspect and require the responsible party to correct within 24
hours</service_notice><account_id/></request></service_requests>"""
SPEC_REQUESTS_XML = """<?xml version="1.0" encoding="utf-8"?>
<service_requests><request><service_request_id>638344</service_request_id><status>closed</status>
<status_notes>Duplicate request.</status_notes><service_name>Sidewalk and Curb Issues</service_name>
<service_code>006</service_code><description></description><agency_responsible></agency_responsible>
<service_notice></service_notice><requested_datetime>2010-04-14T06:37:38-08:00</requested_datetime>
<updated_datetime>2010-04-14T06:37:38-08:00</updated_datetime>
<expected_datetime>2010-04-15T06:37:38-08:00</expected_datetime>
<address>8TH AVE and JUDAH ST</address><address_id>545483</address_id><zipcode>94122</zipcode>
<lat>37.762221815</lat><long>-122.4651145</long>
<media_url>http://city.gov.s3.amazonaws.com/requests/media/638344.jpg</media_url></request>
</service_requests>"""
SPEC_ERROR_XML = """<?xml version="1.0" encoding="utf-8"?>
<errors><error><code>403</code><description>Invalid api_key received -- can't proceed with
create_request.</description></error></errors>"""
DATETIMES = ("requested_datetime", "updated_datetime", "expected_datetime")


def _same_shape(ours: list[dict[str, Any]], spec: list[dict[str, Any]]) -> None:
    """Our array has the spec's fields, each value of the spec's kind (or null, for the spec's
    optional fields; ids are strings here, which the spec allows)."""
    assert isinstance(ours, list) and ours
    names = list(spec[0])
    for row in ours:
        assert list(row) == names
        for name, value in row.items():
            expected = spec[0][name]
            if name == "service_request_id":
                assert isinstance(value, str) and value
            elif value is not None and expected is not None:
                assert type(value) is type(expected) or {type(value), type(expected)} <= {
                    int, float
                }, (name, value)  # fmt: skip
            if name in DATETIMES:
                assert datetime.fromisoformat(value).utcoffset() is not None


def _same_elements(ours: str, spec: str) -> ET.Element:
    """Well-formed XML whose root and each item's child elements are the spec's."""
    mine, theirs = ET.fromstring(ours.encode()), ET.fromstring(spec.encode())
    assert mine.tag == theirs.tag and len(mine) >= 1
    for item in mine:
        assert item.tag == theirs[0].tag
        assert [c.tag for c in item] == [c.tag for c in theirs[0]]
    return mine


# -- the server and its clients ------------------------------------------------------------
@pytest.fixture(scope="module")
def server(redis_server, tmp_path_factory):
    prefix = f"o{uuid.uuid4().hex[:10]}"
    with dashboard(redis_server.url, prefix, tmp_path_factory.mktemp("open311")) as live:
        yield live


def _key(server: Dashboard, scope: str = CITY, **rights: Any) -> str:
    store = ProducerStore(server.store().client, server.prefix)
    return store.add(f"311-{uuid.uuid4().hex[:6]}", scope, **rights)[1]


def _point(geo: Geography, scope: str, n: int = 0) -> tuple[str, float, float]:
    """A grid in ``scope`` and a point inside it."""
    grids = (a_grid(geo, i) for i in range(5000))
    found = [g for g in grids if contains(scope, g)][n]
    area = geo.grids[found]
    return found, area.lon, area.lat


def _post(server: Dashboard, fields: dict[str, str], fmt: str = "json", **headers: str) -> Fetched:
    body = urllib.parse.urlencode(fields).encode()
    sent = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    return fetch(f"{server.url}{BASE}/requests.{fmt}", body, **sent)


def _get(server: Dashboard, path: str, key: str | None, **params: str) -> Fetched:
    query = {**({"api_key": key} if key is not None else {}), **params}
    return fetch(f"{server.url}{BASE}/{path}?{urllib.parse.urlencode(query)}")


def _report(geo: Geography, key: str, scope: str = CITY, n: int = 0, **more: str) -> dict:
    _grid, lon, lat = _point(geo, scope, n)
    return {
        "api_key": key,
        "service_code": "bm01",
        "lat": f"{lat:.6f}",
        "long": f"{lon:.6f}",
        "description": f"路灯不亮已三天 {uuid.uuid4().hex[:8]}\n晚上很黑，行人不便。",
        **more,
    }


def _logged(server: Dashboard, incident_id: str) -> list[EventMessage]:
    bus = Bus(server.store().client, prefix=server.prefix)
    return [e.message for e in bus.replay(EVENTS) if e.message.id == incident_id]


def _request(server: Dashboard, key: str, incident_id: str, until: str = "") -> dict:
    """The request as GET requests/<id>.json shows it, once the live state has it (and, with
    ``until``, once its status_notes say so)."""
    deadline = time.monotonic() + 15
    while True:
        answer = _get(server, f"requests/{incident_id}.json", key)
        if answer.status == 200:
            row = json.loads(answer.body)[0]
            if not until or row["status_notes"].startswith(until):
                return row
        assert time.monotonic() < deadline, answer.body
        time.sleep(0.1)


def _errors(answer: Fetched, status: int) -> str:
    assert answer.status == status, answer.body
    found = json.loads(answer.body)
    assert [list(e) for e in found] == [list(SPEC_ERROR[0])]
    assert found[0]["code"] == status and found[0]["description"]
    return found[0]["description"]


# -- services --------------------------------------------------------------------------------
def test_services_list_is_the_catalogue_in_the_spec_shape(server):
    key = _key(server)
    answer = _get(server, "services.json", key)
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("application/json")
    found = json.loads(answer.body)
    _same_shape(found, SPEC_SERVICES)
    assert [s["service_code"] for s in found] == list(CATEGORIES)
    by_code = {s["service_code"]: s for s in found}
    assert by_code["zf02"]["service_name"] == CATEGORIES["zf02"].name
    assert by_code["zf02"]["group"] == PLATFORMS["zf"]
    assert {(s["metadata"], s["type"]) for s in found} == {(False, "realtime")}
    xml = _same_elements(_get(server, "services.xml", key).body, SPEC_SERVICES_XML)
    assert [s.findtext("service_code") for s in xml] == list(CATEGORIES)
    assert {s.findtext("metadata") for s in xml} == {"false"}


# -- POST requests ---------------------------------------------------------------------------
def test_post_makes_a_reported_step_at_the_grid_containing_the_point(server, geo):
    key = _key(server, YINZHOU)
    grid, _lon, _lat = _point(geo, YINZHOU, 3)
    answer = _post(server, _report(geo, key, YINZHOU, 3, media_url="https://img.example/1.jpg"))
    assert answer.status == 200, answer.body
    created = json.loads(answer.body)
    _same_shape(created, SPEC_POST)
    assert created[0]["account_id"] is None
    incident_id = created[0]["service_request_id"]
    assert geo.label(grid) in created[0]["service_notice"]
    [step] = _logged(server, incident_id)
    assert (step.type, step.seq, step.level, step.category) == ("reported", 1, 1, "bm01")
    assert step.area.grid == grid and step.area.county == YINZHOU and step.source == "app"
    assert step.title.startswith("路灯不亮已三天") and "\n" not in step.title
    row = _request(server, key, incident_id)
    assert row["media_url"] == "https://img.example/1.jpg"
    assert row["expected_datetime"] == step.deadline.isoformat(timespec="seconds")


def test_an_address_alone_is_located_by_the_places_it_names(server, geo):
    """No lat/long: the village the address names, within the town and county it names."""
    key = _key(server)
    fields = {**_report(geo, key), "lat": "", "long": "",
              "address_string": "海曙区 南门街道 澄浪社区 幸福路12号"}  # fmt: skip
    answer = _post(server, fields)
    assert answer.status == 200, answer.body
    [step] = _logged(server, json.loads(answer.body)[0]["service_request_id"])
    village = geo.villages[step.area.village]
    assert (village.name, geo.towns[step.area.town].name) == ("澄浪社区", "南门街道")
    assert (step.lon, step.lat) == (village.lon, village.lat)
    # the same community name in three towns: the town decides
    fields = {**fields, "address_string": "鼓楼街道中山社区3号楼"}
    [step] = _logged(server, json.loads(_post(server, fields).body)[0]["service_request_id"])
    assert geo.label(step.area.village) == "海曙 鼓楼街道 中山社区"


def test_post_answers_in_xml_too(server, geo):
    key = _key(server)
    answer = _post(server, _report(geo, key, n=5), "xml")
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/xml")
    root = _same_elements(answer.body, SPEC_POST_XML)
    assert root[0].findtext("service_request_id").startswith("o311-")


def test_a_retried_post_makes_no_second_incident(server, geo):
    key = _key(server)
    fields = _report(geo, key, n=7)
    first, again = (json.loads(_post(server, fields).body)[0] for _ in range(2))
    assert first["service_request_id"] == again["service_request_id"]
    assert len(_logged(server, first["service_request_id"])) == 1
    # With an Idempotency-Key, the key names the request, whatever the retry carries.
    token = {"Idempotency-Key": uuid.uuid4().hex}
    one = json.loads(_post(server, _report(geo, key, n=8), **token).body)[0]
    two = json.loads(_post(server, _report(geo, key, n=9), **token).body)[0]
    assert one["service_request_id"] == two["service_request_id"]
    assert len(_logged(server, one["service_request_id"])) == 1
    other = json.loads(_post(server, fields, **{"Idempotency-Key": uuid.uuid4().hex}).body)[0]
    assert other["service_request_id"] != first["service_request_id"]
    # The same request from another key is another producer's report.
    elsewhere = json.loads(_post(server, {**fields, "api_key": _key(server)}).body)[0]
    assert elsewhere["service_request_id"] != first["service_request_id"]


def test_a_point_outside_the_keys_scope_is_forbidden(server, geo):
    key = _key(server, YINZHOU)
    fields = _report(geo, key, CIXI)
    assert "out_of_scope" in _errors(_post(server, fields), 403)
    bus = Bus(server.store().client, prefix=server.prefix)
    assert not [e for e in bus.replay(EVENTS) if fields["description"] in e.message.detail]


def test_a_key_without_the_app_source_is_forbidden(server, geo):
    key = _key(server, sources=("hotline_12345",))
    assert "source_not_allowed" in _errors(_post(server, _report(geo, key)), 403)


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"service_code": "999"}, 400, "service_code"),
        ({"service_code": ""}, 400, "service_code"),
        ({"lat": "", "long": ""}, 400, "lat and long"),
        ({"lat": "", "long": "", "address_string": "中山东路1号"}, 400, "names no town"),
        ({"lat": "", "long": "", "address_string": "中山社区3号楼"}, 400, "names 3 places"),
        ({"lat": "", "long": "", "address_string": "海曙区"}, 400, "only a county"),
        ({"lat": ""}, 400, "lat and long"),
        ({"lat": "nan"}, 400, "lat and long"),
        ({"lat": "1e999"}, 400, "lat and long"),
        ({"lat": "north"}, 400, "lat and long"),
        ({"lat": "39.9", "long": "116.4"}, 400, "outside the city"),
        ({"description": "x" * 1201}, 400, "description"),
        ({"description": "响铃\x07了"}, 400, "bad_text"),
        ({"description": "方向\u202e反转"}, 400, "bad_text"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
        ({"email": "a" * 101}, 400, "email"),
        ({"api_key": "omp_000000000000.nope"}, 403, "api_key"),
        ({"api_key": ""}, 403, "api_key"),
    ],
)
def test_bad_requests_are_refused_in_the_spec_error_format(server, geo, change, status, says):
    fields = {**_report(geo, _key(server)), **change}
    assert says in _errors(_post(server, fields), status)


def test_refusals_are_xml_too_and_never_a_server_error(server, geo):
    answer = _post(server, {"service_code": "bm01"}, "xml")
    assert answer.status == 403
    root = _same_elements(answer.body, SPEC_ERROR_XML)
    assert root[0].findtext("code") == "403"
    key = _key(server)
    for body, kind in [
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
        (b'{"service_code": "bm01"}', "application/json"),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
        (b"a=" + b"x" * 70_000, "application/x-www-form-urlencoded"),
    ]:
        url = f"{server.url}{BASE}/requests.json?api_key={key}"
        answer = fetch(url, body, **{"Content-Type": kind})
        assert 400 <= answer.status < 500, (body[:20], answer.status, answer.body)
        json.loads(answer.body)
    assert "resource" in _errors(_get(server, "nothing.json", key), 404)
    assert "format" in _errors(_get(server, "services.csv", key), 404)


# -- GET requests ------------------------------------------------------------------------------
def _publish_step(server: Dashboard, first: EventMessage, seq: int, kind: str, level: int) -> None:
    step = msgspec.structs.replace(
        first, seq=seq, type=kind, level=level, ts=first.ts + timedelta(seconds=seq)
    )
    Bus(server.store().client, prefix=server.prefix).publish(step)


def test_status_follows_the_lifecycle_until_closed(server, geo):
    key = _key(server)
    incident_id = json.loads(_post(server, _report(geo, key, n=11)).body)[0]["service_request_id"]
    row = _request(server, key, incident_id)
    _same_shape([row], SPEC_REQUESTS)
    assert (row["status"], row["status_notes"]) == ("open", "上报")
    assert "网格级" in row["agency_responsible"] and "便民服务" in row["agency_responsible"]
    [first] = _logged(server, incident_id)
    _publish_step(server, first, 2, "dispatched", 3)
    row = _request(server, key, incident_id, until="分派")
    town = geo.label(first.area.town)
    assert row["status"] == "open" and row["agency_responsible"].startswith(f"{town}（镇街级")
    _publish_step(server, first, 3, "handled", 3)
    _publish_step(server, first, 4, "closed", 3)
    row = _request(server, key, incident_id, until="办结")
    assert row["status"] == "closed"
    assert row["updated_datetime"] == (first.ts + timedelta(seconds=4)).isoformat()
    assert row["requested_datetime"] == first.ts.isoformat()
    listed = json.loads(_get(server, "requests.json", key, status="closed").body)
    assert incident_id in [r["service_request_id"] for r in listed]
    listed = json.loads(_get(server, "requests.json", key, status="open").body)
    assert incident_id not in [r["service_request_id"] for r in listed]


def test_search_filters_by_id_code_status_and_dates(server, geo):
    key = _key(server)
    made = [
        json.loads(_post(server, _report(geo, key, n=n, service_code=code)).body)[0]
        for n, code in ((13, "zf02"), (14, "zz04"))
    ]
    ids = [m["service_request_id"] for m in made]
    _request(server, key, ids[1])
    found = json.loads(_get(server, "requests.json", key, service_request_id=",".join(ids)).body)
    assert [r["service_request_id"] for r in found] == ids
    _same_shape(found, SPEC_REQUESTS)
    by_code = json.loads(_get(server, "requests.json", key, service_code="zz04").body)
    assert ids[1] in {r["service_request_id"] for r in by_code}
    assert {r["service_code"] for r in by_code} == {"zz04"}
    later = (datetime.now().astimezone() + timedelta(hours=1)).isoformat(timespec="seconds")
    assert json.loads(_get(server, "requests.json", key, start_date=later).body) == []
    earlier = (datetime.now().astimezone() - timedelta(hours=1)).isoformat(timespec="seconds")
    assert json.loads(_get(server, "requests.json", key, end_date=earlier).body) == []
    assert "start_date" in _errors(_get(server, "requests.json", key, start_date="soon"), 400)
    assert "status" in _errors(_get(server, "requests.json", key, status="pending"), 400)
    xml = _get(server, "requests.xml", key, service_request_id=ids[0])
    _same_elements(xml.body, SPEC_REQUESTS_XML)
    one = _same_elements(_get(server, f"requests/{ids[0]}.xml", key).body, SPEC_REQUESTS_XML)
    assert one[0].findtext("service_request_id") == ids[0]


def test_a_key_sees_only_requests_in_its_scope(server, geo):
    yinzhou, cixi = _key(server, YINZHOU), _key(server, CIXI)
    made = json.loads(_post(server, _report(geo, yinzhou, YINZHOU, 20)).body)[0]
    incident_id = made["service_request_id"]
    _request(server, yinzhou, incident_id)
    assert _get(server, f"requests/{incident_id}.json", cixi).status == 404
    seen = json.loads(_get(server, "requests.json", cixi, service_request_id=incident_id).body)
    assert seen == []
    listed = json.loads(_get(server, "requests.json", cixi).body)
    assert incident_id not in {r["service_request_id"] for r in listed}
    city = json.loads(_get(server, "requests.json", _key(server)).body)
    assert incident_id in {r["service_request_id"] for r in city}
    url = f"{server.url}{BASE}/requests/{incident_id}.json"  # the key in a header instead
    assert fetch(url, Authorization=f"Bearer {yinzhou}").status == 200
    assert fetch(url, Authorization=f"Bearer {cixi}").status == 404
    assert _get(server, f"requests/{incident_id}.json", None).status == 403


# -- personal data, keys, rates ----------------------------------------------------------------
def test_personal_data_is_never_shown_unmasked(server, geo):
    key = _key(server)
    personal = {
        "first_name": "John",
        "last_name": "Smith",
        "email": "john.smith@example.com",
        "phone": "13912345678",
        "address_string": "居民王小明家门口，电话 0574-87654321",
    }
    description = "居民李小红反映路灯不亮，手机13812345678"
    fields = _report(geo, key, n=30, description=description, **personal)
    incident_id = json.loads(_post(server, fields).body)[0]["service_request_id"]
    [step] = _logged(server, incident_id)
    wall = mask_text(step.title) + mask_text(step.detail)  # what every wall and tablet receives
    row = _request(server, key, incident_id)
    api = json.dumps(row, ensure_ascii=False)
    for secret in ("John", "Smith", "john.smith", "13912345678", "13812345678", "李小红",
                   "王小明", "87654321"):  # fmt: skip
        assert secret not in wall, secret
        assert secret not in api, secret
    assert "13912345678" in step.detail  # a duty officer can call back: the wall masks it
    assert "139****5678" in wall and "138****5678" in row["description"]
    assert "example.com" not in api and "电话" not in row["description"]


def test_an_api_key_in_a_url_is_redacted_from_access_logs(server):
    key = _key(server)
    assert _get(server, "services.json", key).status == 200
    assert key.partition(".")[2] not in server.log()
    line = f'127.0.0.1 - - "GET {BASE}/services.json?api_key={key}&x=1 HTTP/1.1" 200 -'
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, "%s", (line,), None)
    assert redact_secrets(record) and key not in record.getMessage()
    assert "api_key=[redacted]&x=1" in record.getMessage()


def test_a_key_over_its_rate_gets_429_with_retry_after(server):
    key = _key(server, rate=1)  # 10 saved up, then 1 a second
    answers = [_get(server, "services.json", key) for _ in range(12)]
    assert answers[0].status == 200
    assert _errors(answers[-1], 429)
    assert int(answers[-1].headers["Retry-After"]) >= 1


# -- a request whose incident has left memory --------------------------------------------------
def test_a_request_archived_out_of_memory_is_still_found_by_its_id(redis_server, geo, tmp_path):
    """A request reported and closed five days ago: the server's history job archives it and
    lets it leave memory; ``requests/<id>`` and a search by id read it from the archive."""
    now = datetime.now(CHINA_TZ)
    at = midnight(now, 5) + timedelta(hours=9)
    grid, lon, lat = _point(geo, YINZHOU, 40)
    old_id = f"o311-{uuid.uuid4().hex[:24]}"
    reported = {
        "kind": "event", "id": old_id, "seq": 1, "type": "reported", "ts": at.isoformat(),
        "category": "bm01", "level": 1, "lon": lon, "lat": lat, "source": "app",
        "area": {"county": grid[:6], "town": grid[:9], "village": grid[:12], "grid": grid},
        "title": "路灯不亮已三天", "detail": "晚上很黑，行人不便。",
        "deadline": (at + timedelta(days=1)).isoformat(),
    }  # fmt: skip
    steps = [
        decode_trusted(line({**reported, "seq": seq, "type": kind, "level": level,
                             "ts": (at + timedelta(hours=hours)).isoformat()}))
        for seq, kind, level, hours in [(1, "reported", 1, 0), (2, "dispatched", 3, 1),
                                        (3, "handled", 3, 5), (4, "closed", 3, 6)]
    ]  # fmt: skip
    prefix = f"o{uuid.uuid4().hex[:10]}"
    client = redis_server.client()
    try:
        logged_at_their_time(Bus(client, prefix=prefix), steps)
    finally:
        client.close()
    with dashboard(redis_server.url, prefix, tmp_path, ONEMAP_ARCHIVE_EVERY_S="2") as server:
        history = _until_evicted(server)
        assert history["evicted"] == 1 and server.health()["incidents"] == 0  # gone from memory
        key, cixi = _key(server, YINZHOU), _key(server, CIXI)
        answer = _get(server, f"requests/{old_id}.json", key)
        assert answer.status == 200, answer.body
        [row] = json.loads(answer.body)
        _same_shape([row], SPEC_REQUESTS)
        assert (row["service_request_id"], row["status"], row["service_code"]) == (
            old_id, "closed", "bm01"
        )  # fmt: skip
        assert row["requested_datetime"] == steps[0].ts.isoformat()
        assert row["updated_datetime"] == steps[-1].ts.isoformat()
        found = json.loads(_get(server, "requests.json", key, service_request_id=old_id).body)
        assert found == [row]
        one = _same_elements(_get(server, f"requests/{old_id}.xml", key).body, SPEC_REQUESTS_XML)
        assert one[0].findtext("status") == "closed"
        # the archive keeps the scope: another county's key finds nothing there either
        assert _get(server, f"requests/{old_id}.json", cixi).status == 404
        assert json.loads(_get(server, "requests.json", cixi, service_request_id=old_id).body) == []


def _until_evicted(server: Dashboard, timeout: float = 60) -> dict:
    """The server's history report once its job has archived the old days and let go."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = server.health()["history"]
        if history["evicted"] > 0 and history["watermark"] != "0-0":
            return history
        time.sleep(0.2)
    raise TimeoutError(f"the history job evicted nothing within {timeout}s:\n{server.log()}")
