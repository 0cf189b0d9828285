"""Hostile and extreme data, part two (issue 14, findings 4, 6 and 8): each case was an attack
or an odd but valid message that broke something, and fails on the code before its fix.

4. A far deadline (or a time at datetime's ends) once passed the contract, then made every
   export 500 and every duty-table block that held it go unanswered.
6. ``onemap audit`` and ``onemap deadletter`` printed outside text raw: terminal escapes (OSC 52
   writes the clipboard) reached the operator's terminal.
8. Bidi and line controls in titles, repeated JSON keys, socket handlers that raised on a
   payload of the wrong shape, Excel cells with a literal quote.

Real Redis (tests/conftest.py), the app built as the server builds it, Flask's and
Flask-SocketIO's in-process clients signed in through the real login form; no mocks.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from feeds.schema import EventMessage, PositionMessage, Rejection, decode_trusted, validate
from tests.factories import event_dict, line, position_dict

# No promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

CITY = "330200"
PASSWORD = "a long enough test password"
NOW = datetime.now(UTC).replace(microsecond=0)
# What an attacker writes to reach a terminal: OSC 52 (set the clipboard), a clear screen,
# a C1 CSI (U+009B) and a right-to-left override.
HOSTILE = "ops\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J\x9b31m\u202eevil"


def _controls(text: str) -> list[str]:
    """Characters a terminal acts on (tab and newline aside: the CLI's own separators)."""
    return [
        c
        for c in text
        if c not in "\t\n"
        and (
            unicodedata.category(c) == "Cc"
            or c in "\u061c\u200e\u200f\u2028\u2029"
            or 0x202A <= ord(c) <= 0x202E
            or 0x2066 <= ord(c) <= 0x2069
        )
    ]


@pytest.fixture
def desk(redis_server, prefix):
    """The app (bridge not started), an HTTP client and a socket signed in as a city duty
    officer through the real login form."""
    from dashboard.config import Settings
    from onemap.app import create_app

    app = create_app(Settings(redis_url=redis_server.url, prefix=prefix, cookie_secure=False))
    app.access.store.add_user("duty1", "duty", CITY, PASSWORD, "值班员")
    http = app.server.test_client()
    form = http.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    signed = http.post(
        "/login", data={"csrf_token": token, "username": "duty1", "password": PASSWORD}
    )
    assert signed.status_code == 302, signed.get_data(as_text=True)[:200]
    socket = app.socketio.test_client(app.server, flask_test_client=http)
    assert socket.is_connected()
    try:
        yield app, http, socket
    finally:
        socket.disconnect()


def _log_past_the_contract(app, messages: list[dict]) -> None:
    """Append steps straight to the log, as a log written before the contract bounded them
    holds them, then fold it as a restarted server does."""
    for message in messages:
        app.bus.publish(decode_trusted(line(message)))
    app.hub.bridge.rebuild()


# -- 4. times the views cannot convert -------------------------------------------------------
def _iso(delta: timedelta) -> str:
    return (NOW + delta).isoformat()


@pytest.mark.parametrize(
    "overrides",
    [
        {"deadline": "9999-12-31T23:59:59+00:00"},
        {"deadline": _iso(timedelta(days=400))},
        {"type": "dispatched", "seq": 2, "deadline": "0001-01-01T00:00:00+14:00"},
        {"type": "closed", "seq": 3, "deadline": _iso(-timedelta(days=3700))},
        {"ts": "0001-01-01T00:00:00+14:00"},
        {"ts": "9999-12-31T23:59:59-12:00"},
    ],
    ids=["deadline-9999", "deadline-400d", "deadline-year-1", "overdue-10y", "ts-1", "ts-9999"],
)
def test_contract_refuses_times_out_of_a_sane_span_of_their_step(geo, overrides):
    got = validate(line(event_dict(geo, **{"ts": _iso(-timedelta(minutes=1)), **overrides})), geo)
    assert isinstance(got, Rejection), got
    assert got.reason == "bad_timestamp", got


@pytest.mark.parametrize(
    "overrides",
    [
        {"deadline": _iso(timedelta(days=300))},  # a long limit, still within a year
        {"type": "closed", "seq": 4, "deadline": _iso(-timedelta(days=200))},  # long overdue
    ],
)
def test_contract_still_takes_long_limits_and_long_overdue_steps(geo, overrides):
    assert isinstance(validate(line(event_dict(geo, **overrides)), geo), EventMessage)


def test_exports_and_duty_rows_answer_with_an_incident_whose_times_cannot_be_converted(desk, geo):
    app, http, socket = desk
    _log_past_the_contract(
        app,
        [
            event_dict(geo, 1, id="FAR-DEADLINE", deadline="9999-12-31T23:59:59+00:00"),
            event_dict(
                geo,
                2,
                id="YEAR-ONE",
                seq=2,
                type="dispatched",
                deadline="0001-01-01T00:00:00+14:00",
            ),
            event_dict(geo, 3, id="ORDINARY"),
        ],
    )
    for fmt in ("csv", "xlsx"):
        answer = http.get(f"/api/duty/export.{fmt}")
        assert answer.status_code == 200, (fmt, answer.status_code)
        if fmt == "csv":
            body = answer.get_data().decode("utf-8-sig")
            for incident in ("FAR-DEADLINE", "YEAR-ONE", "ORDINARY"):
                assert incident in body, fmt
            assert "9999-12-31 23:59" in body  # the time as it came (no zone to move to)
    reply = socket.emit("duty_rows", {"start": 0, "end": 100, "points": True}, callback=True)
    assert reply is not None, "no answer: the handler raised"
    assert reply["ok"] is True and reply["total"] == 3
    shown = {r["id"]: r for r in reply["rows"]}
    assert set(shown) == {"FAR-DEADLINE", "YEAR-ONE", "ORDINARY"}
    assert shown["ORDINARY"]["deadline"] != ""
    assert shown["FAR-DEADLINE"]["deadline"] == "9999-12-31T23:59:59+00:00"
    reply = socket.emit("duty_rows", {"sort": "deadline", "dir": "asc"}, callback=True)
    assert reply is not None and [r["id"] for r in reply["rows"]][0] == "YEAR-ONE"


def test_one_row_that_cannot_be_rendered_is_given_as_text_not_the_block_lost(geo):
    from dashboard.state import State
    from dashboard.views.search import Marks
    from dashboard.views.table import rows

    state = State(geo)
    for n, e in enumerate([event_dict(geo, 1, id="GOOD"), event_dict(geo, 2, id="BROKEN")]):
        state.apply_event(f"{n + 1}-0", decode_trusted(line(e)))
    state.incidents["BROKEN"].category = "zz99"  # a code the catalogue does not know
    table, plain = rows(list(state.incidents.values()), geo, NOW, Marks(), reveal=True)
    assert plain == 1
    assert [r["id"] for r in table] == ["GOOD", "BROKEN"]
    assert table[1]["category"] == "zz99" and table[1]["title"]


# -- 6. terminal escapes in what the CLI prints ----------------------------------------------
def test_audit_prints_a_login_name_anyone_typed_with_its_controls_escaped(
    desk, redis_server, prefix, monkeypatch, capsys
):
    from onemap.cli import main

    app, _http, _socket = desk
    stranger = app.server.test_client()
    form = stranger.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    refused = stranger.post(
        "/login", data={"csrf_token": token, "username": HOSTILE, "password": "wrong password"}
    )
    assert refused.status_code == 401
    monkeypatch.setenv("ONEMAP_REDIS_URL", redis_server.url)
    monkeypatch.setenv("ONEMAP_PREFIX", prefix)
    capsys.readouterr()
    assert main(["audit", "--count", "10"]) == 0
    out = capsys.readouterr().out
    assert "ops\\x1b]52;c;ZWNobyBwd25lZA==\\x07\\x1b[2J\\x9b31m\\u202eevil" in out
    assert _controls(out) == []


def test_deadletter_prints_a_rejected_message_with_its_controls_escaped(
    bus, geo, redis_server, prefix, monkeypatch, capsys
):
    from onemap.cli import main

    # Raw bytes, as anyone with the inbox can add them: not JSON (controls inside a string)
    raw = b'{"kind": "event", "id": "' + HOSTILE.encode() + b'"}'
    assert bus.ingest(raw, geo).reason == "bad_json"
    monkeypatch.setenv("ONEMAP_REDIS_URL", redis_server.url)
    monkeypatch.setenv("ONEMAP_PREFIX", prefix)
    capsys.readouterr()
    assert main(["deadletter"]) == 0
    out = capsys.readouterr().out
    assert "\\x1b]52;c;ZWNobyBwd25lZA==\\x07" in out
    assert _controls(out) == []
    assert len(out.splitlines()) == 1  # one line per rejected message, whatever it held


def test_printable_escapes_every_control_and_leaves_chinese_alone():
    from dashboard.ops.printable import printable

    hostile = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0)])) + "\u202e\u2066\u200f\u2028"
    shown = printable(hostile + "井盖缺失 ok")
    assert _controls(shown) == [] and "\t" not in shown and "\n" not in shown
    assert shown.endswith("\\u202e\\u2066\\u200f\\u2028井盖缺失 ok")
    assert printable("\x1b") == "\\x1b" and printable("\x9b") == "\\x9b"


