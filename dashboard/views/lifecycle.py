"""Running the closed loop from the duty desk: 派单 转办 退回 上报上级 结案 重新打开.

An officer's lifecycle action is a step of the incident, like any producer's: an
``EventMessage`` (source ``command_center``, ``actor`` the officer) checked by the same
``feeds.schema.validate`` and appended to the event log, where every view folds it as it folds
the field's steps. It is also audited twice: the audit stream (granted or refused, with why) and
the actions stream (an ``ActionMessage`` naming the step's ``seq``, which the desk's 处置记录 and
the simulator read). Nothing is rewritten: a wrong 结案 is corrected by a 重新打开, a wrong 派单
by another 派单.

Who may do what, when, is ``RULES`` and ``refusal`` below, pure and tested on their own
(tests/test_lifecycle.py): duty officers and admins; an incident held above the officer's own
level (镇街 3 for a town's desk, 区县 4 for a county's, 市级 5 for the city's) belongs to their
superiors, so they may read it but not act on it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
import redis

from dashboard.access.auth import Access, Principal
from dashboard.cold.store import ColdStore
from dashboard.incident import Incident, Step
from dashboard.live.inbound import Caller, Reply, SocketApi
from dashboard.live.livestate import LiveState
from feeds.bus import Bus
from feeds.catalogue import DEPARTMENTS, DESK_SOURCE, LEVELS, PLATFORMS
from feeds.geo import contains
from feeds.geo.codes import level_of
from feeds.messages import STEP_VERBS
from feeds.schema import (
    MAX_ACTION_TEXT,
    ActionMessage,
    ActionVerb,
    EventMessage,
    Limits,
    Rejection,
    StepType,
    encode,
    validate,
)

log = logging.getLogger(__name__)

LOOP_ROLES = frozenset({"duty", "admin"})
# The level an officer works at, by their jurisdiction's kind.
OFFICER_LEVEL = {"city": 5, "county": 4, "town": 3}
SEQ_TRIES = 20  # a seq taken meanwhile (another desk, a producer): the next one, this many times

Target = Literal["handler", "other_platform", "none"]


@dataclass(frozen=True, slots=True)
class LoopRule:
    verb: ActionVerb
    label: str  # what the button says
    step: StepType  # the step it publishes
    status: Literal["open", "closed"]  # the incident's status it applies to
    target: Target  # handler: a worker or a department of its platform; other_platform: 转办
    remark: Literal["optional", "required"]
    remark_label: str  # what the remark is, to the officer


# fmt: off
RULES: dict[str, LoopRule] = {
    r.verb: r
    for r in (
        LoopRule("dispatch", "派单", "dispatched", "open", "handler", "optional", "派单说明"),
        LoopRule("transfer", "转办", "transferred", "open", "other_platform", "required",
                 "转办理由"),
        LoopRule("return", "退回", "returned", "open", "none", "required", "退回原因"),
        LoopRule("escalate", "上报上级", "escalated", "open", "none", "required", "上报理由"),
        LoopRule("close", "结案", "closed", "open", "none", "required", "办理结果"),
        LoopRule("reopen", "重新打开", "reopened", "closed", "none", "required", "重新打开原因"),
    )
}
# fmt: on
assert {r.verb: r.step for r in RULES.values()} == STEP_VERBS


class HandleAsk(msgspec.Struct, kw_only=True):
    verb: str
    incident: str
    assignee: str | None = None
    remark: str | None = None


@dataclass(frozen=True, slots=True)
class Handlers:
    """Who an incident can be handed to: workers on duty nearby, and departments."""

    workers: frozenset[str]  # on duty (not offline) inside the officer's jurisdiction
    departments: frozenset[str] = frozenset(DEPARTMENTS)


def officer_level(scope: str) -> int:
    """The level an officer of jurisdiction ``scope`` works at (5 city, 4 county, 3 town)."""
    return OFFICER_LEVEL.get(level_of(scope) or "", 0)


def next_level(verb: str, incident: Incident) -> int:
    """The level the step leaves the incident at: one up for 上报上级; for 退回 the level it
    was last held at below this one (one down if it never was); unchanged otherwise."""
    level = incident.level
    if verb == "escalate":
        return min(5, level + 1)
    if verb == "return":
        below = [s.level for s in sorted(incident.steps.values(), key=_seq) if s.level < level]
        return below[-1] if below else max(1, level - 1)
    return level


def refusal(
    who: Principal, rule: LoopRule, incident: Incident, assignee: str, remark: str,
    handlers: Handlers,
) -> str | None:  # fmt: skip
    """Why ``who`` may not take ``rule``'s step on ``incident`` (None: they may). The caller
    has checked that the incident lies in ``who``'s jurisdiction."""
    if who.role not in LOOP_ROLES:
        return "not allowed for your role"
    if incident.status != rule.status:
        return "incident already closed" if rule.status == "open" else "incident is not closed"
    mine = officer_level(who.scope)
    if incident.level > mine:
        return f"held at {LEVELS[incident.level]}, above your level ({LEVELS.get(mine, '—')})"
    if rule.verb == "escalate" and incident.level >= 5:
        return "already at the city level"
    if rule.verb == "return" and incident.level <= 1:
        return "already at the grid level: nothing to return it to"
    if rule.remark == "required" and not remark:
        return f"{rule.remark_label} required"
    if len(remark) > MAX_ACTION_TEXT:
        return f"text longer than {MAX_ACTION_TEXT} characters"
    if rule.target == "none":
        return "no assignee for this action" if assignee else None
    if not assignee:
        return "choose who handles it"
    if assignee in DEPARTMENTS and assignee in handlers.departments:
        same = DEPARTMENTS[assignee][1] == incident.platform
        if rule.target == "other_platform" and same:
            return "转办 goes to another platform's department"
        if rule.target == "handler" and not same:
            return "that department is another platform's: 转办 it"
        return None
    if rule.target == "handler" and assignee in handlers.workers:
        return None
    return "unknown or unavailable handler"


