"""One worker's patrol track on the desk (socket ``track``): the fixes kept for replay.

The desk asks for a worker of its jurisdiction and a span (by default today since local
midnight, China time; at most ``MAX_SPAN``); the answer is the worker's kept fixes
(dashboard.cold.tracks: one per 30 s and every change of grid or status) and the newest live
fix, oldest first. A track is where a person was: only roles that see incident details get it,
only for a worker whose last known grid is inside their jurisdiction, and every ask is audited
(who, which worker, which span, granted or not).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from dashboard.access.auth import DETAIL_ROLES, Access
from dashboard.cold.tracks import TrackReader
from dashboard.live.inbound import Caller, Reply, SocketApi
from dashboard.live.livestate import LiveState
from feeds.geo import contains
from feeds.schema import CHINA_TZ

MAX_SPAN = timedelta(hours=24)
MAX_POINTS = 6_000  # a day at one fix per 30 s is 2,880


class TrackAsk(msgspec.Struct, kw_only=True):
    worker: str
    since: datetime | None = None  # default: local midnight today
    until: datetime | None = None  # default: now


class PatrolTracks:
    def __init__(self, access: Access, live: LiveState, tracks: TrackReader) -> None:
        self.access, self.live, self.tracks = access, live, tracks

    def install(self, api: SocketApi) -> None:
        api.on("track", TrackAsk, roles=DETAIL_ROLES, audit_as="track")(self.on_track)

    def on_track(self, caller: Caller, asked: TrackAsk) -> Reply:
        who, worker = caller.who, asked.worker[:64]
        now = datetime.now(UTC)
        until = min(asked.until or now, now)
        midnight = now.astimezone(CHINA_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
        since = max(asked.since or midnight, until - MAX_SPAN)
        with self.live.read() as state:
            fix = state.positions.get(worker)
        inside = fix is not None and contains(who.scope, fix.grid)
        self.access.audit(
            "track",
            who.name,
            role=who.role,
            scope=who.scope,
            worker=worker,
            since=since.isoformat(),
            until=until.isoformat(),
            outcome="granted" if inside else "refused",
        )
        if fix is None or not inside:
            return {"ok": False, "error": "worker not found"}  # the same outside the scope
        kept = self.tracks.track(worker, _ms(since), _ms(until))
        newest = fix.ts.astimezone(CHINA_TZ).isoformat(timespec="seconds")
        if since <= fix.ts <= until and (not kept or kept[-1][0] < newest):
            kept.append((newest, fix.lon, fix.lat, fix.status))  # not yet written to the archive
        points = [[round(lon, 5), round(lat, 5), ts, status] for ts, lon, lat, status in kept]
        return {
            "ok": True,
            "worker": worker,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "points": points[-MAX_POINTS:],
        }


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
