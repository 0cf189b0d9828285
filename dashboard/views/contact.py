"""Calling a worker from the desk: who a worker id is, and their number.

A worker's name is shown wherever the desk lists workers (an incident's nearby workers, the
reporter, the 派单 choices): in full to roles that see personal data (duty officers), masked
(王*) to the others. The phone number is never in a list: the ``contact`` socket event gives it,
to a worker inside the asker's jurisdiction only, in full to duty officers and masked to the
others, and every ask is audited (who, which worker, for which incident, revealed or not), as
an incident's detail is.
"""

from __future__ import annotations

from typing import Any

import msgspec

from dashboard.access.auth import DETAIL_ROLES, Access, Principal
from dashboard.access.privacy import mask_text
from dashboard.live.inbound import Caller, Reply, SocketApi
from dashboard.live.livestate import LiveState
from feeds.directory import Directory, WorkerCard
from feeds.geo import contains


class ContactAsk(msgspec.Struct, kw_only=True):
    worker: str
    incident: str | None = None


def masked_name(name: str) -> str:
    """王* / 王*伟: the surname and, for three characters or more, the last one."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def masked_phone(phone: str) -> str:
    masked = mask_text(phone)
    return masked if masked != phone else phone[:3] + "*" * max(0, len(phone) - 7) + phone[-4:]


def shown_name(card: WorkerCard | None, reveal: bool) -> str:
    if card is None:
        return ""
    return card.name if reveal else masked_name(card.name)


class Contacts:
    """The ``contact`` socket event, and the names the detail shows beside worker ids."""

    def __init__(self, access: Access, live: LiveState, directory: Directory) -> None:
        self.access, self.live, self.directory = access, live, directory

    def install(self, api: SocketApi) -> None:
        api.on("contact", ContactAsk, roles=DETAIL_ROLES, audit_as="contact")(self.on_contact)

    def name_workers(self, found: dict[str, Any], reporter: str | None, reveal: bool) -> None:
        """Names for an incident detail's nearby workers, its reporter and the workers its
        desk steps went to (one round trip)."""
        nearby = found.get("nearby") or []
        handlers = [s for s in found.get("steps") or [] if s.get("assigneeId")]
        ids = [w["worker"] for w in nearby] + [s["assigneeId"] for s in handlers]
        cards = self.directory.get([*ids, reporter or ""])
        for w in nearby:
            w["name"] = shown_name(cards.get(w["worker"]), reveal)
        for step in handlers:
            card = cards.get(step["assigneeId"])
            if card is not None:
                step["assignee"] = f"网格员 {shown_name(card, reveal)}（{card.id}）"
        if reporter and reporter in cards:
            found["reporterName"] = shown_name(cards[reporter], reveal)

    def on_contact(self, caller: Caller, asked: ContactAsk) -> Reply:
        who = caller.who
        worker = asked.worker[:64]
        card = self.directory.get([worker]).get(worker)
        inside = card is not None and self._inside(who, card)
        self.access.audit(
            "contact",
            who.name,
            role=who.role,
            scope=who.scope,
            worker=worker,
            incident=(asked.incident or "")[:64],
            outcome="granted" if inside else "refused",
            revealed="1" if inside and who.sees_pii else "0",
        )
        if card is None or not inside:
            return {"ok": False, "error": "worker not found"}  # the same outside the scope
        reveal = who.sees_pii
        return {
            "ok": True,
            "worker": card.id,
            "name": shown_name(card, reveal),
            "phone": card.phone if reveal else masked_phone(card.phone),
            "masked": not reveal,
        }

    def _inside(self, who: Principal, card: WorkerCard) -> bool:
        """Whether the worker's grid (their card's, else their last fix's) is in ``who``'s
        jurisdiction."""
        grid = card.grid
        if not grid:
            with self.live.read() as state:
                fix = state.positions.get(card.id)
                grid = fix.grid if fix is not None else ""
        return bool(grid) and contains(who.scope, grid)
