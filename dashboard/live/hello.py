"""A page's ``hello``: join the room of its scope, then receive a snapshot or what it missed.

The socket joins its room first, so every step applied from then on reaches it live; the reply
then covers everything applied up to the state's ``last`` id read after the join. A live step
can overtake the reply: the page buffers live data while its hello is unanswered and drops
any id it has already applied (assets/onemap-10-core.js), so nothing falls in between and
nothing is applied twice.

Nothing here holds the state's lock for long, whatever a page asks for: the log is read from
Redis outside it, a catch-up reads at most ``MAX_CATCHUP`` entries (more: a snapshot is
cheaper), and the lock is taken in short slices to match entries with the state.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from dashboard.analytics.outbox import payload as warning_payload
from dashboard.live.livestate import LiveState
from dashboard.live.outbound import (
    ClosedRow,
    HelloReply,
    IncidentMarker,
    Kpis,
    StepPayload,
    closed_row,
    incident_marker,
    position_row,
    reported_at,
    step_payload,
)
from dashboard.state import OPEN, Applied, Incident, sid_key
from dashboard.views import panels
from feeds.bus import EVENTS, Bus, Entry, decode_entry
from feeds.geo import contains
from feeds.schema import CHINA_TZ, EventMessage, WarningMessage

log = logging.getLogger(__name__)

MAX_CATCHUP = 20_000  # log entries; beyond this a page is better served by a fresh snapshot
LITE_STEPS = 30  # a lite snapshot's latest steps (the tablet's feed)
WARNING_PIN_S = 600  # how long a wall pins a warning (WARNING_PIN_MS in onemap-30-ticker.js)
SLICE = 2_000  # entries or incidents handled per hold of the state's lock
STREAM_ID = re.compile(r"\d{1,15}-\d{1,15}")
# A wall's density window (docs/wall.md, ``?window=``) besides "open": reported today, or in the
# last 1 to 24 hours (layouts/wall.py takes the same values from the URL)
WINDOW_HOURS = re.compile(r"([1-9]|1[0-9]|2[0-4])h")

Item = TypeVar("Item")


class Greeter:
    """Builds the reply to a hello; the caller has already put the socket in its room."""

    def __init__(
        self,
        live: LiveState,
        bus: Bus,
        ticker_size: int,
        kpis: Callable[[str, datetime], Kpis],
    ) -> None:
        self.live = live
        self.state = live.state
        self.lock = live.lock
        self.bus = bus
        self.ticker_size = ticker_size
        self.kpis = kpis
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # a replay sets its moment

    def reply(
        self, scope: str, after: str | None, lite: bool, window: str | None = None
    ) -> HelloReply:
        if after and STREAM_ID.fullmatch(after):  # anything else: a snapshot, not an error
            caught = self.catch_up(scope, after)
            if caught is not None:
                return caught
        return self.snapshot(scope, lite, window)

    # -- what a page needs to start ----------------------------------------------------------
    def snapshot(self, scope: str, lite: bool = False, window: str | None = None) -> HelloReply:
        """``lite`` (a tablet on a mobile link): no worker positions, no incident markers, the
        last ``LITE_STEPS`` steps only. ``window`` (a wall's density, ``window_start``): the
        reply's ``closed`` also holds the incidents reported in it and closed since."""
        geo = self.state.geo
        now = self.clock()
        with self.lock:
            last = self.state.last_sid[EVENTS]
            recent = list(self.state.recent)
            workers = [] if lite else list(self.state.positions.values())
            kpis = self.kpis(scope, now)
            figures = panels.cached(self.state, scope, now)
            warned = [] if lite else list(self.state.metrics.recent_warnings)
        keep = LITE_STEPS if lite else self.ticker_size
        mine = [a for a in recent if contains(scope, a.message.area.town)]
        with self.lock:  # a payload reads the incident's current status
            steps = [step_payload(a, geo) for a in mine[-keep:]]
        positions = [position_row(p) for p in workers if contains(scope, p.grid)]
        since = None if lite else window_start(window, now)
        markers, closed = ([], []) if lite else self._markers(scope, now, since)
        reply: HelloReply = {
            "ok": True,
            "mode": "snapshot",
            "scope": scope,
            "last": last,
            "steps": steps,
            "positions": positions,
            "incidents": markers,
            "panels": figures,
            "warnings": pinned_warnings(warned, scope, now, geo.label),
            **kpis,  # type: ignore[typeddict-item]  # Kpis' keys are HelloReply's too (mypy#11108)
        }
        if since is not None:
            reply["closed"] = closed
        return reply

    def _markers(
        self, scope: str, now: datetime, since: datetime | None
    ) -> tuple[list[IncidentMarker], list[ClosedRow]]:
        """The open incidents of ``scope``; with ``since``, also its closed ones reported since
        then, as many as memory holds (docs/wall.md, "What the page knows")."""
        with self.lock:
            incidents = list(self.state.incidents.values())
        markers: list[IncidentMarker] = []
        closed: list[ClosedRow] = []
        for chunk in _slices(incidents, SLICE):
            with self.lock:  # status is read from the incident's steps, which the bridge adds to
                for i in chunk:
                    if not contains(scope, i.area.town):
                        continue
                    if i.status == OPEN:
                        markers.append(incident_marker(i, now))
                    elif since is not None and (first := i.first) and first.ts >= since:
                        reported = reported_at(i)
                        if reported is not None:
                            closed.append(closed_row(i, reported))
        return markers, closed

    # -- what a reconnecting page missed ------------------------------------------------------
    def catch_up(self, scope: str, after: str) -> HelloReply | None:
        """Steps after ``after`` in scope, up to what the state has applied (and so emitted);
        ``None`` when a snapshot must do instead: the id is no longer in the log, or too much
        happened since."""
        with self.lock:
            last = self.state.last_sid[EVENTS]
        if sid_key(after) >= sid_key(last):
            return {"ok": True, "mode": "catchup", "scope": scope, "last": last, "steps": []}
        if not self._still_in_log(after):
            return None
        if self.bus.count_range(EVENTS, after, last, MAX_CATCHUP + 1) > MAX_CATCHUP:
            return None  # counted inside Redis: a replay of the whole log costs nothing here
        rows = self.bus.range_raw(EVENTS, after, last, MAX_CATCHUP + 1)
        mine = [e for e in map(_entry, rows) if e is not None and _event_within(e, scope)]
        steps: list[StepPayload] = []
        for chunk in _slices(mine, SLICE):
            with self.lock:
                steps += [p for p in map(self._applied_payload, chunk) if p is not None]
        return {"ok": True, "mode": "catchup", "scope": scope, "last": last, "steps": steps}

    def _applied_payload(self, entry: Entry) -> StepPayload | None:
        m = entry.message
        assert isinstance(m, EventMessage)
        incident: Incident | None = self.state.incidents.get(m.id)
        applied = incident.steps.get(m.seq) if incident is not None else None
        if incident is None or applied is None or applied.sid != entry.sid:
            return None  # a repeat in the log: the state dropped it, so pages never saw it
        return step_payload(Applied(entry.sid, m, incident), self.state.geo)

    def _still_in_log(self, after: str) -> bool:
        first = self.bus.first_id(EVENTS)
        return first is None or sid_key(first) <= sid_key(after) or after == "0-0"


def window_start(window: str | None, now: datetime) -> datetime | None:
    """From when a wall's density ``window`` counts reports: midnight in China for "today",
    ``now`` less N hours for "Nh" (1 to 24); ``None`` for "open" or anything else."""
    if window == "today":
        return now.astimezone(CHINA_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    if window and WINDOW_HOURS.fullmatch(window):
        return now - timedelta(hours=int(window[:-1]))
    return None


def pinned_warnings(
    warnings: list[WarningMessage], scope: str, now: datetime, label: Callable[[str], str]
) -> list[dict[str, object]]:
    """The warnings a wall of ``scope`` would still have pinned, oldest first, each with the
    seconds it stays pinned (``pinFor``: counted here, so a wall's own clock does not matter)."""
    out: list[dict[str, object]] = []
    for w in sorted(warnings, key=lambda w: w.ts):
        left = WARNING_PIN_S - (now - w.ts).total_seconds()
        if left > 0 and contains(scope, w.area):
            out.append({**warning_payload(w, label(w.area)), "pinFor": round(left)})
    return out


def _entry(row: tuple[str, bytes]) -> Entry | None:
    try:
        return Entry(EVENTS, row[0], decode_entry(EVENTS, row[1]))
    except Exception:  # the bridge skipped it too (dead-lettered as apply_failed)
        return None


def _event_within(entry: Entry, scope: str) -> bool:
    m = entry.message
    return isinstance(m, EventMessage) and contains(scope, m.area.town)


def _slices(items: list[Item], size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