# -- 8. bidi and line controls, repeated keys, malformed socket payloads, Excel quotes --------
@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("title", "井盖\u202e失缺"),  # RIGHT-TO-LEFT OVERRIDE: shown reversed on the walls
        ("title", "井盖\u2067缺失"),  # RIGHT-TO-LEFT ISOLATE
        ("title", "井盖\u200f缺失"),  # RIGHT-TO-LEFT MARK
        ("title", "井盖\t缺失"),
        ("title", "井盖\r缺失"),
        ("title", "井盖\n缺失"),
        ("title", "井盖\u2028缺失"),  # LINE SEPARATOR
        ("detail", "详情\u202e反转"),
        ("detail", "详情\x1b[31m"),
    ],
)
def test_contract_refuses_bidi_and_line_controls_in_titles(geo, field, text):
    got = validate(line(event_dict(geo, **{field: text})), geo)
    assert isinstance(got, Rejection) and got.reason == "bad_text", got


def test_contract_keeps_tabs_and_line_breaks_in_a_detail(geo):
    got = validate(line(event_dict(geo, detail="第一行\r\n第二行\t附注")), geo)
    assert isinstance(got, EventMessage)


def _with(raw: bytes, extra: bytes, where: bytes = b"}") -> bytes:
    """``raw`` with ``extra`` added at the end of the object that ends at ``where``."""
    at = raw.rindex(where) if where == b"}" else raw.index(where) + len(where)
    return raw[:at] + extra + raw[at:]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda raw: _with(raw, b', "title": "repeated"'),
        lambda raw: _with(raw, b',"title" : "spaced"'),
        lambda raw: _with(raw, b', "\\u0074itle": "escaped"'),  # the same key, spelt \u0074
        lambda raw: _with(raw, b'"town": "330212001", ', b'"area": {'),
        lambda raw: _with(raw, b', "kind": "event"'),
        lambda raw: _with(raw, b', "reporter": null, "reporter": null'),
        lambda raw: _with(raw, b', "severity": null'),  # given, then null: the last one wins
    ],
    ids=["plain", "spaced", "escaped", "nested", "tag", "nulls", "then-null"],
)
def test_contract_refuses_a_key_given_twice(geo, mutate):
    raw = mutate(line(event_dict(geo)))
    json.loads(raw)  # still JSON
    got = validate(raw, geo)
    assert isinstance(got, Rejection) and got.reason == "schema", got
    assert "twice" in got.detail