def departments(platform: str, other: bool) -> list[dict[str, str]]:
    """The departments of ``platform`` (or, ``other``, of every other platform), for a picker."""
    return [
        {"code": code, "name": name, "platform": PLATFORMS[p]}
        for code, (name, p) in DEPARTMENTS.items()
        if (p != platform) == other
    ]


def loop_options(who: Principal, incident: Incident) -> dict[str, Any]:
    """What the desk offers ``who`` for ``incident``: each verb, allowed or why not (before any
    handler or remark is chosen), the level it would leave it at, and the departments."""
    verbs = []
    for rule in RULES.values():
        why = refusal(who, rule, incident, "", "-", Handlers(frozenset()))
        if why in ("choose who handles it", "no assignee for this action"):
            why = None  # only the form's own fields are missing
        to = next_level(rule.verb, incident)
        verbs.append(
            {
                "verb": rule.verb,
                "label": rule.label,
                "target": rule.target,
                "remark": rule.remark,
                "remarkLabel": rule.remark_label,
                "allowed": why is None,
                "why": why or "",
                "level": to,
                "levelName": LEVELS[to],
            }
        )
    platform = incident.platform
    return {
        "verbs": verbs,
        "departments": departments(platform, other=False),
        "otherDepartments": departments(platform, other=True),
        "officerLevel": officer_level(who.scope),
    }


assert DESK_SOURCE == "command_center"


def desk_step(
    who: Principal, rule: LoopRule, incident: Incident, seq: int, assignee: str, remark: str,
    now: datetime,
) -> EventMessage:  # fmt: skip
    return EventMessage(
        id=incident.id, seq=seq, type=rule.step, ts=now, category=incident.category,
        level=next_level(rule.verb, incident), area=incident.area, lon=incident.lon,
        lat=incident.lat, source="command_center", title=incident.title, deadline=incident.deadline,
        actor=who.name, assignee=assignee or None, remark=remark,
    )  # fmt: skip


