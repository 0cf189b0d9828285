"""The feed contract in code: message types and validation at the door.

Two kinds of message travel the bus, told apart by ``kind``:

* ``event``: one step of an incident's life (reported, dispatched, ... closed, reopened).
  ``id`` is the incident id, stable across its steps; ``seq`` numbers the steps from 1.
* ``position``: a grid worker's location and status.

``validate`` turns raw bytes into a typed message or a ``Rejection`` with a stable reason code;
it never raises, so one bad line cannot stop a feed. docs/feeds.md is the human version of this
module and must change with it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Literal

import msgspec

from feeds.catalogue import CATEGORIES, SEVERITIES, SOURCES, STEP_TYPES, WORKER_STATUSES
from feeds.geo import Geography

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

MAX_MESSAGE_BYTES = 8192
MAX_TITLE_CHARS = 100
MAX_DETAIL_CHARS = 2000
# Every step's time lies in these years (as written, in its own offset), whatever the clock
# limits are set to: far enough from datetime's ends (years 1 and 9999) that no conversion or
# arithmetic on it, or on a deadline within the spans below, can overflow.
FIRST_YEAR, LAST_YEAR = 2000, 2099
# A deadline is at most this long after its step (the longest catalogue limit is 5 working
# days; a year leaves room for any adapter's own limits) ...
MAX_DEADLINE_AHEAD = timedelta(days=366)
# ... and, on a later step, at most this long before it (an incident overdue for ten years).
MAX_OVERDUE = timedelta(days=3653)

StepType = Literal[
    "reported", "dispatched", "accepted", "escalated", "handled", "feedback", "closed", "reopened"
]
Source = Literal["grid_worker", "hotline_12345", "app", "wechat", "inspection"]
Severity = Literal["normal", "major", "urgent"]
WorkerStatus = Literal["patrolling", "handling", "idle", "offline"]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Identifier = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
Level = Annotated[int, msgspec.Meta(ge=1, le=5)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]

assert set(StepType.__args__) == set(STEP_TYPES)  # type: ignore[attr-defined]
assert set(Source.__args__) == set(SOURCES)  # type: ignore[attr-defined]
assert set(Severity.__args__) == set(SEVERITIES)  # type: ignore[attr-defined]
assert set(WorkerStatus.__args__) == set(WORKER_STATUSES)  # type: ignore[attr-defined]


class AreaRef(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Where an incident is: county and town always, village and grid when known."""

    county: str
    town: str
    village: str | None = None
    grid: str | None = None

    @property
    def finest(self) -> str:
        return self.grid or self.village or self.town


class EventMessage(
    msgspec.Struct, tag="event", tag_field="kind", forbid_unknown_fields=True, frozen=True
):
    id: Identifier
    seq: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    type: StepType
    ts: AwareDatetime
    category: str
    level: Level
    area: AreaRef
    lon: Longitude
    lat: Latitude
    source: Source
    title: str
    deadline: AwareDatetime
    detail: str = ""
    reporter: Identifier | None = None
    severity: Severity | None = None


class PositionMessage(
    msgspec.Struct, tag="position", tag_field="kind", forbid_unknown_fields=True, frozen=True
):
    worker: Identifier
    ts: AwareDatetime
    lon: Longitude
    lat: Latitude
    grid: str
    status: WorkerStatus
    battery: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    accuracy: Annotated[float, msgspec.Meta(ge=0, le=10_000)] | None = None


Message = EventMessage | PositionMessage

WarningType = Literal["spike", "cluster", "index_drop", "worker_offline"]


class WarningMessage(
    msgspec.Struct, tag="warning", tag_field="kind", forbid_unknown_fields=True, frozen=True
):
    """An early warning raised by the analytics (never sent by producers, so not a ``Message``).

    ``id`` is derived from what was detected (area, category, window), so the same warning
    found twice, by two server processes or after a restart, is published once.
    """

    id: Identifier
    ts: AwareDatetime  # when the detected situation was seen (event time, not wall time)
    type: WarningType
    area: str  # the finest area concerned: a county, town or grid code
    title: str  # one line in Chinese, for the wall
    severity: Severity = "normal"
    category: str | None = None
    detail: str = ""
    related: tuple[str, ...] = ()  # incident ids behind the warning
    worker: Identifier | None = None  # worker_offline: who went quiet


