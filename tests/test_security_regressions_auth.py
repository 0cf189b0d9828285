"""Security regressions of issue 14 (findings 1, 2, 3 and 7): the sign-in doors under attack.

Each test was seen to fail on the code before its fix. They run the app as the server builds it
(``create_app``), through Flask's in-process test client, on the real Redis of the fixtures: the
counters, scripts and streams they exercise are the real ones. A test client's address is set
per client (``REMOTE_ADDR``), which is what the server sees of a browser behind no proxy.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from urllib.parse import urljoin, urlsplit

import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.access.auth import _safe_next
from dashboard.config import Settings
from onemap.app import OneMap, create_app
from tests.live import CITY, PASSWORD

# No promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

YINZHOU = "330212"
OFFICER = "officer"
ORIGIN = "http://onemap.test"


@pytest.fixture
def make_app(redis_server, prefix):
    def build(**overrides: object) -> OneMap:
        settings = Settings(
            redis_url=redis_server.url, prefix=prefix, cookie_secure=False, **overrides
        )
        return create_app(settings)

    return build


@pytest.fixture
def app(make_app) -> OneMap:
    built = make_app()
    built.access.store.add_user(OFFICER, "duty", CITY, PASSWORD)
    return built


def _client(app: OneMap, address: str = "127.0.0.1") -> FlaskClient:
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _csrf(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path, headers={"Accept": "text/html"}).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _sign_in(client: FlaskClient, name: str = OFFICER, password: str = PASSWORD, nxt: str = ""):
    form = {"csrf_token": _csrf(client), "username": name, "password": password, "next": nxt}
    return client.post("/login", data=form)


def _as_a_browser_reads(location: str) -> tuple[str, str]:
    """(scheme, host) a browser on ORIGIN goes to for this Location (the WHATWG URL parser:
    leading and trailing C0 controls and spaces trimmed, tab/CR/LF dropped anywhere, a
    backslash read as a slash)."""
    trimmed = location.strip("".join(map(chr, range(0x21))))
    cleaned = re.sub(r"[\t\n\r]", "", trimmed).replace("\\", "/")
    target = urlsplit(urljoin(f"{ORIGIN}/login", cleaned))
    return target.scheme, target.netloc


# -- finding 1: open redirect ---------------------------------------------------------------
OFF_SITE = [
    "/\t/evil.example",  # the reported one: browsers drop the tab and read //evil.example
    "/\n/evil.example",  # answered with a 500
    "/\r/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    " //evil.example",
    "\x00//evil.example",
    "/\x0b/evil.example",
    "//evil.example/x",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t\\evil.example",
    "https://evil.example",
    "https:evil.example",
    "HTTPS://evil.example",
    "javascript:alert(1)",
    " javascript:alert(1)",
    "/\u2028/evil.example",
    "/\u00a0/evil.example",
    "evil.example",
]


def test_sign_in_never_redirects_off_site_however_next_is_spelled(app):
    officer = _client(app)
    assert _sign_in(officer).status_code == 302
    for evil in OFF_SITE:
        # A signed-in visit to /login follows ``next`` at once: the shortest way off-site.
        answer = officer.get("/login", query_string={"next": evil})
        assert answer.status_code == 302, repr(evil)
        assert answer.headers["Location"] == "/wall", repr(evil)
    fresh = _client(app)
    answer = _sign_in(fresh, nxt="/\t/evil.example")
    assert answer.status_code == 302 and answer.headers["Location"] == "/wall"


def test_sign_in_still_returns_to_same_site_paths(app):
    officer = _client(app)
    assert _sign_in(officer, nxt="/wall?area=330212001").headers["Location"] == (
        "/wall?area=330212001"
    )
    for kept in ("/duty?q=%E5%BC%A0&page=2", "/tablet", "/wall?tour=1#x", "/%2F%2Fstill-a-path"):
        assert officer.get("/login", query_string={"next": kept}).headers["Location"] == kept


# What comes before a host name in the tricks above, in any order, then a host-like tail.
LEADS = ["/", "\\", "\t", "\n", "\r", " ", "\x00", "\x0b", "\u3000", ".", ":", "%2F", "https:"]
TAILS = ["evil.example", "evil.example/x", "@evil.example", "wall?area=330212"]


def test_a_wall_link_on_a_double_slash_path_stays_on_this_site(app):
    _kiosk, token = app.access.store.add_kiosk(YINZHOU, "鄞州大屏")
    wall = _client(app)
    answer = wall.get("/", environ_overrides={"PATH_INFO": "//evil.example/"},
                      query_string={"kiosk": token})
    assert answer.status_code == 302
    assert _as_a_browser_reads(answer.headers["Location"]) == ("http", "onemap.test")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(LEADS), min_size=1, max_size=5), st.sampled_from(TAILS))
def test_any_next_a_browser_reads_stays_on_this_site(leads, tail):
    next_url = "".join(leads) + tail
    safe = _safe_next(next_url)
    assert safe in (next_url, "/wall")
    assert _as_a_browser_reads(safe) == ("http", "onemap.test"), repr(next_url)


# -- finding 2: throttling without lock-out -------------------------------------------------
def test_failed_sign_ins_for_a_name_do_not_lock_its_owner_out(make_app):
    app = make_app(login_rate="3/minute")
    app.access.store.add_user(OFFICER, "duty", CITY, PASSWORD)
    desk = _client(app, "10.0.0.5")  # the officer's own workstation, signed in from before
    assert _sign_in(desk).status_code == 302
    desk.post("/logout", data={"csrf_token": desk.get("/api/csrf").get_json()["token"]})

    attacker = _client(app, "203.0.113.9")
    assert [_sign_in(attacker, password=f"guess {i}").status_code for i in range(4)] == [
        401, 401, 401, 429,
    ]
    # Spread over many addresses, each one gets one guess at the name while it is under attack.
    botnet = [_client(app, f"198.51.100.{n}") for n in range(1, 8)]
    assert [_sign_in(bot, password="guess").status_code for bot in botnet] == [401] * 7
    assert [_sign_in(bot, password="guess").status_code for bot in botnet] == [429] * 7

    # The right password still works from the officer's desk and from a colleague's new desk.
    assert _sign_in(_client(app, "10.0.0.5")).status_code == 302
    assert _sign_in(_client(app, "10.0.0.77")).status_code == 302
    # That success cleared the name's backoff: an address that failed for it may try again.
    assert _sign_in(botnet[0], password="guess").status_code == 401
    # The address limit is untouched by someone else's success.
    assert _sign_in(attacker).status_code == 429


def test_one_address_trying_many_names_is_throttled(make_app):
    app = make_app(login_rate="3/minute")
    sprayer = _client(app, "203.0.113.50")
    statuses = [_sign_in(sprayer, f"user{i}", "guess").status_code for i in range(5)]
    assert statuses == [401, 401, 401, 429, 429]


def test_concurrent_bad_tries_never_pass_the_limit(make_app):
    app = make_app(login_rate="10/minute")
    app.access.store.add_user(OFFICER, "duty", CITY, PASSWORD)
    clients = [_client(app, "203.0.113.77") for _ in range(40)]
    tokens = [_csrf(client) for client in clients]
    start = threading.Barrier(len(clients))
    statuses: list[int] = []

    def guess(client: FlaskClient, token: str) -> None:
        form = {"csrf_token": token, "username": OFFICER, "password": "guess"}
        start.wait()
        statuses.append(client.post("/login", data=form).status_code)

    pairs = zip(clients, tokens, strict=True)
    threads = [threading.Thread(target=guess, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert Counter(statuses) == {401: 10, 429: 30}


# -- finding 3: audit flooding --------------------------------------------------------------
def test_anonymous_refusals_cannot_push_real_actions_out_of_the_audit_trail(
    make_app, monkeypatch
):
    # Counted per hour rather than per minute, so the test does not straddle two windows.
    monkeypatch.setattr("dashboard.access.store.ANONYMOUS_WINDOW_S", 3600, raising=False)
    app = make_app(audit_maxlen=50)
    app.access.store.add_user(OFFICER, "duty", CITY, PASSWORD)
    assert _sign_in(_client(app, "10.0.0.5")).status_code == 302
    flood = _client(app, "203.0.113.9")
    for _ in range(600):
        assert flood.get("/anything?kiosk=junk").status_code == 403
    for n in range(1, 31):
        assert _client(app, f"198.51.100.{n}").get("/wall?kiosk=junk").status_code == 403

    trail = app.access.store.audit_tail(2000)
    assert [e["user"] for e in trail if e["event"] == "login"] == [OFFICER]
    refused = [e for e in trail if e["event"] == "kiosk_refused"]
    from_flood = [e for e in refused if e["ip"] == "203.0.113.9"]
    # One entry when an address starts, then one at 10, 100, 1000, … in the same minute.
    assert sorted(int(e["count"]) for e in from_flood) == [1, 10, 100]
    assert len(refused) == 3 + 30


# -- finding 7: a kiosk link never replaces a person's session ------------------------------
def test_a_wall_link_does_not_replace_a_signed_in_persons_session(app):
    _kiosk, token = app.access.store.add_kiosk(YINZHOU, "鄞州大屏")
    officer = _client(app)
    assert _sign_in(officer).status_code == 302
    page = officer.get(f"/wall?tour=1&kiosk={token}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'action="/kiosk"' in text and 'method="post"' in text and "鄞州大屏" in text
    assert officer.get("/duty", headers={"Accept": "text/html"}).status_code == 200
    # A forged or revoked link leaves the session alone too.
    assert officer.get("/wall?kiosk=0123456789ab.forged").status_code == 403
    assert officer.get("/duty", headers={"Accept": "text/html"}).status_code == 200


def test_a_person_switches_to_the_wall_only_by_a_csrf_checked_post(app):
    _kiosk, token = app.access.store.add_kiosk(YINZHOU, "鄞州大屏")
    officer = _client(app)
    assert _sign_in(officer).status_code == 302
    old_cookie = officer.get_cookie("onemap").value
    page = officer.get(f"/wall?tour=1&kiosk={token}", headers={"Accept": "text/html"})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    form = {"kiosk": token, "next": "/wall?tour=1"}
    assert officer.post("/kiosk", data=form).status_code == 400
    assert officer.get("/duty", headers={"Accept": "text/html"}).status_code == 200
    switched = officer.post("/kiosk", data={**form, "csrf_token": csrf})
    assert switched.status_code == 302 and switched.headers["Location"] == "/wall?tour=1"
    assert officer.get("/duty", headers={"Accept": "text/html"}).status_code == 403
    # The person's session ended with the switch: a copy of its cookie is worthless.
    copy = _client(app)
    copy.set_cookie("onemap", old_cookie)
    assert copy.get("/api/csrf").status_code == 401


def test_a_signed_out_or_wall_browser_takes_a_wall_link_at_once(app):
    _first, token = app.access.store.add_kiosk(YINZHOU, "鄞州大屏")
    _second, other = app.access.store.add_kiosk(CITY, "市大屏")
    wall = _client(app)
    answer = wall.get(f"/wall?tour=1&kiosk={token}", headers={"Accept": "text/html"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/wall?tour=1"
    answer = wall.get(f"/wall?kiosk={other}", headers={"Accept": "text/html"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/wall"
    kinds = [e["display"] for e in app.access.store.audit_tail(10) if e["event"] == "kiosk_signin"]
    assert kinds == ["市大屏", "鄞州大屏"]
