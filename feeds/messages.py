"""The messages that travel the bus, and their codecs: what every reader of the log needs.

Split from ``feeds.schema`` (which re-exports all of it) so that the types are one short module
to read next to docs/feeds.md, apart from the checks at the door that only intake runs.

Two kinds of message come from producers, told apart by ``kind``:

* ``event``: one step of an incident's life (reported, dispatched, ... closed, reopened).
  ``id`` is the incident id, stable across its steps; ``seq`` numbers the steps from 1.
* ``position``: a grid worker's location and status.

Two more are written by OneMap itself: ``warning`` (the analytics' early warnings) and
``action`` (what an operator did).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal, get_args

import msgspec

from feeds.catalogue import SEVERITIES, SOURCES, STEP_TYPES, WORKER_STATUSES

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

StepType = Literal[
    "reported", "dispatched", "accepted", "escalated", "handled", "feedback", "closed", "reopened",
    "transferred", "returned",
]  # fmt: skip
# ``command_center`` is OneMap's own duty desk: producers may not send it (feeds.schema).
Source = Literal["grid_worker", "hotline_12345", "app", "wechat", "inspection", "command_center"]
Severity = Literal["normal", "major", "urgent"]
WorkerStatus = Literal["patrolling", "handling", "idle", "offline"]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Identifier = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
Level = Annotated[int, msgspec.Meta(ge=1, le=5)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]

# The literals above spell out the catalogue's tuples for the type checker: keep them equal.
assert set(get_args(StepType)) == set(STEP_TYPES)
assert set(get_args(Source)) == set(SOURCES)
assert set(get_args(Severity)) == set(SEVERITIES)
assert set(get_args(WorkerStatus)) == set(WORKER_STATUSES)


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
    # Who took the step and what it says, for steps of the closed loop after the report: the
    # officer or handler (``actor``), who it goes to (``assignee``: a worker id or a department
    # code of feeds.catalogue.DEPARTMENTS) and why or with what result (``remark``).
    actor: Identifier | None = None
    assignee: Identifier | None = None
    remark: str = ""


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
    "acknowledge", "note", "supervise", "cast", "instruct", "follow", "release", "send_view",
    "dispatch", "transfer", "return", "escalate", "close", "reopen", "hand_over", "take_over",
    "replay", "live",
]  # fmt: skip
# The verbs that are steps of an incident's closed loop, taken from the duty desk: each is
# published as an ``EventMessage`` (source ``command_center``) and audited as an action naming
# the step's ``seq`` (dashboard.views.lifecycle).
STEP_VERBS: dict[str, str] = {
    "dispatch": "dispatched",
    "transfer": "transferred",
    "return": "returned",
    "escalate": "escalated",
    "close": "closed",
    "reopen": "reopened",
}
MAX_ACTION_TEXT = 500


class ActionMessage(
    msgspec.Struct, tag="action", tag_field="kind", forbid_unknown_fields=True, frozen=True
):
    """What a person did in OneMap: written by the dashboard itself, never by producers.

    The actions stream is the audit of operators' work (who, when, what); the views read it
    back like any other feed, so every server process and every screen sees the same actions.
    ``area`` is where the action applies (the incident's town, or the area a view shows);
    ``walls`` the registered walls (kiosk ids) a cast, follow or release drives; ``target`` a
    user name: the leader a view is sent to (send_view), or whose follow a release ends.
    ``display`` is the actor's display name at the time (what a wall shows); ``ends`` the
    follow a release ends, when the server ends it (so it cannot end a newer follow), or the
    hand-over a take_over acknowledges. A shift hand-over (hand_over) applies to the officer's
    jurisdiction (``area``), carries the officer's notes as ``text`` and its brief's counts as
    ``counts``; its take_over names the outgoing officer as ``target``. A replay (复盘) puts
    ``walls`` into replay of the moment ``at`` played at ``speed`` (0 paused, 1 to 60 times real
    time) for at most ``seconds``; ``live`` returns them to live (docs/wall.md, "Replay").
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
    walls: tuple[Identifier, ...] = ()
    display: str = ""
    ends: Identifier | None = None
    step: int | None = None  # a lifecycle verb: the seq of the incident's step it published
    # hand_over: its brief's counts (在办, 超期, 督办 ...: dashboard.views.handover_brief)
    counts: dict[str, int] | None = None
    at: AwareDatetime | None = None  # replay: the moment the walls show
    speed: Annotated[int, msgspec.Meta(ge=0, le=60)] | None = None  # replay: times real time


_action_decoder = msgspec.json.Decoder(ActionMessage)


def decode_action(raw: bytes | str) -> ActionMessage:
    """Decode an action read back from the actions stream."""
    return _action_decoder.decode(raw)


_warning_decoder = msgspec.json.Decoder(WarningMessage)


def decode_warning(raw: bytes | str) -> WarningMessage:
    """Decode a warning read back from the warnings stream."""
    return _warning_decoder.decode(raw)


_decoder: msgspec.json.Decoder[Message] = msgspec.json.Decoder(Message)
_encoder = msgspec.json.Encoder()


def encode(message: Message | WarningMessage | ActionMessage) -> bytes:
    return _encoder.encode(message)


def decode_message(raw: bytes | str) -> Message:
    """Decode one producer's message, checking its shape: raises ``msgspec.ValidationError``
    for a wrong shape, ``msgspec.DecodeError`` for bad JSON (``feeds.schema.validate`` then
    checks what JSON cannot say)."""
    return _decoder.decode(raw)


def decode_trusted(raw: bytes | str) -> Message:
    """Decode a message that already passed ``validate`` (read back from our own log)."""
    return _decoder.decode(raw)
