"""Who the grid workers are: name and phone by worker id, for the desk to call them.

Positions and steps carry only a worker's id (``W330212000123``); the directory says who that
is. It is a Redis hash (``<prefix>:directory:workers``, id → JSON card) written by whoever
holds the roster: ``onemap workers import roster.csv`` for a real city (the HR system's
export), the simulator for its own generated workers. The dashboard only reads it, and shows a
phone number in full only to roles that may see personal data, auditing each look
(dashboard.views.contact).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec
import redis
from redis.typing import EncodableT, FieldT

from feeds.messages import Identifier

PHONE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$")  # a mobile or a landline
MAX_NAME = 20


class WorkerCard(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Identifier
    name: str
    phone: str
    grid: str = ""


_decoder = msgspec.json.Decoder(WorkerCard)
_encoder = msgspec.json.Encoder()


def card_problem(card: WorkerCard) -> str | None:
    """Why a card cannot go into the directory (None: it can)."""
    name = card.name.strip()
    if not name or len(name) > MAX_NAME or not all(c.isprintable() for c in name):
        return f"name {card.name!r}: 1–{MAX_NAME} printable characters"
    if not PHONE.match(card.phone.replace(" ", "")):
        return f"phone {card.phone!r}: a mainland mobile or landline number"
    return None


class Directory:
    def __init__(self, client: redis.Redis, prefix: str = "onemap") -> None:
        self.client = client
        self.key = f"{prefix}:directory:workers"

    def put(self, cards: Iterable[WorkerCard]) -> int:
        """Add or replace cards (each checked first: raises ValueError for a bad one)."""
        mapping: dict[FieldT, EncodableT] = {}  # redis-py's own types: a mapping is invariant
        for card in cards:
            problem = card_problem(card)
            if problem is not None:
                raise ValueError(f"worker {card.id}: {problem}")
            mapping[card.id] = _encoder.encode(card).decode()
        for start in range(0, len(mapping), 2000):  # one command per 2,000: no huge reply
            chunk: dict[FieldT, EncodableT] = dict(list(mapping.items())[start : start + 2000])
            self.client.hset(self.key, mapping=chunk)
        return len(mapping)

    def get(self, ids: Sequence[str]) -> dict[str, WorkerCard]:
        """The cards of ``ids`` that the directory has."""
        wanted = [i for i in dict.fromkeys(ids) if i]
        if not wanted:
            return {}
        found: dict[str, WorkerCard] = {}
        for worker, raw in zip(wanted, self.client.hmget(self.key, wanted), strict=True):
            if raw is None:
                continue
            try:
                found[worker] = _decoder.decode(raw)
            except msgspec.MsgspecError:
                continue  # a card written past ``put`` is as good as none
        return found

    def size(self) -> int:
        return int(self.client.hlen(self.key))


def read_roster(path: Path) -> list[WorkerCard]:
    """Cards from a CSV export with the columns id, name, phone and optionally grid (a header
    row first; UTF-8, with or without a BOM, as Excel writes it)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    cards = []
    for n, row in enumerate(rows, start=2):
        try:
            card = WorkerCard(
                id=(row.get("id") or "").strip(),
                name=(row.get("name") or "").strip(),
                phone=(row.get("phone") or "").replace(" ", ""),
                grid=(row.get("grid") or "").strip(),
            )
            msgspec.convert(msgspec.to_builtins(card), WorkerCard)  # the id's pattern
        except (msgspec.ValidationError, TypeError) as exc:
            raise ValueError(f"{path.name} line {n}: {exc}") from exc
        problem = card_problem(card)
        if problem is not None:
            raise ValueError(f"{path.name} line {n}: {problem}")
        cards.append(card)
    return cards
