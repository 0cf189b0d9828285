"""The ingest API over real HTTP: a real server subprocess, a real Redis, keys made by the CLI.

Scopes, sources and the positions right; retries that append nothing; every bad input of the
contract refused with its reason and never a 500; gzip, NDJSON, 1,000 messages at once; 401,
403, 413, 415, 429; revoked keys; the audit trail.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import re
import threading
import uuid
from typing import Any

import pytest

from dashboard.access.producers import ProducerStore
from feeds.bus import EVENTS, POSITIONS, Bus
from feeds.geo import Geography, contains
from tests.factories import a_grid, event_dict, line, position_dict
from tests.live import CITY, Dashboard, Fetched, dashboard, fetch, run_cli, sign_in
from tests.test_contract import _bad_lines

# Its own servers and Redis, no promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

API = "/api/v1/messages"
YINZHOU, CIXI = "330212", "330282"


@pytest.fixture(scope="module")
def server(redis_server, tmp_path_factory):
    prefix = f"i{uuid.uuid4().hex[:10]}"
    with dashboard(redis_server.url, prefix, tmp_path_factory.mktemp("ingest")) as live:
        yield live


def _store(server: Dashboard) -> ProducerStore:
    return ProducerStore(server.store().client, server.prefix)


def _key(server: Dashboard, scope: str = CITY, **rights: Any) -> str:
    return _store(server).add(f"test-{uuid.uuid4().hex[:6]}", scope, **rights)[1]


def _post(
    server: Dashboard, key: str | None, body: bytes, kind: str = "application/json", **headers: str
) -> Fetched:
    sent = {"Content-Type": kind, **{h.replace("_", "-"): v for h, v in headers.items()}}
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    return fetch(server.url + API, body, **sent)


def _results(answer: Fetched) -> list[dict[str, str]]:
    return json.loads(answer.body)["results"]


def _index_in(geo: Geography, scope: str, skip: int = 0) -> int:
    """A factory index whose grid lies in ``scope``."""
    found = (i for i in range(5000) if contains(scope, a_grid(geo, i)))
    for _ in range(skip):
        next(found)
    return next(found)


def _event(geo: Geography, scope: str, tag: str, n: int = 0, **overrides: Any) -> dict[str, Any]:
    return event_dict(geo, _index_in(geo, scope, n), id=f"{tag}-{n}", **overrides)


def _bus(server: Dashboard) -> Bus:
    return Bus(server.store().client, prefix=server.prefix)


def _log_ids(server: Dashboard, tag: str) -> list[tuple[str, int]]:
    return [
        (e.message.id, e.message.seq)
        for e in _bus(server).replay(EVENTS)
        if e.message.id.startswith(tag)
    ]


def _array(messages: list[dict[str, Any]]) -> bytes:
    return b"[" + b",".join(line(m) for m in messages) + b"]"


# -- keys ---------------------------------------------------------------------------------
def test_producer_cli_prints_the_key_once_and_keeps_only_its_digest(server, geo):
    out = server.cli(
        [
            "producer",
            "add",
            "12345热线",
            "--scope",
            YINZHOU,
            "--sources",
            "hotline_12345",
            "--rate",
            "50",
        ]
    ).stdout.decode()
    producer_id = re.search(r"^producer ([0-9a-f]{12}) ", out, re.M).group(1)
    key = re.search(r"key \(shown once\): (\S+)", out).group(1)
    stored = server.store().client.hgetall(f"{server.prefix}:producer:{producer_id}")
    secret = key.partition(".")[2]
    assert stored[b"digest"] == hashlib.sha256(secret.encode()).hexdigest().encode()
    assert all(secret.encode() not in value for value in stored.values())
    listed = server.cli(["producer", "list"]).stdout.decode()
    assert producer_id in listed and "hotline_12345" in listed and secret not in listed

    tag = f"K{uuid.uuid4().hex[:6]}"
    ok = _event(geo, YINZHOU, tag, source="hotline_12345")
    assert _post(server, key, _array([ok])).status == 200
    server.cli(["producer", "revoke", producer_id])
    again = _post(server, key, _array([_event(geo, YINZHOU, tag, 1, source="hotline_12345")]))
    assert again.status == 401
    assert _log_ids(server, tag) == [(f"{tag}-0", 1)]


def test_unknown_sources_and_scopes_are_refused_by_the_cli(server):
    result = run_cli(
        ["producer", "add", "x", "--scope", CITY, "--sources", "12345"],
        server.redis_url,
        server.prefix,
    )
    assert result.returncode != 0 and b"unknown source" in result.stderr
    result = run_cli(["producer", "add", "x", "--scope", "999999"], server.redis_url, server.prefix)
    assert result.returncode != 0


# -- rights -------------------------------------------------------------------------------
def test_a_county_key_publishes_in_its_county_and_is_refused_elsewhere(server, geo):
    key, tag = _key(server, YINZHOU), f"S{uuid.uuid4().hex[:6]}"
    inside = [_event(geo, YINZHOU, tag, n) for n in range(3)]
    outside = _event(geo, CIXI, tag, 3)
    answer = _post(server, key, _array([inside[0], outside, inside[1], inside[2]]))
    assert answer.status == 200
    statuses = [(r["status"], r.get("reason")) for r in _results(answer)]
    assert statuses == [
        ("accepted", None),
        ("rejected", "out_of_scope"),
        ("accepted", None),
        ("accepted", None),
    ]
    assert sorted(_log_ids(server, tag)) == [(f"{tag}-{n}", 1) for n in range(3)]
    letters = _bus(server).dead_letters(50)
    assert any(r["reason"] == "out_of_scope" and f"{tag}-3" in r["raw"] for r in letters)


def test_a_request_wholly_outside_the_keys_rights_is_forbidden_with_each_reason(server, geo):
    key, tag = _key(server, YINZHOU), f"F{uuid.uuid4().hex[:6]}"
    body = _array([_event(geo, CIXI, tag, 0), {"kind": "event"}, position_dict(geo, 1)])
    answer = _post(server, key, body)
    assert answer.status == 403
    reasons = [r["reason"] for r in _results(answer)]
    assert reasons == ["out_of_scope", "schema", "positions_not_allowed"]
    assert _log_ids(server, tag) == []


def test_a_key_with_sources_takes_only_those(server, geo):
    key = _key(server, CITY, sources=("hotline_12345", "app"))
    tag = f"R{uuid.uuid4().hex[:6]}"
    body = _array(
        [
            _event(geo, CITY, tag, 0, source="hotline_12345"),
            _event(geo, CITY, tag, 1, source="grid_worker"),
            _event(geo, CITY, tag, 2, source="app"),
        ]
    )
    results = _results(_post(server, key, body))
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert results[1]["reason"] == "source_not_allowed"


def test_positions_need_the_right_and_a_grid_in_scope(server, geo):
    events_only, allowed = _key(server, YINZHOU), _key(server, YINZHOU, positions=True)
    here = position_dict(geo, _index_in(geo, YINZHOU), worker=f"W{uuid.uuid4().hex[:8]}")
    there = position_dict(geo, _index_in(geo, CIXI), worker=f"W{uuid.uuid4().hex[:8]}")
    refused = _results(_post(server, events_only, _array([here])))
    assert refused[0]["reason"] == "positions_not_allowed"
    results = _results(_post(server, allowed, _array([here, there])))
    assert [r["status"] for r in results] == ["accepted", "rejected"]
    assert results[1]["reason"] == "out_of_scope"
    workers = {e.message.worker for e in _bus(server).replay(POSITIONS)}
    assert here["worker"] in workers and there["worker"] not in workers


# -- retries --------------------------------------------------------------------------------
def test_a_retried_batch_appends_nothing_and_returns_the_first_stream_ids(server, geo):
    key, tag = _key(server, positions=True), f"D{uuid.uuid4().hex[:6]}"
    batch = [_event(geo, CITY, tag, n) for n in range(20)]
    batch.append(position_dict(geo, 3, worker=f"W{tag}"))
    first = _results(_post(server, key, _array(batch)))
    assert {r["status"] for r in first} == {"accepted"}
    again = _results(_post(server, key, _array(batch)))
    assert [r["status"] for r in again] == ["duplicate"] * len(batch)
    assert [r["sid"] for r in again] == [r["sid"] for r in first]
    assert sorted(_log_ids(server, tag)) == sorted((f"{tag}-{n}", 1) for n in range(20))
    positions = [e for e in _bus(server).replay(POSITIONS) if e.message.worker == f"W{tag}"]
    assert len(positions) == 1


def test_retries_racing_each_other_still_append_each_step_once(server, geo):
    key, tag = _key(server), f"C{uuid.uuid4().hex[:6]}"
    body = _array([_event(geo, CITY, tag, n) for n in range(100)])
    answers: list[Fetched] = []
    senders = [
        threading.Thread(target=lambda: answers.append(_post(server, key, body))) for _ in range(4)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(30)
    assert [a.status for a in answers] == [200] * 4
    sids = [[r["sid"] for r in _results(a)] for a in answers]
    assert all(s == sids[0] for s in sids)
    assert sum(json.loads(a.body)["accepted"] for a in answers) == 100
    assert len(_log_ids(server, tag)) == 100


# -- bad input ------------------------------------------------------------------------------
def test_every_bad_input_of_the_contract_is_refused_with_its_reason_over_http(server, geo):
    key = _key(server, CITY, positions=True)
    bad = _bad_lines(geo)
    before = len(_bus(server).dead_letters(10_000))
    answer = _post(server, key, b"\n".join(raw for _, raw in bad), "application/x-ndjson")
    assert answer.status == 200
    results = _results(answer)
    assert [(r["status"], r["reason"]) for r in results] == [("rejected", r) for r, _ in bad]
    assert all(r["detail"] for r in results)
    letters = _bus(server).dead_letters(10_000)
    assert len(letters) - before == len(bad)
    # the same in a JSON array, for every case a JSON array can hold
    as_json = [(reason, raw) for reason, raw in bad if _is_json(raw)]
    assert len(as_json) >= len(bad) - 2
    results = _results(_post(server, key, b"[" + b",".join(raw for _, raw in as_json) + b"]"))
    assert [r["reason"] for r in results] == [reason for reason, _ in as_json]


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("body", "kind", "encoding", "status"),
    [
        (b"", "application/json", "", 400),
        (b"{}", "application/json", "", 400),
        (b'[{"kind": "event", ', "application/json", "", 400),
        (b"[" * 100_000, "application/json", "", 400),
        (b"\xff\xfe\x00", "application/json", "", 400),
        (b"[]", "text/plain", "", 415),
        (b"[]", "application/json", "br", 415),
        (b"not gzip at all", "application/json", "gzip", 400),
        (gzip.compress(b"[]", mtime=0)[:-6], "application/json", "gzip", 400),
        (b'[1, null, "x", [], {}]', "application/json", "", 200),
        (bytes(range(256)), "application/x-ndjson", "", 200),
    ],
)
def test_unparseable_bodies_are_refused_never_a_server_error(server, body, kind, encoding, status):
    headers = {"Content-Encoding": encoding} if encoding else {}
    answer = _post(server, _key(server), body, kind, **headers)
    assert answer.status == status, answer.body
    assert "error" in json.loads(answer.body) or json.loads(answer.body)["rejected"] > 0


# -- volume and formats ---------------------------------------------------------------------
def test_a_thousand_messages_in_one_request_gzip_and_ndjson(server, geo):
    key, tag = _key(server, rate=10_000), f"V{uuid.uuid4().hex[:6]}"
    messages = [event_dict(geo, n, id=f"{tag}-{n}") for n in range(1000)]
    answer = _post(server, key, gzip.compress(_array(messages)), Content_Encoding="gzip")
    assert answer.status == 200, answer.body[:500]
    assert json.loads(answer.body)["accepted"] == 1000
    ndjson = b"\r\n".join(line(event_dict(geo, n, id=f"{tag}-n{n}")) for n in range(300)) + b"\n"
    answer = _post(
        server, key, gzip.compress(ndjson), "application/x-ndjson", Content_Encoding="gzip"
    )
    assert json.loads(answer.body)["accepted"] == 300
    assert len(_log_ids(server, tag)) == 1300


def test_requests_too_big_are_refused_before_they_are_read_or_inflated(server):
    key = _key(server, rate=100_000)
    too_many = b"\n".join([b"{}"] * 5001)
    assert _post(server, key, too_many, "application/x-ndjson").status == 413
    # Refused on its Content-Length alone: the answer comes before a byte of the body is sent.
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest("POST", API)
        for name, value in (
            ("Authorization", f"Bearer {key}"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(4 * 2**20 + 1)),
        ):
            connection.putheader(name, value)
        connection.endheaders()
        assert connection.getresponse().status == 413
    finally:
        connection.close()
    bomb = gzip.compress(b"[" + b" " * (9 * 2**20) + b"]")
    assert len(bomb) < 100_000
    assert _post(server, key, bomb, Content_Encoding="gzip").status == 413


def test_no_key_a_wrong_key_or_a_session_is_not_enough(server, geo):
    body = _array([event_dict(geo, 1, id=f"N{uuid.uuid4().hex[:6]}")])
    key = _key(server)
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    for auth in (None, "", key, "omp_000000000000.x", forged):
        headers = {"Authorization": auth} if auth is not None else {}  # `key` without "Bearer"
        answer = fetch(server.url + API, body, **{"Content-Type": "application/json", **headers})
        assert answer.status == 401, auth
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    server.add_user("ingest-admin", "admin", CITY, cli=False)
    cookie = sign_in(server, "ingest-admin")
    answer = fetch(server.url + API, body, cookie, **{"Content-Type": "application/json"})
    assert answer.status == 401
    assert (
        fetch(
            server.url + API,
            body,
            Authorization=f"bearer {key}",
            **{"Content-Type": "application/json"},
        ).status
        == 200
    )


def test_a_key_over_its_rate_waits_and_every_replica_shares_its_bucket(server, geo):
    key, tag = _key(server, rate=1), f"L{uuid.uuid4().hex[:6]}"  # 10 saved up, then 1 a second
    batch = _array([_event(geo, CITY, tag, n) for n in range(11)])
    assert _post(server, key, batch).status == 200
    answer = _post(server, key, _array([_event(geo, CITY, tag, 11)]))
    assert answer.status == 429
    assert int(answer.headers["Retry-After"]) >= 1
    producer_id = key[4:16]
    assert server.store().client.exists(f"{server.prefix}:producer-bucket:{producer_id}")
    assert len(_log_ids(server, tag)) == 11


def test_every_use_is_audited_with_its_counts_and_address(server, geo):
    key, tag = _key(server, YINZHOU), f"A{uuid.uuid4().hex[:6]}"
    producer_id = key[4:16]
    body = _array([_event(geo, YINZHOU, tag, 0), _event(geo, CIXI, tag, 1)])
    _post(server, key, body)
    _post(server, key, body)
    _post(server, "omp_0123456789ab.nope", body)
    rows = server.store().audit_tail(200)
    mine = [r for r in rows if r.get("producer") == producer_id and r["event"] == "ingest"]
    assert [(r["accepted"], r["duplicate"], r["rejected"], r["status"]) for r in mine] == [
        ("0", "1", "1", "200"),
        ("1", "0", "1", "200"),
    ]
    assert all(r["ip"] == "127.0.0.1" and r["messages"] == "2" for r in mine)
    assert any(r["event"] == "ingest_refused" and r.get("status") == "401" for r in rows)


def test_openapi_document_is_for_key_holders_only(server):
    assert fetch(server.url + "/api/v1/openapi.json").status == 401
    answer = fetch(server.url + "/api/v1/openapi.json", Authorization=f"Bearer {_key(server)}")
    assert answer.status == 200
    document = json.loads(answer.body)
    assert document["openapi"].startswith("3.")
    responses = document["paths"][API]["post"]["responses"]
    assert {"200", "400", "401", "403", "413", "429"} <= set(responses)