ActionVerb = Literal[
    "acknowledge", "note", "supervise", "cast", "instruct", "follow", "release", "send_view"
]
MAX_ACTION_TEXT = 500


class ActionMessage(
    msgspec.Struct, tag="action", tag_field="kind", forbid_unknown_fields=True, frozen=True
):
    """What a person did in OneMap: written by the dashboard itself, never by producers.

    The actions stream is the audit of operators' work (who, when, what); the views read it
    back like any other feed, so every server process and every screen sees the same actions.
    ``area`` is where the action applies (the incident's town, or the area a view shows);
    ``target`` is a wall's home scope (follow, release) or a user name (send_view).
    """

    id: Identifier
    ts: AwareDatetime
    verb: ActionVerb
    actor: str
    role: str
    area: str
    incident: Identifier | None = None
    target: str | None = None
    text: str = ""
    seconds: int | None = None


_action_decoder = msgspec.json.Decoder(ActionMessage)


def decode_action(raw: bytes | str) -> ActionMessage:
    """Decode an action read back from the actions stream."""
    return _action_decoder.decode(raw)


_warning_decoder = msgspec.json.Decoder(WarningMessage)


def decode_warning(raw: bytes | str) -> WarningMessage:
    """Decode a warning read back from the warnings stream."""
    return _warning_decoder.decode(raw)


_decoder = msgspec.json.Decoder(Message)
_encoder = msgspec.json.Encoder()


def encode(message: Message | WarningMessage | ActionMessage) -> bytes:
    return _encoder.encode(message)


def decode_trusted(raw: bytes | str) -> Message:
    """Decode a message that already passed ``validate`` (read back from our own log)."""
    return _decoder.decode(raw)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message was refused. ``reason`` is a stable code; ``detail`` is for people."""

    reason: str
    detail: str


REJECTION_REASONS: dict[str, str] = {
    "too_large": f"message longer than {MAX_MESSAGE_BYTES} bytes",
    "bad_json": "not a JSON object",
    "schema": "missing field, unknown or repeated field, or wrong type/range",
    "unknown_category": "category code not in the catalogue",
    "unknown_area": "area code does not exist in the geography",
    "area_mismatch": "area codes do not nest (grid not in village, town not in county ...)",
    "out_of_bounds": "point outside the city or far from the declared county",
    "bad_timestamp": "timestamp in the future or too old, or a deadline out of its step's span",
    "text_too_long": f"title over {MAX_TITLE_CHARS} or detail over {MAX_DETAIL_CHARS} chars",
    "bad_text": "empty title, or control or bidi characters in text",
}

# Bidirectional controls (LRM, RLM, ALM, the embeddings, overrides and isolates) turn text
# around on screen (U+202E then "gnp.exe" reads "exe.png"). Chinese governance text never
# needs them.
_BIDI = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# A title is one line: no C0/C1 control at all (tab, CR and LF included), no line or paragraph
# separator, no bidi control. A detail may hold tabs and line breaks (CR, LF); other controls
# only ever come from broken encoders or from someone probing the terminal of whoever reads it.
_TITLE_BAD = re.compile(rf"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
_DETAIL_BAD = re.compile(rf"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")


@dataclass(frozen=True, slots=True)
class Limits:
    """Clock limits for timestamps, relative to the validating process's clock."""

    max_future: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=3)


DEFAULT_LIMITS = Limits()