@pytest.mark.parametrize("title", ['称"井盖"缺失', "路径C:\\temp\\", '引号"与反斜杠\\'])
def test_contract_refuses_a_repeated_key_whatever_quotes_and_backslashes_the_text_holds(geo, title):
    raw = _with(line(event_dict(geo, title=title)), b', "severity": "urgent"')
    got = validate(raw, geo)
    assert isinstance(got, Rejection) and got.reason == "schema", got


def test_contract_refuses_a_repeated_key_in_a_position_too(geo):
    raw = _with(line(position_dict(geo)), b', "status": "offline"')
    got = validate(raw, geo)
    assert isinstance(got, Rejection) and got.reason == "schema", got


@pytest.mark.parametrize(
    "raw",
    [
        lambda geo: json.dumps(event_dict(geo, title='称"井盖"缺失：路口')).encode(),
        lambda geo: line(event_dict(geo, title='路径"C:\\temp\\"', detail='"\\"')),
        lambda geo: json.dumps(event_dict(geo, reporter=None, severity=None, detail=""), indent=2),
        lambda geo: json.dumps({**event_dict(geo), "area": {**event_dict(geo)["area"]}}),
        lambda geo: json.dumps(position_dict(geo, battery=None, accuracy=None), indent=1),
    ],
    ids=["quotes", "backslashes", "explicit-defaults-pretty", "ascii-escapes", "position-nulls"],
)
def test_contract_takes_messages_whose_keys_are_all_distinct(geo, raw):
    assert isinstance(validate(raw(geo), geo), EventMessage | PositionMessage)


