"""Who may come in over HTTP: the gate, sign-in and sign-out, kiosk links, scope checks.

The access layer, one job a module: ``principal`` (who is asking and what each role may see),
``auth`` (this: the HTTP side), ``sockets`` (who holds each live socket, and revocation),
``store`` (accounts, kiosk tokens, sessions ended early and the audit trail, in Redis),
``throttle`` (the sign-in throttle), ``login_page`` (the sign-in page itself) and ``privacy``
(masking personal data in free text).

Every entry point asks here. HTTP: one ``before_request`` gate lets nothing but the sign-in page
(and ``/healthz``) through without a valid session, so Dash's layout, dependencies, callbacks and
assets are all behind it. Scope: ``feeds.geo.contains`` is the single rule (a city sees all, a
county its towns, a town itself); pages call ``page_scope``, the push bridge calls ``SocketGuard``.
Sessions are signed cookies naming a principal id that is checked against the store on every
request and, for live sockets, once a second (``SocketGuard``), so removing an account or
revoking a kiosk token ends its sessions everywhere.

``Principal``, the role sets and ``SocketGuard`` are imported here too, so that
``from dashboard.access.auth import Access, Principal, SocketGuard, DETAIL_ROLES`` keeps working.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import unicodedata
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import redis
from flask import Flask, Response, has_request_context, jsonify, redirect, request, session
from flask.typing import ResponseReturnValue

# Flask-Login 0.6 and Flask-WTF 1.3 ship no type information: their names are Any here
# (pyproject.toml lists them under ignore_missing_imports).
from flask_login import (
    LoginManager,
    current_user,
    login_user,
    logout_user,
)
from flask_wtf.csrf import (
    ValidationError,
    generate_csrf,
    validate_csrf,
)

from dashboard.access import login_page as login_page
from dashboard.access.principal import DETAIL_ROLES, PII_ROLES, Principal
from dashboard.access.sockets import SOCKET_CHECK_S, SocketGuard
from dashboard.access.store import Kiosk, UserStore
from dashboard.access.throttle import LoginThrottle
from dashboard.config import Settings
from dashboard.web.webapp import PUBLIC
from feeds.geo import contains

__all__ = [
    "DETAIL_ROLES",
    "PII_ROLES",
    "ROLE_PATHS",
    "PUBLIC_PATHS",
    "SOCKET_CHECK_S",
    "Access",
    "Principal",
    "SocketGuard",
]

log = logging.getLogger(__name__)

# Paths that need one of a few roles; everything else is open to every signed-in role.
ROLE_PATHS = {"/api/incident/": DETAIL_ROLES, "/api/duty/": DETAIL_ROLES, "/duty": DETAIL_ROLES}
# + the web app manifest, its icons and the favicon: browsers fetch them without the session
# cookie (dashboard.web.webapp.PUBLIC).
PUBLIC_PATHS = frozenset({"/login", "/login.css", "/healthz", "/readyz", "/livez", *PUBLIC})
# The ingest API (dashboard.views.ingest_api) checks a producer's key in the Authorization
# header itself: the gate lets it through. No cookie ever makes a write there (no CSRF); its
# description also opens to a signed-in person.
INGEST_PATH, OPENAPI_PATH = "/api/v1/messages", "/api/v1/openapi.json"
BEARER_PATHS = frozenset({INGEST_PATH, OPENAPI_PATH})
# Open311 GeoReport v2 (dashboard.views.open311) checks a producer key (``api_key``) itself on
# every path under it, as the ingest API does: the gate lets the prefix through.
OPEN311_PATH = "/open311/v2/"
# A notification's acknowledgement link (dashboard.notify.ack) is its own credential: an HMAC
# signature checked by its handler, which shows a page and acknowledges only on POST.
SIGNED_LINK_PATH = "/notify/ack/"
DEFAULT_NEXT = "/wall"  # where a sign-in goes when ``next`` is missing or not a path here
MAX_NEXT = 2048
TOKEN_ID_CHARS = 12  # of a refused wall link, in the audit trail: enough to find it, no more


class Access:
    """The HTTP side: session cookies, the gate, /login, /logout and kiosk links."""

    def __init__(self, store: UserStore, settings: Settings, city: str) -> None:
        self.store = store
        self.settings = settings
        self.city = city
        self.origins = {o.strip().rstrip("/") for o in settings.allowed_origins.split(",")} - {""}
        self.throttle = LoginThrottle(store.client, store.prefix, settings.login_rate)

    def install(self, server: Flask) -> None:
        secure = self.settings.cookie_secure
        server.config.update(
            # The __Host- prefix makes the browser refuse the cookie unless Secure, host-only
            # and Path=/, so no sibling subdomain can plant or read it.
            SESSION_COOKIE_NAME="__Host-onemap" if secure else "onemap",
            SESSION_COOKIE_SECURE=secure,
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SAMESITE="Lax",
            PERMANENT_SESSION_LIFETIME=timedelta(days=self.settings.kiosk_session_days),
            WTF_CSRF_TIME_LIMIT=3600,
        )
        manager = LoginManager(server)
        manager.user_loader(self._load)
        server.before_request(self._gate)
        server.add_url_rule("/login.css", "login_css", _login_css)
        server.add_url_rule("/logout", "logout", self._logout, methods=["POST"])
        server.add_url_rule("/api/csrf", "csrf", self._csrf)
        server.add_url_rule("/login", "login", self._login, methods=["GET", "POST"])
        server.add_url_rule("/kiosk", "kiosk", self._switch_to_kiosk, methods=["POST"])
        logging.getLogger("werkzeug").addFilter(redact_secrets)

    # -- sessions ------------------------------------------------------------------------
    def _load(self, principal_id: str) -> Principal | None:
        session_id = session.get("sid", "")
        if not session_id or self.store.ended({session_id}):
            return None
        kind, _, rest = principal_id.partition(":")
        if kind == "u":
            name, _, generation = rest.rpartition(":")
            account = self.store.get_user(name)
            expires = session.get("exp")
            if account is None or account.generation != generation:
                return None
            if not isinstance(expires, int | float) or expires < time.time():
                return None
            return Principal.of_account(account, expires, session_id)
        if kind == "k":
            kiosk = self.store.get_kiosk(rest)
            if kiosk is None or kiosk.expired():
                return None
            return Principal.of_kiosk(kiosk, session_id)
        return None

    def _start_session(self, principal: Principal, permanent: bool) -> None:
        session.clear()  # nothing from before sign-in survives it
        session.permanent = permanent
        session["exp"] = principal.expires
        session["sid"] = secrets.token_hex(16)
        login_user(principal)

    def current(self) -> Principal | None:
        user = current_user._get_current_object()
        # The object itself, not the proxy: the socket guard keeps it past this request.
        return user if isinstance(user, Principal) else None

    # -- the gate ------------------------------------------------------------------------
    def _gate(self) -> ResponseReturnValue | None:
        path = request.path
        if path in PUBLIC_PATHS or path in BEARER_PATHS or path.startswith(SIGNED_LINK_PATH):
            return None
        if path.startswith(OPEN311_PATH):
            return None
        token = request.args.get("kiosk")
        if token and request.method == "GET":
            return self._kiosk_link(token)
        principal = self.current()
        if principal is None:
            if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
                next_url = request.full_path.rstrip("?")
                return redirect(f"/login?{urlencode({'next': next_url})}")
            return jsonify(error="login required"), 401
        for prefix, roles in ROLE_PATHS.items():
            if path.startswith(prefix) and principal.role not in roles:
                return jsonify(error="forbidden"), 403
        return None

    def _kiosk_link(self, token: str) -> ResponseReturnValue:
        """A wall URL's one-time trip: the token becomes a session, the URL loses the token.

        Only in a browser that holds no person's session: a link must never silently turn an
        officer's signed-in browser into a wall (a plain GET, so any page could make it happen).
        There the person is asked, and only a POST with their CSRF token switches."""
        kiosk = self._kiosk_or_refusal(token)
        if isinstance(kiosk, Response):
            return kiosk
        rest = [(k, v) for k, v in request.args.items(multi=True) if k != "kiosk"]
        # Through the same check as a sign-in's ``next``: ``//evil.example/?kiosk=…`` has a
        # path too.
        target = _safe_next(request.path + (f"?{urlencode(rest)}" if rest else ""))
        person = self.current()
        if person is not None and person.kind == "user":
            page = login_page.kiosk_switch(
                generate_csrf(), token, target, person.display, person.name, kiosk.name
            )
            return Response(page, 200)
        return self._open_kiosk(kiosk, target)

    def _switch_to_kiosk(self) -> ResponseReturnValue:
        """POST /kiosk: the person on the question page chose to make this browser a wall."""
        try:
            validate_csrf(request.form.get("csrf_token", ""))
        except ValidationError:
            return jsonify(error="bad csrf token"), 400
        kiosk = self._kiosk_or_refusal(request.form.get("kiosk", ""))
        if isinstance(kiosk, Response):
            return kiosk
        person = self.current()
        if person is not None and person.kind == "user":
            self.audit("kiosk_switch", person.name, kiosk=kiosk.id, display=kiosk.name)
            self.store.end_session(person.session_id, self._session_ttl_s(person))
        return self._open_kiosk(kiosk, _safe_next(request.form.get("next", "")))

    def _kiosk_or_refusal(self, token: str) -> Kiosk | Response:
        kiosk = self.store.kiosk_for(token)
        if kiosk is None:
            self.audit_anonymous("kiosk_refused", kiosk=token.partition(".")[0][:TOKEN_ID_CHARS])
            return Response(login_page.refused("大屏链接无效或已被撤销"), 403)
        return kiosk

    def _open_kiosk(self, kiosk: Kiosk, target: str) -> ResponseReturnValue:
        principal = Principal.of_kiosk(kiosk)
        self._start_session(principal, permanent=True)
        self.audit("kiosk_signin", principal.name, scope=kiosk.scope, display=kiosk.name)
        return redirect(target)

    # -- sign-in and sign-out ------------------------------------------------------------
    def _login(self) -> ResponseReturnValue:
        next_url = _safe_next(request.values.get("next", ""))
        if request.method == "GET":
            if self.current() is not None:
                return redirect(next_url)
            return login_page.render(generate_csrf(), next_url)
        try:
            validate_csrf(request.form.get("csrf_token", ""))
        except ValidationError:
            return self._login_again(next_url, "页面已过期，请重新输入", 400)
        name = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        address = request.remote_addr or ""
        attempt = self.throttle.reserve(name, address) if name and password else None
        if attempt is not None and not attempt.allowed:
            self.audit_anonymous("login_throttled", user=name[:64], why=attempt.why)
            answer = self._login_again(next_url, "尝试次数过多，请稍后再试", 429, name)
            answer.headers["Retry-After"] = str(attempt.retry_after)
            return answer
        account = self.store.verify(name, password) if attempt is not None else None
        if account is None or attempt is None:
            # A real guess is not aggregated: the throttle bounds those per address, and each
            # names the account tried. An empty form guesses nothing and is only counted.
            self.audit_anonymous("login_failed", aggregate=attempt is None, user=name[:64])
            return self._login_again(next_url, "用户名或密码错误", 401, name)
        self.throttle.succeeded(name, address, attempt)
        expires = time.time() + self.settings.session_hours * 3600
        # A person's cookie ends with the browser; the server enforces the hours either way.
        self._start_session(Principal.of_account(account, expires), permanent=False)
        self.audit("login", account.name, role=account.role, scope=account.scope)
        return redirect(next_url)

    def _login_again(self, next_url: str, error: str, status: int, name: str = "") -> Response:
        return Response(login_page.render(generate_csrf(), next_url, error, name), status)

    def _logout(self) -> ResponseReturnValue:
        token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken", "")
        try:
            validate_csrf(token)
        except ValidationError:
            return jsonify(error="bad csrf token"), 400
        principal = self.current()
        if principal is not None:
            self.audit("logout", principal.name)
            self.store.end_session(principal.session_id, self._session_ttl_s(principal))
        logout_user()
        session.clear()
        return redirect("/login")

    def _session_ttl_s(self, principal: Principal) -> int:
        if principal.expires is not None:
            return int(principal.expires - time.time()) + 1
        return self.settings.kiosk_session_days * 86400

    def _csrf(self) -> Response:
        """A CSRF token for a signed-in page's own forms (sign-out) and state-changing calls."""
        return jsonify(token=generate_csrf())

    # -- scope, for pages, callbacks and data endpoints ----------------------------------
    def allows(self, code: str) -> bool:
        principal = self.current()
        return principal is not None and contains(principal.scope, code)

    def page_scope(self, area: str | None) -> str | None:
        """The area a page should show: the asked one if in scope, the user's own if none asked,
        None (refuse) if it lies outside."""
        principal = self.current()
        if principal is None:
            return None
        if not area:
            return principal.scope
        return area if contains(principal.scope, area) else None

    def origin_allowed(self, origin: str, host_url: str) -> bool:
        origin = origin.rstrip("/")
        return origin in self.origins if self.origins else origin == host_url.rstrip("/")

    def audit(self, event: str, user: str, **fields: str) -> None:
        """What a signed-in person or wall did, or was refused: the trail that must last."""
        try:
            self.store.audit(
                self.settings.audit_maxlen,
                event=event,
                user=user,
                ip=(request.remote_addr or "") if has_request_context() else "",  # a server task
                **fields,
            )
        except redis.RedisError as exc:  # an audit outage must not become a sign-in outage
            log.warning("audit write failed: %s", exc)

    def audit_refused(self, event: str, who: Principal | None, error: str) -> None:
        """A socket request refused before its handler ran (dashboard.live.inbound)."""
        self.audit(
            event,
            who.name if who else "",
            role=who.role if who else "",
            scope=who.scope if who else "",
            outcome="refused",
            error=error,
        )

    def audit_anonymous(self, event: str, aggregate: bool = True, **fields: str) -> None:
        """A failure by someone not signed in: apart from the trail, and (``aggregate``) one
        entry per address a minute plus one at the 10th, 100th, … with its count."""
        try:
            self.store.audit_anonymous(
                self.settings.audit_anonymous_maxlen,
                event,
                request.remote_addr or "",
                aggregate,
                **fields,
            )
        except redis.RedisError as exc:
            log.warning("audit write failed: %s", exc)


