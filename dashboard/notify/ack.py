"""Acknowledging an alert: a signed link in the message, or the duty desk. Either stops its
escalation.

A link is ``<public url>/notify/ack/<alert>.<expires>.<signature>``: the signature is an
HMAC-SHA256 of ``<alert>.<expires>`` with a key derived from the server's session key, so only
OneMap makes links, a link names one alert, and it stops working after ``ONEMAP_NOTIFY_LINK_HOURS``.
Opening it (GET) shows the alert and a button; only the button (POST) acknowledges. Chat apps
open links to preview them, and a preview must not acknowledge what nobody read.

From the desk: the desk's own 签收 of an incident (``act``, verb ``acknowledge``) acknowledges
every alert about it (``dashboard.notify.watch``), and ``POST /api/duty/notify/ack`` with
``{"alert": id}`` (a signed-in duty officer or admin, the CSRF token in ``X-CSRFToken``, the
alert's area inside their scope) acknowledges one. Every acknowledgement is audited.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import time

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import ValidationError, validate_csrf

from dashboard.access.auth import Access
from dashboard.access.privacy import mask_text
from dashboard.notify.store import NotifyStore
from feeds.geo import contains

PATH = "/notify/ack/"
DESK_PATH = "/api/duty/notify/ack"
DESK_ROLES = frozenset({"duty", "admin"})
_PURPOSE = b"onemap notify ack link"


def link_key(secret: str) -> bytes:
    """The links' own key, derived from the session key (never the session key itself)."""
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def make_token(key: bytes, chain: str, expires: int) -> str:
    return f"{chain}.{expires}.{_signature(key, chain, expires)}"


def ack_url(base: str, key: bytes, chain: str, hours: float, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + hours * 3600)
    return f"{base.rstrip('/')}{PATH}{make_token(key, chain, expires)}"


def check_token(key: bytes, token: str, now: float | None = None) -> str | None:
    """The alert a token names, if it is ours and not expired."""
    chain, _, rest = token.partition(".")
    expires, _, signature = rest.partition(".")
    if not chain or not expires.isdigit() or len(expires) > 12:
        return None
    if not hmac.compare_digest(signature, _signature(key, chain, int(expires))):
        return None
    return chain if int(expires) >= (time.time() if now is None else now) else None


def _signature(key: bytes, chain: str, expires: int) -> str:
    mac = hmac.new(key, f"{chain}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def install(server: Flask, access: Access, store: NotifyStore, key: bytes) -> None:
    """The link's page and button, and the desk's endpoint. The gate lets ``PATH`` through
    without a session (dashboard.access.auth): the signature is the credential."""

    def link(token: str) -> ResponseReturnValue:
        chain = check_token(key, token)
        alert = store.alert(chain) if chain else {}
        if chain is None or not alert:
            access.audit_anonymous("notify_ack_refused", token=token.partition(".")[0][:24])
            return _page("链接无效或已过期", ""), 403
        title = mask_text(alert.get("title", ""))
        if request.method == "GET":
            done = "acked_at" in alert
            return _page(title, "" if done else "确认收到", "已确认" if done else "")
        store.acknowledge(chain, "link")
        access.audit("notify_ack", "link", alert=chain, source=alert.get("source", ""))
        return _page(title, "", "已确认，升级提醒已停止")

    def desk() -> ResponseReturnValue:
        try:
            validate_csrf(request.headers.get("X-CSRFToken", ""))
        except ValidationError:
            return jsonify(ok=False, error="bad csrf token"), 400
        who = access.current()
        if who is None or who.role not in DESK_ROLES:
            return jsonify(ok=False, error="not allowed"), 403
        chain = str((request.get_json(silent=True) or {}).get("alert", ""))[:64]
        alert = store.alert(chain) if chain else {}
        if not alert or not contains(who.scope, alert.get("area", "")):
            return jsonify(ok=False, error="alert not found"), 404  # the same outside scope
        store.acknowledge(chain, f"desk:{who.name}")
        access.audit("notify_ack", who.name, role=who.role, alert=chain)
        return jsonify(ok=True, alert=chain)

    server.add_url_rule(f"{PATH}<token>", "notify_ack", link, methods=["GET", "POST"])
    server.add_url_rule(DESK_PATH, "notify_ack_desk", desk, methods=["POST"])


def _page(title: str, button: str, said: str = "") -> Response:
    form = f'<form method="post"><button type="submit">{button}</button></form>' if button else ""
    body = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>OneMap 提醒确认</title></head><body><h1>{html.escape(title)}</h1>"
        f"{form}<p>{html.escape(said)}</p></body></html>"
    )
    return Response(body, mimetype="text/html")
