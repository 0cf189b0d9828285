"""The feed contract in code: validation at the door, and the message types it lets in.

``validate`` turns raw bytes into a typed message or a ``Rejection`` with a stable reason code;
it never raises, so one bad line cannot stop a feed. The message types and codecs live in
``feeds.messages`` and are re-exported here, so ``feeds.schema`` stays the one import for the
whole contract. docs/feeds.md is the human version of both modules and must change with them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec

from feeds.catalogue import CATEGORIES, DESK_SOURCE
from feeds.geo import Geography
from feeds.messages import (
    CHINA_TZ,
    MAX_ACTION_TEXT,
    ActionMessage,
    ActionVerb,
    AreaRef,
    AwareDatetime,
    EventMessage,
    Identifier,
    Latitude,
    Level,
    Longitude,
    Message,
    PositionMessage,
    Severity,
    Source,
    StepType,
    WarningMessage,
    WarningType,
    WorkerStatus,
    decode_action,
    decode_message,
    decode_trusted,
    decode_warning,
    encode,
)

__all__ = [
    "CHINA_TZ", "DEFAULT_LIMITS", "FIRST_YEAR", "LAST_YEAR", "MAX_ACTION_TEXT",
    "MAX_DEADLINE_AHEAD", "MAX_DETAIL_CHARS", "MAX_MESSAGE_BYTES", "MAX_OVERDUE", "MAX_TITLE_CHARS",
    "REJECTION_REASONS", "ActionMessage", "ActionVerb", "AreaRef", "AwareDatetime",
    "EventMessage", "Identifier", "Latitude", "Level", "Limits", "Longitude", "Message",
    "PositionMessage", "Rejection", "Severity", "Source", "StepType", "WarningMessage",
    "WarningType", "WorkerStatus", "decode_action", "decode_trusted", "decode_warning", "encode",
    "validate",
]

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
    "text_too_long": (
        f"title over {MAX_TITLE_CHARS}, detail over {MAX_DETAIL_CHARS} or remark over "
        f"{MAX_ACTION_TEXT} chars"
    ),
    "bad_text": "empty title, or control or bidi characters in text",
    "reserved_source": "source command_center: only OneMap's own duty desk writes it",
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
    *,
    desk: bool = False,
) -> Message | Rejection:
    """Decode and check one message. Never raises for bad input. ``desk``: the message is a
    step taken at OneMap's duty desk, the one writer of the source ``command_center``."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_MESSAGE_BYTES:
        return Rejection("too_large", f"{len(raw)} bytes")
    try:
        message = decode_message(raw)
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
        if (message.source == DESK_SOURCE) != desk:
            detail = "only the duty desk writes it" if not desk else "a desk step must say so"
            return Rejection("reserved_source", f"source {message.source!r}: {detail}")
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
    if len(msg.remark) > MAX_ACTION_TEXT:
        return Rejection("text_too_long", f"remark {len(msg.remark)}")
    bad = _DETAIL_BAD.search(msg.remark)
    if bad:
        return Rejection("bad_text", f"remark holds {_codepoint(bad.group())}")
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

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
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
    "actor",
    "assignee",
    "remark",
] and len(msgspec.structs.fields(EventMessage)) == 18, "update _least_quotes"
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
            + (4 if msg.actor is not None else 2 * (b'"actor":' in raw))
            + (4 if msg.assignee is not None else 2 * (b'"assignee":' in raw))
            + (4 if msg.remark != "" else 4 * (b'"remark":' in raw))
            + (4 if area.village is not None else 2 * (b'"village":' in raw))
            + (4 if area.grid is not None else 2 * (b'"grid":' in raw))
        )
    return (
        _POSITION_QUOTES
        + (2 if msg.battery is not None or b'"battery":' in raw else 0)
        + (2 if msg.accuracy is not None or b'"accuracy":' in raw else 0)
    )
