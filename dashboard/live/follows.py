"""大屏跟随 that ends by itself: when the leader's tablet has been gone for
``ONEMAP_FOLLOW_GRACE_S``, or ``ONEMAP_FOLLOW_MAX_S`` after the leader began it.

A follow is a message in the actions stream like any action, and so is its end. Each follow
has a lease in Redis (``Bus.renew_leases``): the server process whose socket asked for it
renews it while that socket is connected, and once more when the socket goes, so the lease
lapses ``grace_s`` after the tablet went away (also when that process itself died: nobody
renews it then). Every process looks at the follows its book holds once a tick; one whose lease
lapsed or whose time is up is ended by a release action naming it (``ends``), which only the
first process to see it publishes (``Bus.publish_action_once``) and audits. Walls hear that
release like any other (``dashboard.live.fanout``), go back to their own view and say why; the
leader's pages hear it too, so the tablet stops following.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from dashboard.live.livestate import LiveState
from feeds.bus import Bus
from feeds.outage import RETRYABLE
from feeds.schema import ActionMessage

log = logging.getLogger(__name__)

SYSTEM = "onemap"  # the actor of the actions the server takes by itself
ENDED_MEMORY_S = 86_400  # an ended follow's marker: no process publishes its end twice
Audit = Callable[..., None]  # Access.audit: (event, user, **fields)


@dataclass(frozen=True)
class Due:
    """A follow that must end now, and why: ``tablet_gone`` or ``max_time``."""

    follow: ActionMessage
    walls: tuple[str, ...]
    reason: str


class FollowKeeper:
    def __init__(self, live: LiveState, bus: Bus, grace_s: int, max_s: int, audit: Audit) -> None:
        self.live = live
        self.bus = bus
        self.grace_s = grace_s
        self.max_s = max_s
        self.audit = audit
        self.tick_s = max(0.2, min(1.0, grace_s / 4))  # several renewals within one grace
        self._lock = threading.Lock()
        self._held: dict[str, tuple[str, frozenset[str]]] = {}  # follow id → (socket, walls)
        self.ended = 0  # follows this process ended (health, tests)

    # -- the leases of this process's sockets -----------------------------------------------
    def hold(self, sid: str, follow_id: str, walls: Iterable[str]) -> None:
        """Socket ``sid`` leads ``walls`` with a new follow: its lease, renewed from now on
        (the same socket's earlier follows of those walls are superseded). Raises RedisError."""
        walls = frozenset(walls)
        self.bus.renew_leases([follow_id], self.grace_s)
        with self._lock:
            for old in [i for i, (s, w) in self._held.items() if s == sid and w <= walls]:
                del self._held[old]
            self._held[follow_id] = (sid, walls)

    def let_go(self, sid: str, walls: Iterable[str]) -> None:
        """Socket ``sid`` released ``walls``: its follows of them need no lease any more."""
        walls = frozenset(walls)
        with self._lock:
            for old in [i for i, (s, w) in self._held.items() if s == sid and w & walls]:
                del self._held[old]

    def forget(self, sid: str) -> None:
        """Socket ``sid`` disconnected: its leases run ``grace_s`` from now, then lapse."""
        with self._lock:
            gone = [i for i, (s, _w) in self._held.items() if s == sid]
            for follow_id in gone:
                del self._held[follow_id]
        if gone:
            try:
                self.bus.renew_leases(gone, self.grace_s)
            except RETRYABLE as exc:  # they lapse a little sooner: from their last renewal
                log.warning("follow leases not renewed at disconnect: %s", exc)

    def renew(self) -> None:
        with self._lock:
            held = list(self._held)
        if held:
            self.bus.renew_leases(held, self.grace_s)

    # -- ending follows, on every process --------------------------------------------------
    def due(self, now: datetime) -> list[Due]:
        """The follows in the book whose time is up or whose tablet has gone."""
        with self.live.lock:
            follows = self.live.actions.follows()
            walls_of: dict[str, list[str]] = {}
            for wall, action in self.live.actions.following.items():
                walls_of.setdefault(action.id, []).append(wall)
        if not follows:
            return []
        alive = self.bus.leases_alive(follows)
        found = []
        for follow_id, (follow, since) in follows.items():
            if (now - since).total_seconds() >= self.max_s:
                reason = "max_time"
            elif follow_id not in alive:
                reason = "tablet_gone"
            else:
                continue
            found.append(Due(follow, tuple(sorted(walls_of[follow_id])), reason))
        return found

    def end(self, due: Due, now: datetime) -> str | None:
        """Publish the release of one follow, unless another process did: its stream id."""
        follow = due.follow
        release = ActionMessage(
            id=secrets.token_hex(8),
            ts=now,
            verb="release",
            actor=SYSTEM,
            role="system",
            area=follow.area,
            target=follow.actor,  # their tablet is told
            text=self.notice(due.reason),
            walls=due.walls,
            display="系统",
            ends=follow.id,
        )
        sid = self.bus.publish_action_once(release, f"follow-end:{follow.id}", ENDED_MEMORY_S)
        if sid is not None:
            self.ended += 1
            self.audit(
                "action",
                SYSTEM,
                role="system",
                verb="release",
                outcome="expired",
                reason=due.reason,
                walls=",".join(due.walls),
                follow=follow.id,
                leader=follow.actor,
            )
        return sid

    def notice(self, reason: str) -> str:
        """What the wall says, briefly, as it goes back to its own view."""
        if reason == "max_time":
            return f"大屏跟随已满{_duration(self.max_s)}，自动结束"
        return f"领导平板已断开超过{_duration(self.grace_s)}，大屏跟随结束"

    def sweep(self) -> int:
        """One round: renew this process's leases, end what is due; how many this ended."""
        self.renew()
        if not self.live.ready.is_set():  # the book is not folded yet: nothing to judge
            return 0
        now = datetime.now(UTC)
        return sum(self.end(due, now) is not None for due in self.due(now))

    def run(self) -> None:
        """The process's loop (a background task): never ends; Redis outages are waited out."""
        while True:
            time.sleep(self.tick_s)
            try:
                self.sweep()
            except RETRYABLE as exc:
                log.warning("follow keeper: %s", exc)
            except Exception:  # one bad round must not end the loop
                log.exception("follow keeper failed a round")


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600}小时"
    if seconds % 60 == 0:
        return f"{seconds // 60}分钟"
    return f"{seconds}秒"
