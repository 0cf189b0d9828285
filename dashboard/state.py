"""Today's state, folded from messages: pure Python, no Dash, no Redis.

Steps may arrive twice or out of order. An incident keeps every step by ``seq``; a step seen
before is a duplicate and changes nothing; the incident's status is that of its highest ``seq``,
so a late-arriving earlier step fills in the history without rolling the status back.

Every new step and fix also goes to ``metrics`` (dashboard.analytics), which keeps the KPIs,
the index inputs and the early warnings current in constant time per message.
"""

from __future__ import annotations

import gc
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec

from dashboard.analytics import AnalyticsConfig, Metrics
from dashboard.incident import (
    CLOSED,
    OPEN,
    Incident,
    IncidentFields,
    Step,
    StepHead,
    add_step,
    head_of,
    put_step,
    sid_key,
)
from feeds.geo import Geography
from feeds.schema import EventMessage, PositionMessage, decode_trusted

__all__ = [
    "CLOSED", "OPEN", "Applied", "Incident", "IncidentFields", "State", "Step", "StepHead",
    "sid_key",
]  # fmt: skip

_head = msgspec.json.Decoder(StepHead)
_incident_fields = msgspec.json.Decoder(IncidentFields)
Recall = Callable[[set[str]], dict[str, "Incident"]]  # ids → those the archive has, whole
LogBatch = list[tuple[bytes, bytes]]  # (stream id, JSON payload) as read from the events log
Full = EventMessage | bytes  # a step in full, or its payload
Columns = tuple[Sequence[str], Sequence["StepHead | EventMessage"], Sequence[Full]]


@dataclass(frozen=True, slots=True)
class Applied:
    """A step that changed the state: what the push layer sends on."""

    sid: str
    message: EventMessage
    incident: Incident


