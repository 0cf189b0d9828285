"""The log, turned into alerts: follow the events, actions and warnings streams, match the
subscriptions, queue each (alert, subscription) once.

The watcher keeps a small table of incidents (deadline, area, title, level, open or closed),
folded by the state's rules (docs/metrics.md: area and deadline of the first step received,
status of the highest ``seq``), so it can tell when one goes overdue (the clock, not a message,
makes that) and when a step takes one to a higher level. It starts by folding the events
before its cursor without alerting, then alerts on everything after it. The first run of a
notifier starts at the end of the log: nothing that happened before it is told.

Acknowledgement from the duty desk is the desk's own 签收 (the ``act`` socket event, verb
``acknowledge``): read back here from the actions stream, it acknowledges every alert about
that incident, on every notifier.
"""

from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dashboard.notify.model import Alert, Job, Subscription, chain_id, matches
from dashboard.notify.store import NotifyStore
from feeds.bus import ACTIONS, EVENTS, WARNINGS, Bus
from feeds.geo import Geography
from feeds.log_reader import entries_of
from feeds.schema import (
    ActionMessage,
    EventMessage,
    WarningMessage,
    decode_action,
    decode_trusted,
    decode_warning,
)

log = logging.getLogger(__name__)
STREAMS = (EVENTS, ACTIONS, WARNINGS)
WARNING_FRESH = timedelta(hours=1)  # older warnings (a server replaying its log) are not told
SUBS_EVERY_S = 1.0  # subscriptions are read again this often


@dataclass(slots=True)
class Tracked:
    deadline: float
    area: str
    title: str
    detail: str
    severity: str
    level: int
    status: str
    top_seq: int


