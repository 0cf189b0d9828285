"""An incident as the state keeps it: its fields (from its first step) and every step by seq.

Split from ``dashboard.state`` (which re-exports these names) so the state module holds the
folding alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from feeds.catalogue import CATEGORIES
from feeds.log_reader import sid_key
from feeds.schema import AreaRef, EventMessage

__all__ = ["CLOSED", "OPEN", "Incident", "IncidentFields", "Step", "StepHead", "sid_key"]

OPEN, CLOSED = "open", "closed"


class Step(msgspec.Struct, frozen=True, gc=False):
    """One step as the state keeps it. A msgspec struct, not a dataclass: a rebuild makes
    200,000 of them, and a frozen dataclass's ``__init__`` costs ten times as much. It holds
    only strings, numbers and a datetime, so the cyclic collector need not track it."""

    seq: int
    type: str
    ts: datetime
    level: int
    sid: str


class StepHead(msgspec.Struct, gc=False):
    """The fields of an event step (``EventMessage``'s names) that folding a step needs.

    A rebuild decodes every step of the log; only an incident's first step needs the rest
    (area, text, deadline ...), so the others are decoded to this, about three times faster.
    """

    id: str
    seq: int
    type: str
    ts: datetime
    level: int


class IncidentFields(msgspec.Struct, gc=False):
    """What makes an ``Incident``: the fields of its first step. A rebuild decodes 40,000 of
    them from our own log, which holds only messages that passed ``EventMessage``'s checks on
    arrival; decoded to this, without those checks again, they cost 40 % less."""

    id: str
    category: str
    area: AreaRef
    lon: float
    lat: float
    source: str
    title: str
    deadline: datetime
    detail: str = ""
    reporter: str | None = None
    severity: str | None = None


@dataclass(slots=True)
class Incident:
    id: str
    category: str
    area: AreaRef
    lon: float
    lat: float
    source: str
    title: str
    detail: str
    reporter: str | None
    severity: str | None
    deadline: datetime
    steps: dict[int, Step] = field(default_factory=dict)
    latest: Step | None = None  # the step with the highest seq
    first: Step | None = None  # the step with the lowest seq: its report, normally

    @property
    def status(self) -> str:
        return CLOSED if self.latest is not None and self.latest.type == "closed" else OPEN

    @property
    def level(self) -> int:
        return self.latest.level if self.latest else 1

    @property
    def platform(self) -> str:
        return CATEGORIES[self.category].platform

    def counter_key(self) -> tuple[str, str, str, str, int, str]:
        latest = self.latest  # the properties, inlined: this runs twice per step
        return (
            self.area.county,
            self.area.town,
            self.category,
            CATEGORIES[self.category].platform,
            latest.level if latest else 1,
            CLOSED if latest is not None and latest.type == "closed" else OPEN,
        )


def head_of(incident_id: str, step: Step) -> StepHead:
    return StepHead(incident_id, step.seq, step.type, step.ts, step.level)


def add_step(incident: Incident, sid: str, message: EventMessage | StepHead) -> Step:
    step = incident.steps[message.seq] = Step(
        message.seq, message.type, message.ts, message.level, sid
    )
    # ``put_step``, inlined: this runs for every step of a rebuild
    if incident.latest is None or message.seq > incident.latest.seq:
        incident.latest = step
    if incident.first is None or message.seq < incident.first.seq:
        incident.first = step
    return step


def put_step(incident: Incident, step: Step) -> None:
    incident.steps[step.seq] = step
    if incident.latest is None or step.seq > incident.latest.seq:
        incident.latest = step
    if incident.first is None or step.seq < incident.first.seq:
        incident.first = step