class State:
    """Every incident seen (open, and closed today), counters, latest worker positions."""

    def __init__(
        self, geo: Geography, recent_size: int = 500, analytics: AnalyticsConfig | None = None
    ) -> None:
        self.geo = geo
        self.metrics = Metrics(geo, analytics)
        self.incidents: dict[str, Incident] = {}
        self.counters: Counter[tuple[str, str, str, str, int, str]] = Counter()
        self.positions: dict[str, PositionMessage] = {}
        self.recent: deque[Applied] = deque(maxlen=recent_size)
        self.last_sid: dict[str, str] = {"events": "0-0", "positions": "0-0"}
        self.duplicates = 0
        # Where this state's history begins: the time of the first step it folded, and the
        # incidents it knows only from a later step (the log was trimmed past their report).
        self.first_ts: datetime | None = None
        self.unreported: set[str] = set()
        # The bounded working set (``evict``): incidents brought back from the archive by a
        # new step, and the close time before which incidents may have left memory.
        self.recalled: set[str] = set()
        self.evicted_before: datetime | None = None
        self.recall: Recall | None = None  # set by the server; never in a checkpoint

    def apply_event(self, sid: str, message: EventMessage) -> Applied | None:
        """Fold one step in; ``None`` when it was a duplicate."""
        self.last_sid["events"] = sid
        incident = self.incidents.get(message.id)
        if incident is None and self._may_be_archived(message):
            back = self._recall({message.id}).get(message.id)
            if back is not None:
                return self._returned(sid, message, back)
        if incident is None:
            incident = self._new_incident(message)
            self.incidents[message.id] = incident
        elif message.seq in incident.steps:
            self.duplicates += 1
            return None
        else:
            self.counters[incident.counter_key()] -= 1
        step = add_step(incident, sid, message)
        if step is incident.first:  # its first step, or one before all it had
            self._history(incident)
        self.counters[incident.counter_key()] += 1
        self.metrics.on_step(incident, step)
        applied = Applied(sid, message, incident)
        self.recent.append(applied)
        return applied

    def _returned(self, sid: str, message: EventMessage, incident: Incident) -> Applied | None:
        """A step of an incident that had left memory: it comes back with its whole history
        (``None`` when the step is one the archive has: a repeat)."""
        if message.seq in incident.steps:
            self.duplicates += 1
            return None
        self.incidents[incident.id] = incident
        add_step(incident, sid, message)
        self._history(incident)
        self.counters[incident.counter_key()] += 1
        self.metrics.restored(incident)
        applied = Applied(sid, message, incident)
        self.recent.append(applied)
        return applied

    def _may_be_archived(self, step: StepHead | EventMessage) -> bool:
        """Whether an unknown incident's step may belong to one that left memory: a later
        step, or a report from before the last eviction's horizon (a repeat of an old one)."""
        if self.recall is None:
            return False
        horizon = self.evicted_before
        return step.type != "reported" or (horizon is not None and step.ts < horizon)

    def _recall(self, ids: set[str]) -> dict[str, Incident]:
        assert self.recall is not None
        found = self.recall(ids)
        self.recalled.update(found)
        return found

    def bring_back(self, ids: set[str]) -> int:
        """Recall the incidents ``ids`` that memory does not hold (open ones the log no longer
        reaches back to, after a rebuild), counted as if folded; returns how many came."""
        if self.recall is None:
            return 0
        found = self._recall(ids - self.incidents.keys())
        heads: list[StepHead] = []
        for incident in found.values():
            self.incidents[incident.id] = incident
            heads += [head_of(incident.id, s) for s in incident.steps.values()]
            self._history(incident)
            self.counters[incident.counter_key()] += 1
        self.metrics.settle_folded(list(found.values()), heads)
        return len(found)

    def evict(self, before: datetime, archived: str, ids: Iterable[str]) -> list[str]:
        """Let go of the incidents ``ids`` that are closed, closed before ``before``, and have
        every step archived (stream ids up to ``archived``); returns those let go. Their
        contribution leaves the counters (``Metrics.forget``): figures of the kept days do
        not move. A later step brings an incident back whole (``recall``)."""
        mark = sid_key(archived)
        gone = []
        for incident_id in ids:
            incident = self.incidents.get(incident_id)
            latest = incident.latest if incident is not None else None
            if incident is None or latest is None or latest.type != "closed":
                continue
            if latest.ts >= before or max(sid_key(s.sid) for s in incident.steps.values()) > mark:
                continue
            del self.incidents[incident_id]
            key = incident.counter_key()
            self.counters[key] -= 1
            if not self.counters[key]:
                del self.counters[key]
            self.metrics.forget(incident)
            self.unreported.discard(incident_id)
            self.recalled.discard(incident_id)
            gone.append(incident_id)
        if self.evicted_before is None or before > self.evicted_before:
            self.evicted_before = before
        return gone

    def fold(self, entries: Iterable[tuple[str, EventMessage]]) -> int:
        """Apply many steps (a rebuild from the log); returns how many were new.

        The same state as ``apply_event`` one by one, in well under half the time: counters
        and analytics count each touched incident once at the end, only the last steps
        become ``Applied`` for ``recent``, and the cyclic garbage collector rests meanwhile
        (folding makes no reference cycles, and the collector's rescans of a growing state
        cost a third of the time).
        """
        rows = list(entries)
        messages = [m for _, m in rows]
        return self._fold([([sid for sid, _ in rows], messages, messages)])

    def fold_log(self, batches: Iterable[LogBatch]) -> int:
        """``fold`` for raw log entries, in batches of (stream id, payload) (``Bus.log_batches``).

        Each payload is decoded only to the fields folding needs; a step is decoded in full
        only when it opens an incident or ends up in ``recent``. The decoding runs with the
        collector paused too, since it makes most of the objects.
        """
        return self._fold(_columns(batches))

    def _fold(self, batches: Iterable[Columns]) -> int:
        """Fold batches of steps (ids, steps, the full messages or payloads); see ``fold``."""
        collecting = gc.isenabled()
        gc.disable()
        before: dict[str, tuple[str, str, str, str, int, str] | None] = {}  # counter keys
        last: deque[tuple[str, Full, Incident]] = deque(maxlen=self.recent.maxlen)
        incidents, done = self.incidents, None  # done: the last stream id folded
        folded: list[StepHead | EventMessage] = []  # the steps added, for the metrics
        report = self.metrics.fold_report
        earlier: set[str] = set()  # new incidents whose earlier steps the archive may hold
        archived = self._may_be_archived
        try:
            for sids, heads, fulls in batches:
                for sid, head, full in zip(sids, heads, fulls, strict=True):
                    incident = incidents.get(head.id)
                    if incident is None:
                        incident = incidents[head.id] = self._new_incident(_fields(full))
                        before[head.id] = None
                        if archived(head):
                            earlier.add(head.id)
                    elif head.seq in incident.steps:
                        self.duplicates += 1
                        done = sid
                        continue
                    elif head.id not in before:
                        before[head.id] = incident.counter_key()
                    step = add_step(incident, sid, head)
                    if step.type == "reported":
                        report(incident, step)
                    last.append((sid, full, incident))
                    folded.append(head)
                    done = sid
            if earlier:  # one read of the archive for the whole fold, not one per batch
                folded += self._earlier_steps(earlier)
        finally:
            # A fold that failed (Redis went away mid-read) resumes after the last step it
            # folded: what was folded is counted, and nothing is folded twice.
            if done is not None:
                self.last_sid["events"] = done
            # what was folded is counted, even when a bad entry stopped the fold
            self.metrics.settle_folded([incidents[i] for i in before], folded)
            for incident_id in before:
                self._history(incidents[incident_id])
            for incident_id, key in before.items():
                if key is not None:
                    self.counters[key] -= 1
                self.counters[incidents[incident_id].counter_key()] += 1
            self.recent.extend(Applied(sid, _event(m), incident) for sid, m, incident in last)
            if collecting:
                gc.enable()
        return len(folded)

    def _earlier_steps(self, ids: set[str]) -> list[StepHead]:
        """Put into the incidents ``ids`` (begun by this fold from a later step) the steps the
        archive has of them and the fold did not; returns those steps, to be counted."""
        added: list[StepHead] = []
        for incident_id, archived in self._recall(ids).items():
            incident = self.incidents[incident_id]
            for step in archived.steps.values():
                if step.seq not in incident.steps:
                    put_step(incident, step)
                    added.append(head_of(incident_id, step))
        return added

    def _history(self, incident: Incident) -> None:
        first = incident.first
        if first is None:
            return
        if self.first_ts is None or first.ts < self.first_ts:
            self.first_ts = first.ts
        if first.type == "reported":
            self.unreported.discard(incident.id)
        else:
            self.unreported.add(incident.id)

    def history(self) -> dict[str, object] | None:
        """``None`` when every incident's story starts with its report; else when this state's
        history begins and how many incidents it knows only from later steps (docs/metrics.md:
        a trimmed log)."""
        if not self.unreported or self.first_ts is None:
            return None
        return {"since": self.first_ts.isoformat(), "partial": len(self.unreported)}

    def _new_incident(self, m: EventMessage | IncidentFields) -> Incident:
        return Incident(
            m.id,
            m.category,
            m.area,
            m.lon,
            m.lat,
            m.source,
            m.title,
            m.detail,
            m.reporter,
            m.severity,
            m.deadline,
        )

    def apply_position(self, sid: str, message: PositionMessage) -> bool:
        """Keep the newest position per worker; ``False`` for an older, late one."""
        self.last_sid["positions"] = sid
        known = self.positions.get(message.worker)
        newest = known is None or known.ts <= message.ts
        self.metrics.on_position(message, newest)  # an older fix still counts as a visit
        if not newest:
            return False
        self.positions[message.worker] = message
        return True

    def restore_positions(self, latest: dict[str, PositionMessage]) -> None:
        """Take every worker's latest fix (from the bus's hash) after a restart."""
        for message in latest.values():
            known = self.positions.get(message.worker)
            newest = known is None or known.ts <= message.ts
            self.metrics.on_position(message, newest)
            if newest:
                self.positions[message.worker] = message

    def restore_visits(self, visits: dict[tuple[str, str], float]) -> None:
        """Take a day's patrol visits ((worker, grid) → first on-duty fix, from the bus) after
        a restart: the positions stream no longer holds the day's earlier fixes."""
        self.metrics.patrol.restore(visits)

    def count(self, area: str | None = None, status: str | None = None) -> int:
        """Incidents in ``area`` (a county or town code, or the city) with ``status``."""
        area = area or self.geo.city.code
        return sum(
            n
            for (county, town, *_rest, st), n in self.counters.items()
            if (status is None or st == status) and area in (self.geo.city.code, county, town)
        )


def _columns(batches: Iterable[LogBatch]) -> Iterator[Columns]:
    head = _head.decode  # one payload at a time: twice as fast as joining them into an array
    for batch in batches:
        yield [sid.decode() for sid, _ in batch], [head(p) for _, p in batch], [p for _, p in batch]


def _fields(full: Full) -> EventMessage | IncidentFields:
    return full if isinstance(full, EventMessage) else _incident_fields.decode(full)


def _event(full: Full) -> EventMessage:
    if isinstance(full, EventMessage):
        return full
    message = decode_trusted(full)
    assert isinstance(message, EventMessage)
    return message