class Lifecycle:
    """The ``handle`` socket event: check a lifecycle action, publish its step, audit it."""

    def __init__(
        self, access: Access, bus: Bus, live: LiveState, cold: ColdStore | None, limits: Limits,
        memory_s: int,
    ) -> None:  # fmt: skip
        self.access, self.bus, self.live, self.cold = access, bus, live, cold
        self.limits = limits
        self.memory_s = memory_s  # how long a step's (id, seq) is claimed: ingest API's rule

    def install(self, api: SocketApi) -> None:
        api.on("handle", HandleAsk, roles=LOOP_ROLES, audit_as="action")(self.on_handle)

    def on_handle(self, caller: Caller, asked: HandleAsk) -> Reply:
        who = caller.who
        result = self.take(who, asked)
        ok = not isinstance(result, str)
        self.access.audit(
            "action",
            who.name,
            role=who.role,
            scope=who.scope,
            verb=asked.verb[:20],
            incident=asked.incident[:64],
            outcome="granted" if ok else "refused",
            **({"assignee": (asked.assignee or "")[:64]} if asked.assignee else {}),
            **({} if ok else {"error": str(result)}),
        )
        if isinstance(result, str):
            return {"ok": False, "error": result}
        step, sid = result
        return {"ok": True, "seq": step.seq, "sid": sid, "level": step.level}

    def take(self, who: Principal, asked: HandleAsk) -> tuple[EventMessage, str] | str:
        """Publish the step ``who`` asks for: (the step, its stream id), or why not."""
        rule = RULES.get(asked.verb)
        if rule is None:
            return "unknown action"
        incident_id = asked.incident[:64]
        remark = _clean(asked.remark)
        assignee = (asked.assignee or "").strip()[:64]
        incident, handlers = self._incident(who, incident_id)
        if incident is None:
            return "incident not found"  # the same answer outside the jurisdiction
        why = refusal(who, rule, incident, assignee, remark, handlers)
        if why is not None:
            return why
        seq = max(incident.steps) + 1
        for _ in range(SEQ_TRIES):
            step = desk_step(who, rule, incident, seq, assignee, remark, datetime.now(UTC))
            checked = validate(encode(step), self.live.geo, self.limits, desk=True)
            if isinstance(checked, Rejection):  # the contract, as for any producer
                return f"{checked.reason}: {checked.detail}"
            try:
                ((sid, fresh),) = self.bus.publish_once([step], self.memory_s)
            except redis.RedisError as exc:
                log.warning("desk step %s of %s not recorded: %s", rule.step, incident.id, exc)
                return "not recorded, try again"
            if fresh:
                self._audit_action(who, rule, incident, step)
                return step, sid
            seq += 1  # that seq was taken meanwhile
        return "the incident is changing too fast, try again"

    def _incident(self, who: Principal, incident_id: str) -> tuple[Incident | None, Handlers]:
        with self.live.read() as state:
            incident = state.incidents.get(incident_id)
            if incident is not None:
                incident = _copy(incident)
            workers = frozenset(
                p.worker
                for p in state.positions.values()
                if p.status != "offline" and contains(who.scope, p.grid)
            )
        if incident is None and self.cold is not None:  # 重新打开 an archived one
            incident = self.cold.recall({incident_id}).get(incident_id)
        if incident is None or not contains(who.scope, incident.area.town):
            return None, Handlers(workers)
        return incident, Handlers(workers)

    def _audit_action(
        self, who: Principal, rule: LoopRule, incident: Incident, step: EventMessage
    ) -> None:
        action = ActionMessage(
            id=secrets.token_hex(8),
            ts=step.ts,
            verb=rule.verb,
            actor=who.name,
            role=who.role,
            area=incident.area.town,
            incident=incident.id,
            target=step.assignee,
            text=step.remark,
            display=who.display or who.name,
            step=step.seq,
        )
        try:
            self.bus.publish_action(action)
        except redis.RedisError as exc:  # the step is in the log; the audit stream has it too
            log.warning("desk step %s of %s: action not recorded: %s", step.seq, incident.id, exc)


def _copy(incident: Incident) -> Incident:
    """A copy to read outside the state's lock (the bridge adds steps under it)."""
    return Incident(
        incident.id, incident.category, incident.area, incident.lon, incident.lat,
        incident.source, incident.title, incident.detail, incident.reporter, incident.severity,
        incident.deadline, dict(incident.steps), incident.latest, incident.first,
    )  # fmt: skip


def _seq(step: Step) -> int:
    return step.seq


def _clean(value: str | None) -> str:
    """Officer text: trimmed, without control characters other than newlines and tabs."""
    if value is None:
        return ""
    return "".join(c for c in value if c in "\n\t" or c.isprintable()).strip()
