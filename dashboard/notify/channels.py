"""What each channel sends, and sending it: a generic signed webhook, DingTalk and WeCom robots,
an SMS gateway by HTTP template. Stdlib HTTP (urllib), one request per try.

Every text that leaves is masked as on the wall (``mask_text``): titles, details, 批示 text.
A send returns None when the receiver took it, else why not (the deliverer retries).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from dashboard.access.privacy import mask_text
from dashboard.notify.model import KIND_NAMES, Job, Subscription

SIGNATURE = "X-OneMap-Signature"
TIMESTAMP = "X-OneMap-Timestamp"
DELIVERY = "X-OneMap-Delivery"
MAX_MARKDOWN_BYTES = 4000  # WeCom takes 4,096 bytes of markdown; DingTalk about as much
MAX_REPLY_BYTES = 65_536


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    body: bytes | None
    headers: dict[str, str]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature: hex HMAC-SHA256 of ``"<timestamp>." + body`` with the secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64 HMAC-SHA256 of ``"<timestamp>\\n<secret>"``."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def fields(job: Job, ack_url: str) -> dict[str, Any]:
    """The alert as people may see it: free text masked, the reporter never included."""
    alert = job.alert
    return {
        "delivery": job.delivery,
        "alert": job.chain,
        "source": alert.source,
        "kind": alert.kind,
        "kindName": KIND_NAMES[alert.kind],
        "area": alert.area,
        "place": alert.place,
        "title": mask_text(alert.title),
        "detail": mask_text(alert.detail),
        "incident": alert.incident,
        "level": alert.level,
        "severity": alert.severity,
        "actor": alert.actor,
        "ts": alert.ts,
        "subscription": job.sub,
        "escalation": job.step,
        "ack_url": ack_url,
    }


def headline(f: dict[str, Any]) -> str:
    escalated = f"【第{f['escalation']}次升级·未确认】" if f["escalation"] else ""
    return f"{escalated}【{f['kindName']}】{f['place']} {f['title']}"


def markdown(f: dict[str, Any]) -> str:
    lines = [f"### {headline(f)}"]
    if f["incident"]:
        level = f" · {f['level']}级" if f["level"] else ""
        lines.append(f"- 事件：{f['incident']}{level}")
    if f["actor"]:
        lines.append(f"- 由：{f['actor']}")
    lines.append(f"- 时间：{f['ts'][:19].replace('T', ' ')}")
    if f["detail"]:
        lines.append(f"- 内容：{f['detail']}")
    text = "\n".join(lines)
    link = f"\n\n[确认收到]({f['ack_url']})" if f["ack_url"] else ""
    room = MAX_MARKDOWN_BYTES - len(link.encode())
    return _cut(text, room) + link


def plain(f: dict[str, Any]) -> str:
    """One line for an SMS."""
    ack = f" 确认：{f['ack_url']}" if f["ack_url"] else ""
    return headline(f) + ack


def _cut(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "…"


def build(sub: Subscription, job: Job, ack_url: str, now: float | None = None) -> Request:
    """The HTTP request ``sub``'s channel sends for ``job``."""
    f = fields(job, ack_url)
    now = time.time() if now is None else now
    if sub.channel == "webhook":
        body = json.dumps(f, ensure_ascii=False).encode()
        stamp = str(int(now))
        headers = {"Content-Type": "application/json", TIMESTAMP: stamp, DELIVERY: job.delivery}
        if sub.secret:
            headers[SIGNATURE] = sign(sub.secret, stamp, body)
        return Request(sub.target, body, headers)
    if sub.channel == "dingtalk":
        md = {"title": headline(f)[:60], "text": markdown(f)}
        payload = {"msgtype": "markdown", "markdown": md, "at": {"isAtAll": False}}
        url = sub.target
        if sub.secret:
            ms = int(now * 1000)
            query = urllib.parse.urlencode({"timestamp": ms, "sign": dingtalk_sign(sub.secret, ms)})
            url += ("&" if "?" in url else "?") + query
        return Request(url, _json(payload), {"Content-Type": "application/json"})
    if sub.channel == "wecom":
        payload = {"msgtype": "markdown", "markdown": {"content": markdown(f)}}
        return Request(sub.target, _json(payload), {"Content-Type": "application/json"})
    return _sms(sub, f)


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def _sms(sub: Subscription, f: dict[str, Any]) -> Request:
    """The gateway's URL and body templates, with {phone} {text} {title} {kind} {ack_url}
    {place} filled in: URL-encoded in the URL; in the body JSON-escaped when it is JSON
    (starts with { or [), else URL-encoded (a form)."""
    values = {
        "phone": sub.phone,
        "text": plain(f),
        "title": f["title"],
        "kind": f["kindName"],
        "ack_url": f["ack_url"],
        "place": f["place"],
    }
    url = _fill(sub.target, values, lambda v: urllib.parse.quote(v, safe=""))
    if not sub.body:
        return Request(url, None, {})
    is_json = sub.body.lstrip().startswith(("{", "["))
    escape = (
        (lambda v: json.dumps(v, ensure_ascii=False)[1:-1])
        if is_json
        else (lambda v: urllib.parse.quote_plus(v))
    )
    kind = "application/json" if is_json else "application/x-www-form-urlencoded"
    body = _fill(sub.body, values, escape).encode()
    return Request(url, body, {"Content-Type": f"{kind}; charset=utf-8"})


def _fill(template: str, values: dict[str, str], escape: Any) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", escape(value))
    return template


def send(request: Request, channel: str, timeout: float) -> str | None:
    """Send one request; None if the receiver took it, else the reason it did not."""
    method = "POST" if request.body is not None else "GET"
    http = urllib.request.Request(request.url, request.body, request.headers, method=method)
    try:
        with urllib.request.urlopen(http, timeout=timeout) as response:
            reply = response.read(MAX_REPLY_BYTES)
            status = response.status
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    if not 200 <= status < 300:
        return f"HTTP {status}"
    if channel in ("dingtalk", "wecom"):  # robots answer 200 with their own error code
        try:
            code = json.loads(reply or b"{}").get("errcode", 0)
        except (ValueError, AttributeError):
            return "robot reply is not JSON"
        if code != 0:
            return f"robot errcode {code}"
    return None