def validate(
    raw: bytes | str,
    geo: Geography,
    limits: Limits = DEFAULT_LIMITS,
    now: datetime | None = None,
) -> Message | Rejection:
    """Decode and check one message. Never raises for bad input."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_MESSAGE_BYTES:
        return Rejection("too_large", f"{len(raw)} bytes")
    try:
        message = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        return Rejection("schema", str(exc))
    except msgspec.DecodeError as exc:
        return Rejection("bad_json", str(exc))
    except UnicodeDecodeError as exc:  # msgspec raises it for invalid UTF-8 inside a string
        return Rejection("bad_json", f"not UTF-8 ({exc.reason})")
    if _more_quotes(raw, message):  # maybe a key given twice: look closer
        try:
            repeated = _repeated_key(raw)
        except (ValueError, RecursionError) as exc:  # JSON msgspec took and json cannot read
            return Rejection("bad_json", str(exc)[:200])
        if repeated is not None:
            return Rejection("schema", f"key {repeated!r} given twice")
    now = now or datetime.now(UTC)
    if isinstance(message, EventMessage):
        problem = _check_event(message, geo, limits, now)
    else:
        problem = _check_position(message, geo, limits, now)
    return problem or message


def _check_event(
    msg: EventMessage, geo: Geography, limits: Limits, now: datetime
) -> Rejection | None:
    if msg.category not in CATEGORIES:
        return Rejection("unknown_category", repr(msg.category))
    return (
        _check_text(msg)
        or _check_area(msg.area, geo)
        or _check_point(msg.lon, msg.lat, msg.area.county, geo)
        or _check_time(msg.ts, limits, now)
        or _check_deadline(msg)
    )


def _check_deadline(msg: EventMessage) -> Rejection | None:
    # Later steps may well come after the deadline (that is what overdue means); a report's
    # own deadline, though, can never precede it. Either way it lies within a sane span of
    # its step, so every view can convert it, subtract it and print it.
    span = msg.deadline - msg.ts
    if span < _ZERO and msg.type == "reported":
        return Rejection("bad_timestamp", "deadline before the report")
    if span > MAX_DEADLINE_AHEAD:
        return Rejection("bad_timestamp", f"deadline over {MAX_DEADLINE_AHEAD.days} days ahead")
    if span < -MAX_OVERDUE:
        return Rejection("bad_timestamp", f"deadline over {MAX_OVERDUE.days} days before the step")
    return None


_ZERO = timedelta(0)


def _check_position(
    msg: PositionMessage, geo: Geography, limits: Limits, now: datetime
) -> Rejection | None:
    if msg.grid not in geo.grids:
        return Rejection("unknown_area", f"grid {msg.grid!r}")
    county = geo.county_of(msg.grid)
    assert county is not None
    return _check_point(msg.lon, msg.lat, county, geo) or _check_time(msg.ts, limits, now)


def _check_text(msg: EventMessage) -> Rejection | None:
    if len(msg.title) > MAX_TITLE_CHARS or len(msg.detail) > MAX_DETAIL_CHARS:
        return Rejection("text_too_long", f"title {len(msg.title)}, detail {len(msg.detail)}")
    if not msg.title.strip():
        return Rejection("bad_text", "empty title")
    bad = _TITLE_BAD.search(msg.title)
    if bad:
        return Rejection("bad_text", f"title holds {_codepoint(bad.group())}")
    bad = _DETAIL_BAD.search(msg.detail)
    if bad:
        return Rejection("bad_text", f"detail holds {_codepoint(bad.group())}")
    return None


def _codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"


def _check_area(area: AreaRef, geo: Geography) -> Rejection | None:
    chain = [
        ("county", area.county, geo.counties, None),
        ("town", area.town, geo.towns, area.county),
        ("village", area.village, geo.villages, area.town),
        ("grid", area.grid, geo.grids, area.village),
    ]
    for name, code, known, parent in chain:
        if code is None:
            if name == "village" and area.grid is not None:
                return Rejection("area_mismatch", "grid given without its village")
            continue
        if code not in known:
            return Rejection("unknown_area", f"{name} {code!r}")
        if parent is not None and known[code].parent != parent:
            return Rejection("area_mismatch", f"{name} {code} is not under {parent}")
    return None


def _check_point(lon: float, lat: float, county: str, geo: Geography) -> Rejection | None:
    if not geo.in_city(lon, lat):
        return Rejection("out_of_bounds", f"({lon}, {lat}) is outside the city")
    if not geo.in_county(county, lon, lat):
        return Rejection("out_of_bounds", f"({lon}, {lat}) is not in county {county}")
    return None


def _check_time(ts: datetime, limits: Limits, now: datetime) -> Rejection | None:
    if not FIRST_YEAR <= ts.year <= LAST_YEAR:  # first: the comparisons below are no cheaper
        span = f"{FIRST_YEAR}-{LAST_YEAR}"
        return Rejection("bad_timestamp", f"{ts.isoformat()} is not within the years {span}")
    if ts > now + limits.max_future:
        return Rejection("bad_timestamp", f"{ts.isoformat()} is in the future")
    if ts < now - limits.max_age:
        return Rejection("bad_timestamp", f"{ts.isoformat()} is older than {limits.max_age}")
    return None


def _more_quotes(raw: bytes, msg: Message) -> bool:
    """Whether ``raw`` has more quotes than its fields account for (see ``_repeated_key``)."""
    least = _least_quotes(raw, msg)
    quotes = raw.count(b'"')
    if quotes > least and b"\\\\" not in raw:
        # Without an escaped backslash, every backslash-quote is a quote inside a text.
        quotes -= raw.count(b'\\"')
    return quotes > least


def _repeated_key(raw: bytes) -> str | None:
    """A key given twice in one object of ``raw``, if any. msgspec, like most decoders, keeps
    the last one, so ``{"title": "ok", ..., "title": "..."}`` would pass checks a reader of
    the first one trusts.

    ``validate`` asks only when the quotes say a repeat is possible: a message's quotes are two
    per key and two per string value, plus any escaped quote inside a string. The keys the
    decoded message must have had, with their string values, account for ``_least_quotes``; a
    repeat adds at least two more. So no more quotes than that (quotes inside texts not
    counted) means no repeat: nearly every message, in under a microsecond. More (a repeat, or
    a field's default given in an odd spelling) and ``json`` reads the key pairs here (~20 µs).
    """
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _value in items]
        if len(set(names)) < len(names):
            repeated.extend(n for n in names if names.count(n) > 1)
        return dict(items)

    json.loads(raw, object_pairs_hook=pairs)  # raises ValueError if it cannot read it
    return repeated[0] if repeated else None


# Quotes of each message type's required keys and string values (the tag ``kind`` included);
# an optional field adds 4 when given as a string (key and value), 2 as a number or null.
_EVENT_QUOTES = 2 * (13 + 8) + 2 * (2 + 2)  # 13 keys, 8 strings; area: 2 keys, 2 strings
_POSITION_QUOTES = 2 * (7 + 5)  # kind worker ts lon lat grid status; 5 of them strings
assert [f.name for f in msgspec.structs.fields(EventMessage)][12:] == [
    "detail",
    "reporter",
    "severity",
] and len(msgspec.structs.fields(EventMessage)) == 15, "update _least_quotes"
assert [f.name for f in msgspec.structs.fields(AreaRef)] == ["county", "town", "village", "grid"]
assert [f.name for f in msgspec.structs.fields(PositionMessage)][6:] == ["battery", "accuracy"]


def _least_quotes(raw: bytes, msg: Message) -> int:
    # A field at its default was either left out or given explicitly ("reporter": null). Given,
    # its key is in ``raw`` followed by a colon, which nothing inside a string can be (a quote
    # there is escaped): then it counts once; written any other way, it costs the slow path.
    if isinstance(msg, EventMessage):
        area = msg.area
        return (
            _EVENT_QUOTES
            + (4 if msg.detail != "" else 4 * (b'"detail":' in raw))
            + (4 if msg.reporter is not None else 2 * (b'"reporter":' in raw))
            + (4 if msg.severity is not None else 2 * (b'"severity":' in raw))
            + (4 if area.village is not None else 2 * (b'"village":' in raw))
            + (4 if area.grid is not None else 2 * (b'"grid":' in raw))
        )
    return (
        _POSITION_QUOTES
        + (2 if msg.battery is not None or b'"battery":' in raw else 0)
        + (2 if msg.accuracy is not None or b'"accuracy":' in raw else 0)
    )