_SECRET_IN_URL = re.compile(r"((?:kiosk|api_key)=)[^&\s\"]+")


def redact_secrets(record: logging.LogRecord) -> bool:
    """Access logs name every URL: a wall link's token or a producer's api_key (Open311) must
    not end up in them."""
    message = record.getMessage()
    if "kiosk=" in message or "api_key=" in message:
        record.msg, record.args = _SECRET_IN_URL.sub(r"\1[redacted]", message), ()
    return True


def _safe_next(url: str) -> str:
    """``url`` if a browser will read it as a path on this site, else ``DEFAULT_NEXT``.

    Judged as a browser reads a URL (the WHATWG parser): it drops tabs and newlines anywhere,
    trims control characters and spaces at the ends and takes a backslash for a slash, so
    ``/<tab>/evil`` is ``//evil``, another host. Rather than guess at every such rewrite, any
    control, format or separator character (Unicode categories C* and Z*) and any backslash
    refuses the target; what is left must start with exactly one slash and parse with neither
    a scheme nor a host.
    """
    if not url.startswith("/") or url.startswith("//") or len(url) > MAX_NEXT:
        return DEFAULT_NEXT
    if "\\" in url or any(unicodedata.category(c)[0] in "CZ" for c in url):
        return DEFAULT_NEXT
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    return url


def _login_css() -> Response:
    return Response(login_page.CSS, mimetype="text/css")
