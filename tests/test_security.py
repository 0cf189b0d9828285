"""Nothing for the anonymous, headers on every response, and hostile text that stays text.

Every route the real app registers is asked for without a session; sockets are opened without
one and from a foreign origin; and a real Chromium shows incidents whose titles carry script and
HTML injection payloads (Chinese text around them too) while the page's CSP is on.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import dash
import pytest
import socketio

from dashboard.access.privacy import mask_text
from dashboard.config import Settings
from dashboard.web.security import content_security_policy
from onemap.app import create_app
from tests.factories import event_dict, line
from tests.live import CITY, PASSWORD, dashboard, fetch, run_cli, sign_in

# Its own servers and Redis, no promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

ROOT = Path(__file__).resolve().parent.parent
# + the tablet's web app manifest and the favicon: browsers fetch them without the cookie
PUBLIC = {"/login", "/login.css", "/healthz", "/readyz", "/livez"}  # + probes
PUBLIC |= {"/manifest.webmanifest", "/favicon.ico"}
HEADERS = {
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Permissions-Policy",
    "Cache-Control",
}
# Each runs code or loads something if it is ever parsed as HTML or followed as a link.
HOSTILE_TITLES = [
    "<script>window.__pwned=1</script>市民投诉噪音扰民",
    '<img src=x onerror="window.__pwned=2">路灯不亮已三天',
    '"><svg onload=window.__pwned=3>井盖缺失有危险',
    "javascript:window.__pwned=4//占道经营",
    '居民反映<iframe srcdoc="<script>parent.__pwned=5</script>">垃圾未清',
    '投诉<a href="javascript:window.__pwned=6">点击查看</a>详情',
    "{{constructor.constructor('window.__pwned=7')()}}违建",
    "<style>body{display:none}</style>河道污染<b>严重</b>",
]


@pytest.fixture(scope="module")
def server(redis_server, tmp_path_factory):
    prefix = f"s{uuid.uuid4().hex[:10]}"
    with dashboard(redis_server.url, prefix, tmp_path_factory.mktemp("security")) as live:
        yield live


def _rules(redis_url: str, prefix: str) -> list[tuple[str, set[str]]]:
    """Every URL the real app serves, with placeholders filled: (path, methods)."""
    app = create_app(Settings(redis_url=redis_url, prefix=prefix))
    found = []
    for rule in app.server.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: {"code": CITY}.get(m[1], "x1"), rule.rule)
        found.append((path, set(rule.methods or ()) - {"HEAD", "OPTIONS"}))
    # Dash pages live behind one catch-all rule: ask for each by its own path too.
    found += [(page["path"], {"GET"}) for page in dash.page_registry.values()]
    return found


def test_every_route_gives_the_anonymous_only_the_login_page_or_a_refusal(server, geo):
    secret = f"仅限登录可见{uuid.uuid4().hex[:6]}"
    raw = line(event_dict(geo, 11, id=f"S-{uuid.uuid4().hex[:8]}", title=secret))
    assert run_cli(["publish"], server.redis_url, server.prefix, raw + b"\n").returncode == 0
    rules = _rules(server.redis_url, server.prefix)
    assert {"/wall", "/_dash-layout", "/_dash-update-component", "/api/incident/x1"} <= {
        p for p, _ in rules
    }
    for path, methods in rules:
        for method in methods:
            data = b"{}" if method != "GET" else None
            for accept in ("text/html", "application/json"):
                answer = fetch(server.url + path, data, Accept=accept)
                where = f"{method} {path} ({accept})"
                assert secret not in answer.body, where
                if path in PUBLIC:
                    continue
                if answer.status == 302:
                    assert answer.headers["Location"].startswith("/login?next="), where
                else:
                    assert answer.status in (401, 403, 405), where
                    assert "wall-root" not in answer.body and "props" not in answer.body, where


def test_sockets_need_a_session_and_an_allowed_origin(server):
    for transports in (["websocket"], ["polling"]):
        with pytest.raises(socketio.exceptions.ConnectionError):
            socketio.Client(reconnection=False).connect(server.url, transports=transports)
    server.add_user("origin-check", "duty", CITY, cli=False)
    cookie = sign_in(server, "origin-check")
    # Polling, because the websocket client always adds an Origin header of its own.
    with pytest.raises(socketio.exceptions.ConnectionError):
        socketio.Client(reconnection=False).connect(
            server.url, headers={"Cookie": cookie, "Origin": "http://evil.example"},
            transports=["polling"],
        )
    forged = cookie[:-4] + ("AAAA" if not cookie.endswith("AAAA") else "BBBB")
    with pytest.raises(socketio.exceptions.ConnectionError):
        socketio.Client(reconnection=False).connect(
            server.url, headers={"Cookie": forged}, transports=["websocket"]
        )
    client = socketio.Client(reconnection=False)
    client.connect(server.url, headers={"Cookie": cookie, "Origin": server.url},
                   transports=["polling"])
    try:
        assert client.call("hello", {"scope": CITY}, timeout=30)["ok"]
    finally:
        client.disconnect()


def test_security_headers_are_on_every_kind_of_response(server):
    cookie = sign_in(server, *_duty(server, "headers-check"))
    answers = {
        "login page": fetch(f"{server.url}/login"),
        "refusal": fetch(f"{server.url}/_dash-layout"),
        "wall": fetch(f"{server.url}/wall", cookie=cookie, Accept="text/html"),
        "dash data": fetch(f"{server.url}/_dash-layout", cookie=cookie),
        "asset": fetch(f"{server.url}/login.css"),
        "socket.io": fetch(f"{server.url}/socket.io/?EIO=4&transport=polling"),
        "not found": fetch(f"{server.url}/no-such-page", cookie=cookie),
    }
    for what, answer in answers.items():
        missing = {h for h in HEADERS if h not in answer.headers}
        if what == "asset":
            missing.discard("Cache-Control")
        assert missing == set(), what
        policy = answer.headers["Content-Security-Policy"]
        script = re.search(r"script-src ([^;]+)", policy).group(1)
        assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, what
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, what
    assert answers["wall"].headers["Cache-Control"] == "no-store"
    assert answers["socket.io"].status == 200  # the engine handshake; the namespace refuses


def test_tile_origin_joins_img_src_and_nothing_else():
    policy = content_security_policy(["'sha256-x'"], ["https://*.tiles.example"])
    assert "img-src 'self' data: blob: https://*.tiles.example;" in policy
    assert "tiles" not in policy.split("img-src")[0]


def test_client_and_layouts_have_no_html_sinks():
    """Free text reaches the page through textContent only; these are the ways it would not."""
    sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
        r"dangerously_allow_html|dcc\.Markdown|bindPopup\(|\.html\(|srcdoc"
    )
    files = [*ROOT.glob("assets/*.js"), *ROOT.glob("layouts/*.py"), *ROOT.glob("dashboard/*.py")]
    offending = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in files
        for n, text in enumerate(path.read_text().splitlines(), start=1)
        if sinks.search(text)
    ]
    assert offending == []


def _duty(server, name: str) -> tuple[str, str]:
    server.add_user(name, "duty", CITY, cli=False)
    return name, PASSWORD


@pytest.mark.browser
def test_hostile_titles_and_details_show_as_text_and_run_nothing(page, server, geo):
    name, password = _duty(server, "xss-check")
    page.add_init_script(
        "window.__csp = [];"
        "document.addEventListener('securitypolicyviolation', e =>"
        " window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    # Sign in as a person would: the form, in the browser, under the CSP.
    page.goto(f"{server.url}/wall")
    page.wait_for_url(re.compile(r"/login\?next="))
    assert page.evaluate("window.__csp") == []
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)

    tag = uuid.uuid4().hex[:6]
    lines = []
    for i, title in enumerate(HOSTILE_TITLES):
        detail = f"{title} 联系人张建国，电话13812345678 <script>window.__pwned=99</script>"
        message = event_dict(geo, 20 + i, id=f"X-{tag}-{i}", title=title, detail=detail)
        lines.append(line(message))
    result = run_cli(["publish"], server.redis_url, server.prefix, b"\n".join(lines) + b"\n")
    assert result.returncode == 0, result.stdout + result.stderr

    expected = [mask_text(title) for title in HOSTILE_TITLES]
    page.wait_for_function(  # the ticker is paced: items slide in one after another
        """want => {
          const shown = [...document.querySelectorAll('#wall-ticker .ticker-title')]
            .map(node => node.textContent);
          return want.every(text => shown.includes(text));
        }""",
        arg=expected,
        timeout=30_000,
    )
    injected = "#wall-ticker :is(script, img, svg, iframe, a, style, b), #wall-pinned :is(script, img, svg, iframe, a, style, b)"  # noqa: E501
    assert page.locator(injected).count() == 0
    assert page.is_visible("#wall-root")  # the <style> payload hid nothing
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("window.__csp") == [], "the wall ran into its own CSP"

    # A duty officer opens one incident's detail straight in the browser: JSON, shown as text.
    page.goto(f"{server.url}/api/incident/X-{tag}-1")
    body = json.loads(page.inner_text("body"))
    assert body["title"] == HOSTILE_TITLES[1] and "13812345678" in body["detail"]
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("window.__csp") == []
    assert dialogs == [] and page.js_errors == []
