"""Subscriptions, alerts and delivery jobs: the notifier's data, with its few pure rules.

An ``Alert`` is one thing worth telling (an incident gone overdue, a 督办, a warning ...),
named by ``source``: the id of what caused it, stable across processes and restarts, so the
same cause is told to a subscription once. A ``Job`` is one alert for one subscription, as it
travels the outbox: tries, retries and escalation steps are jobs too.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, time, timedelta
from typing import Literal

import msgspec

from feeds.geo import contains
from feeds.schema import CHINA_TZ

Kind = Literal["overdue", "supervise", "warning", "level", "red", "instruct"]
KINDS: tuple[Kind, ...] = ("overdue", "supervise", "warning", "level", "red", "instruct")
KIND_NAMES: dict[str, str] = {
    "overdue": "超期",
    "supervise": "督办",
    "warning": "预警",
    "level": "升级",
    "red": "转红",
    "instruct": "批示",
}
Channel = Literal["webhook", "dingtalk", "wecom", "sms"]
CHANNELS: tuple[Channel, ...] = ("webhook", "dingtalk", "wecom", "sms")
# Told at once even in quiet hours: a leader's 批示, an area turning red, anything urgent,
# and every escalation (someone already failed to answer it).
URGENT_KINDS = frozenset({"instruct", "red"})
MAX_STEPS = 5  # escalation steps per alert: a chain that loops back on itself ends here
_QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class Subscription(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str  # unique: `onemap notify remove NAME`, and the `then` of another subscription
    who: str  # the person or group told, for people reading the list
    scope: str  # an area code: only what happens inside it
    kinds: tuple[Kind, ...]
    channel: Channel
    target: str  # webhook/robot URL, or the SMS gateway's URL template
    secret: str = ""  # webhook HMAC key; DingTalk's signing secret (optional)
    min_level: int = 3  # kind "level": an incident reaching this level or higher
    phone: str = ""  # sms: the {phone} of the templates
    body: str = ""  # sms: body template (empty: GET the URL)
    quiet: str = ""  # "22:00-07:00" China time: held then, unless urgent
    escalate_after: float = 0  # minutes without acknowledgement before `then` is told (0: never)
    then: str = ""  # the next subscription of the escalation chain


class Alert(msgspec.Struct, frozen=True):
    source: str  # what caused it: "overdue:<incident>:<deadline>", "action:<id>", ...
    kind: Kind
    area: str
    place: str  # the area's name, for people
    title: str  # unmasked here; every channel masks what it sends
    ts: str  # ISO time of the cause
    detail: str = ""
    incident: str | None = None
    level: int | None = None
    prev_level: int | None = None  # kind "level": the highest level before this step
    severity: str = "normal"
    actor: str = ""  # supervise, instruct: who


class Job(msgspec.Struct, frozen=True):
    alert: Alert
    sub: str  # the subscription told by this job
    chain: str  # the alert's id: root subscription + source (what a link acknowledges)
    step: int = 0  # 0: the first message; N: the Nth escalation
    attempt: int = 0  # tries made so far
    root: str = ""  # the chain's first subscription

    @property
    def delivery(self) -> str:
        """Stable across retries: a receiver drops repeats by it (at least once, not once)."""
        return f"{self.chain}-{self.step}"


def chain_id(root: str, source: str) -> str:
    return hashlib.sha256(f"{root}\n{source}".encode()).hexdigest()[:24]


def matches(sub: Subscription, alert: Alert) -> bool:
    """Whether ``sub`` wants ``alert``: its kind (a red drop is a warning too), in its scope,
    and for "level" the step that first took the incident to ``min_level`` or above."""
    kinds = set(sub.kinds)
    if alert.kind not in kinds and not (alert.kind == "red" and "warning" in kinds):
        return False
    if not contains(sub.scope, alert.area):
        return False
    if alert.kind == "level":
        level, before = alert.level or 0, alert.prev_level or 0
        return before < sub.min_level <= level
    return True


def urgent(job: Job) -> bool:
    return job.step > 0 or job.alert.kind in URGENT_KINDS or job.alert.severity == "urgent"


def parse_quiet(text: str) -> tuple[time, time] | None:
    """``"22:00-07:00"`` → (22:00, 07:00); ``""`` → None; raises ValueError if malformed."""
    if not text:
        return None
    found = _QUIET.match(text)
    if found is None:
        raise ValueError(f"quiet hours {text!r}: expected HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    return time(h1, m1), time(h2, m2)


def quiet_until(quiet: str, now: datetime) -> datetime | None:
    """When the quiet hours holding ``now`` end (China time), or None outside them."""
    span = parse_quiet(quiet)
    if span is None or span[0] == span[1]:
        return None
    start, end = span
    local = now.astimezone(CHINA_TZ)
    clock = local.time()
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return until if until > local else until + timedelta(days=1)


job_encoder = msgspec.json.Encoder()
job_decoder = msgspec.json.Decoder(Job)
sub_decoder = msgspec.json.Decoder(Subscription)