class Watcher:
    def __init__(self, bus: Bus, store: NotifyStore, geo: Geography) -> None:
        self.bus = bus
        self.store = store
        self.geo = geo
        self.incidents: dict[str, Tracked] = {}
        self.due: list[tuple[float, str]] = []  # (deadline, incident) of open incidents
        self.position: dict[str, str] = {}
        self.since = 0.0  # overdue is told only for deadlines after the first run began
        self._subs: list[Subscription] = []
        self._subs_at = -SUBS_EVERY_S

    # -- starting --------------------------------------------------------------------------
    def start(self) -> None:
        saved = self.store.cursor()
        if not saved:  # the first notifier on this log: start at its end
            saved = {name: self._last_id(name) for name in STREAMS}
            saved["since"] = str(time.time())
            self.store.save_cursor(saved)
        self.since = float(saved.pop("since", "0"))
        self.position = {name: saved.get(name, "0-0") for name in STREAMS}
        folded = self._fold_before(self.position[EVENTS])
        log.info("notifier watching from %s (%d incidents folded)", self.position, folded)

    def _last_id(self, stream: str) -> str:
        rows = entries_of(self.bus.client.xrevrange(self.bus.keys[stream], count=1))
        return rows[0][0] if rows else "0-0"

    def _fold_before(self, upto: str) -> int:
        if upto in ("0", "0-0"):
            return 0
        key, start, count = self.bus.keys[EVENTS], "-", 0
        while True:
            rows = entries_of(self.bus.client.xrange(key, min=start, max=upto, count=5000))
            for _sid, fields in rows:
                message = decode_trusted(fields[b"m"])
                if isinstance(message, EventMessage):
                    self._fold(message)
                    count += 1
            if len(rows) < 5000:
                return count
            start = f"({rows[-1][0]}"

    # -- following -------------------------------------------------------------------------
    def poll(self, block_ms: int) -> int:
        """Read what arrived (waiting up to ``block_ms``), check the clock; returns how many
        jobs were queued."""
        batch = self.bus.read_raw(self.position, block_ms=block_ms, count=500)
        alerts: list[Alert] = []
        for stream, sid, raw in batch:
            try:
                alerts += self._alerts_of(stream, raw)
            except Exception:  # one entry it cannot read is skipped, never the stream
                log.exception("notifier skipped %s entry %s", stream, sid)
            self.position[stream] = sid
        alerts += self._overdue(time.time())
        queued = self.queue(alerts)
        if batch:
            self.store.save_cursor(self.position)
        return queued

    def queue(self, alerts: list[Alert]) -> int:
        if not alerts:
            return 0
        queued = 0
        for alert in alerts:
            for sub in self.subscriptions():
                if matches(sub, alert):
                    chain = chain_id(sub.name, alert.source)
                    queued += self.store.queue_once(Job(alert, sub.name, chain, root=sub.name))
        return queued

    def subscriptions(self) -> list[Subscription]:
        now = time.monotonic()
        if now - self._subs_at >= SUBS_EVERY_S:
            self._subs, self._subs_at = self.store.subscriptions(), now
        return self._subs

    def _alerts_of(self, stream: str, raw: bytes) -> list[Alert]:
        if stream == EVENTS:
            message = decode_trusted(raw)
            return self._step(message) if isinstance(message, EventMessage) else []
        if stream == ACTIONS:
            return self._action(decode_action(raw))
        return self._warning(decode_warning(raw))

    # -- events: the incident table, levels, overdue ---------------------------------------
    def _fold(self, m: EventMessage) -> None:
        """Fold one step; an incident that is open from it on waits in ``due``."""
        known = self.incidents.get(m.id)
        was_open = known is not None and known.status == "open"
        if known is None:
            known = Tracked(
                m.deadline.timestamp(),
                m.area.finest,
                m.title,
                m.detail,
                m.severity or "normal",
                m.level,
                "open",
                0,
            )
            self.incidents[m.id] = known
        known.level = max(known.level, m.level)
        if m.seq > known.top_seq:
            known.top_seq = m.seq
            known.status = "closed" if m.type == "closed" else "open"
            if known.status == "open" and not was_open:
                heapq.heappush(self.due, (known.deadline, m.id))

    def _step(self, m: EventMessage) -> list[Alert]:
        fresh = m.id not in self.incidents
        before = 0 if fresh else self.incidents[m.id].level
        self._fold(m)
        if fresh and m.seq != 1 and m.type != "escalated":
            # first seen mid-life: its start trimmed from the log (reached its level long ago)
            # or still to come (steps out of order); only an escalation says it rose now
            return []
        if m.level <= max(before, 1):
            return []  # a report at level 1, or a step that goes no higher than before
        t = self.incidents[m.id]
        return [
            Alert(
                source=f"level:{m.id}:{m.level}",
                kind="level",
                area=t.area,
                place=self._place(t.area),
                title=t.title,
                ts=m.ts.isoformat(),
                detail=t.detail,
                incident=m.id,
                level=m.level,
                prev_level=before or None,  # None: reported straight to this level
                severity=t.severity,
            )
        ]

    def _overdue(self, now: float) -> list[Alert]:
        alerts = []
        while self.due and self.due[0][0] < now:
            deadline, incident = heapq.heappop(self.due)
            t = self.incidents.get(incident)
            if t is None or t.status != "open" or t.deadline != deadline or deadline < self.since:
                continue
            at = datetime.fromtimestamp(deadline, UTC).isoformat()
            alerts.append(
                Alert(
                    source=f"overdue:{incident}:{int(deadline)}",
                    kind="overdue",
                    area=t.area,
                    place=self._place(t.area),
                    title=t.title,
                    ts=at,
                    detail=t.detail,
                    incident=incident,
                    level=t.level,
                    severity=t.severity,
                )
            )
        return alerts

    # -- actions and warnings ----------------------------------------------------------------
    def _action(self, a: ActionMessage) -> list[Alert]:
        if a.verb == "acknowledge" and a.incident:
            acked = self.store.acknowledge_incident(a.incident, f"desk:{a.actor}")
            if acked:
                log.info("%d alert(s) about %s acknowledged at the desk", acked, a.incident)
            return []
        if a.verb not in ("supervise", "instruct"):
            return []
        t = self.incidents.get(a.incident or "")
        return [
            Alert(
                source=f"action:{a.id}",
                kind=a.verb,
                area=a.area,
                place=self._place(a.area),
                title=t.title if t else a.verb,
                ts=a.ts.isoformat(),
                detail=a.text,
                incident=a.incident,
                level=t.level if t else None,
                actor=a.actor,
                severity=t.severity if t else "normal",
            )
        ]

    def _warning(self, w: WarningMessage) -> list[Alert]:
        if datetime.now(UTC) - w.ts > WARNING_FRESH:
            return []
        red = w.type == "index_drop" and "-red-" in w.id  # dashboard.analytics.watch's ids
        return [
            Alert(
                source=f"warning:{w.id}",
                kind="red" if red else "warning",
                area=w.area,
                place=self._place(w.area),
                title=w.title,
                ts=w.ts.isoformat(),
                detail=w.detail,
                severity=w.severity,
            )
        ]

    def _place(self, code: str) -> str:
        return self.geo.label(code) if self.geo.area(code) else code
