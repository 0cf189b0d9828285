"""Shift hand-over (交接班) on the duty desk: the brief, 交班 and 接班, over the page's socket.

Three events, for duty officers and admins (docs/handover.md):

- ``handover_brief`` ``{pending_only?}``: the brief of the asker's jurisdiction for the shift
  under way (``dashboard.views.handover_brief``), and the hand-over of that jurisdiction still
  waiting for its 接班 (``pending``), if any; ``pending_only`` answers the second alone.
- ``hand_over`` ``{notes}``: the outgoing officer hands over: an ``ActionMessage`` (verb
  ``hand_over``, ``area`` their jurisdiction, ``text`` the notes, ``counts`` the brief's
  counts worked out here, never taken from the page).
- ``take_over`` ``{id?, text?}``: the incoming officer acknowledges the pending hand-over of
  their own jurisdiction (verb ``take_over``, ``target`` the outgoing officer, ``ends`` the
  hand-over). ``id`` (what the page showed) must be that one: a hand-over of another
  jurisdiction, or one replaced since, gets ``hand-over not found``. Once only, whoever asks
  first; nobody takes over their own.

Both are audited like ``act`` (event ``action``, granted or refused), gate refusals included.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Any

import msgspec
import redis

from dashboard.access.auth import Access, Principal
from dashboard.live.inbound import Caller, Reply, SocketApi, refusal
from dashboard.live.livestate import LiveState
from dashboard.views import handover_log, shifts
from dashboard.views.act import _clean
from dashboard.views.handover_brief import build, counts_of, take
from feeds.bus import Bus
from feeds.schema import MAX_ACTION_TEXT, ActionMessage, ActionVerb

log = logging.getLogger(__name__)

HANDOVER_ROLES = frozenset({"duty", "admin"})
MAX_NOTES = 2000  # a shift's notes: longer than an action's remark (MAX_ACTION_TEXT)


class BriefAsk(msgspec.Struct, kw_only=True):
    pending_only: bool = False


class HandOverAsk(msgspec.Struct, kw_only=True):
    notes: str | None = None


class TakeOverAsk(msgspec.Struct, kw_only=True):
    id: str | None = None  # the hand-over the page showed
    text: str | None = None  # a word back, optional


class Handover:
    def __init__(
        self, access: Access, bus: Bus, live: LiveState, roster: shifts.Shifts | None = None
    ) -> None:
        self.access = access
        self.bus = bus
        self.live = live
        self.roster = roster or shifts.from_env()

    def install(self, api: SocketApi) -> None:
        api.on("handover_brief", BriefAsk, roles=HANDOVER_ROLES)(self.on_brief)
        api.on("hand_over", HandOverAsk, roles=HANDOVER_ROLES, audit_as="action")(self.on_hand_over)
        api.on("take_over", TakeOverAsk, roles=HANDOVER_ROLES, audit_as="action")(self.on_take_over)

    # -- the brief ---------------------------------------------------------------------------
    def brief(self, who: Principal, now: datetime) -> dict[str, Any]:
        shift = self.roster.at(now)
        with self.live.read() as state:
            taken = take(state, self.live.actions, who.scope, shift, self.roster.before(shift), now)
        return build(taken, self.live.geo, shift, now, who.sees_pii)

    def on_brief(self, caller: Caller, asked: BriefAsk) -> Reply:
        now = datetime.now(UTC)
        try:
            waiting = handover_log.pending(self.bus, caller.who.scope, now)
        except redis.RedisError as exc:
            log.warning("hand-overs not read: %s", exc)
            return refusal("not available, try again")
        found = {"pending": self._pending(waiting, caller.who)}
        if asked.pending_only:
            return {"ok": True, **found}
        officer = caller.who.display or caller.who.name
        return {**self.brief(caller.who, now), **found, "officer": officer}

    def _pending(self, waiting: handover_log.Pending | None, who: Principal) -> Reply | None:
        if waiting is None:
            return None
        a = waiting.action
        return {
            "id": a.id,
            "by": a.actor,
            "byName": a.display or a.actor,
            "ts": a.ts.isoformat(),
            "notes": a.text,  # the same jurisdiction's officers: as written
            "counts": a.counts or {},
            "mine": a.actor == who.name,
        }

    # -- 交班 and 接班 ---------------------------------------------------------------------------
    def on_hand_over(self, caller: Caller, asked: HandOverAsk) -> Reply:
        who, now = caller.who, datetime.now(UTC)
        notes = _clean(asked.notes)
        if len(notes) > MAX_NOTES:
            return self._refused(who, "hand_over", f"notes longer than {MAX_NOTES} characters")
        brief = self.brief(who, now)
        action = self._action(who, "hand_over", notes, counts=counts_of(brief))
        return self._publish(who, action, None)

    def on_take_over(self, caller: Caller, asked: TakeOverAsk) -> Reply:
        who, now = caller.who, datetime.now(UTC)
        text = _clean(asked.text)
        if len(text) > MAX_ACTION_TEXT:
            return self._refused(who, "take_over", f"text longer than {MAX_ACTION_TEXT} characters")
        try:
            waiting = handover_log.pending(self.bus, who.scope, now)
        except redis.RedisError as exc:
            log.warning("hand-overs not read: %s", exc)
            return refusal("not recorded, try again")
        if asked.id is not None and (waiting is None or asked.id != waiting.action.id):
            # one of another jurisdiction, replaced or taken since: the same answer for all
            return self._refused(who, "take_over", "hand-over not found")
        if waiting is None:
            return self._refused(who, "take_over", "no hand-over pending")
        if waiting.action.actor == who.name:
            return self._refused(who, "take_over", "you handed this over")
        outgoing = waiting.action
        action = self._action(who, "take_over", text, target=outgoing.actor, ends=outgoing.id)
        return self._publish(who, action, handover_log.marker(outgoing.id))

    def _action(self, who: Principal, verb: ActionVerb, text: str, **fields: Any) -> ActionMessage:
        return ActionMessage(
            id=secrets.token_hex(8),
            ts=datetime.now(UTC),
            verb=verb,
            actor=who.name,
            role=who.role,
            area=who.scope,
            text=text,
            display=who.display or who.name,
            **fields,
        )

    def _publish(self, who: Principal, action: ActionMessage, once: str | None) -> Reply:
        try:
            if once is None:
                sid: str | None = self.bus.publish_action(action)
            else:
                memory = int(handover_log.LOOKBACK.total_seconds())
                sid = self.bus.publish_action_once(action, once, memory)
        except redis.RedisError as exc:
            log.warning("%s not recorded: %s", action.verb, exc)
            return refusal("not recorded, try again")
        if sid is None:
            return self._refused(who, action.verb, "already taken over")
        self._audit(who, action.verb, "granted", handover=action.ends or action.id)
        return {"ok": True, "id": action.id, "sid": sid, "counts": action.counts}

    def _refused(self, who: Principal, verb: str, error: str) -> Reply:
        self._audit(who, verb, "refused", error=error)
        return refusal(error)

    def _audit(self, who: Principal, verb: str, outcome: str, **fields: str) -> None:
        self.access.audit(
            "action", who.name, role=who.role, scope=who.scope, verb=verb, outcome=outcome,
            **fields,
        )  # fmt: skip