NO_PAYLOAD = object()
MALFORMED = {
    "nothing": NO_PAYLOAD,
    "string": "not an object",
    "list": ["a", "list"],
    "number": 12,
    "null": None,
    "operator": {"scope": {"$ne": 1}},
}
HANDLERS = ["incident", "duty_rows", "risks", "trends", "act", "leaders"]
WRONG_TYPES = [
    pytest.param("incident", {"id": ["FAR"]}, id="incident-id-list"),
    pytest.param(
        "duty_rows",
        {"filter": {"cat": 5, "level": {"a": 1}, "q": ["x"]}, "start": 1e400},
        id="duty_rows-filter-number-start-infinity",
    ),
    pytest.param("risks", {"scope": None}, id="risks-scope-null"),
    pytest.param("trends", {"scope": CITY, "days": 1e400}, id="trends-days-infinity"),
    pytest.param("trends", {"scope": CITY, "days": "seven"}, id="trends-days-word"),
    pytest.param("act", {"verb": ["note"], "incident": "X-1", "text": "x"}, id="act-verb-list"),
    pytest.param(
        "act", {"verb": "cast", "incident": "X-1", "seconds": 1e400}, id="act-seconds-infinity"
    ),
    pytest.param("act", {"verb": "note", "incident": "X-1", "text": {"$ne": 1}}, id="act-text"),
    pytest.param("leaders", {"area": ["330212"]}, id="leaders-area-list"),
]


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        pytest.param(event, payload, id=f"{event}-{name}")
        for event in HANDLERS
        for name, payload in MALFORMED.items()
    ]
    + WRONG_TYPES,
)
def test_every_socket_handler_answers_a_malformed_payload(desk, geo, event, payload):
    app, _http, socket = desk
    _log_past_the_contract(app, [event_dict(geo, 1, id="X-1")])
    args = () if payload is NO_PAYLOAD else (payload,)
    reply = socket.emit(event, *args, callback=True)
    assert isinstance(reply, dict) and "ok" in reply, f"no answer: the handler raised ({reply})"
    if payload is not NO_PAYLOAD and not isinstance(payload, dict) and event != "leaders":
        assert reply["ok"] is False, reply


def test_excel_cells_hold_the_text_without_a_quote_and_never_a_formula(desk, geo):
    from openpyxl import load_workbook

    app, http, _socket = desk
    titles = {"F-EQ": "=1+2 井盖缺失", "F-AT": "@SUM(A1) 路灯", "F-MINUS": "-3号楼漏水"}
    _log_past_the_contract(
        app, [event_dict(geo, n, id=key, title=t) for n, (key, t) in enumerate(titles.items())]
    )
    answer = http.get("/api/duty/export.xlsx")
    assert answer.status_code == 200
    body = answer.get_data()
    sheet = load_workbook(io.BytesIO(body))["事件"]
    header = [c.value for c in sheet[1]]
    found = {}
    for cells in sheet.iter_rows(min_row=2):
        by_name = dict(zip(header, cells, strict=True))
        found[by_name["事件编号"].value] = by_name["标题"]
    for key, title in titles.items():
        assert found[key].value == title  # no literal quote in front
        assert found[key].data_type == "s"
    xml = zipfile.ZipFile(io.BytesIO(body)).read("xl/worksheets/sheet1.xml").decode()
    # no formula but the export's own: hours left, on its row's deadline (column K) only
    formulas = re.findall(r'<c r="([A-Z]+)(\d+)"[^>]*>\s*<f>([^<]*)</f>', xml)
    assert formulas and all(
        col == "M" and f == f"ROUND((K{n}-NOW())*24,1)" for col, n, f in formulas
    ), formulas
    assert xml.count("<f") == len(formulas)
    csv_body = http.get("/api/duty/export.csv").get_data().decode("utf-8-sig")
    assert "'=1+2 井盖缺失" in csv_body  # a CSV has no types: the quote is its only defence
