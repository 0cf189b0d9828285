"""Counting, per area, the members whose key has fallen below a moving cutoff.

Overdue incidents (deadline < now), due-soon ones (deadline < now + 2 h), workers gone quiet
(last fix < now - 10 min): each is "members below a cutoff that moves with the clock", and the
wall asks for the count per area every second. Recounting would scan every open incident; here
each member sits in one of two heaps (above or below the cutoff) and moving the cutoff only
touches the members that cross it, so the cost follows what changed, not what exists.
Stale heap entries (a member re-keyed or dropped) are skipped when they surface.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable

Chain = tuple[str, ...]  # the areas a member counts in: city, county, town, village, grid


def bump(counts: dict[str, int], chain: Iterable[str], delta: int) -> None:
    for area in chain:
        counts[area] = counts.get(area, 0) + delta


class Cutoff:
    def __init__(self) -> None:
        self.cutoff = -math.inf
        self.total: dict[str, int] = {}  # members per area
        self.below: dict[str, int] = {}  # members per area with key < cutoff
        self._key: dict[str, float] = {}
        self._chain: dict[str, Chain] = {}
        self._under: set[str] = set()
        self._above_heap: list[tuple[float, str]] = []  # (key, member), smallest first
        self._below_heap: list[tuple[float, str]] = []  # (-key, member), largest key first

    def __len__(self) -> int:
        return len(self._key)

    def __contains__(self, member: str) -> bool:
        return member in self._key

    def key(self, member: str) -> float | None:
        return self._key.get(member)

    def chain(self, member: str) -> Chain | None:
        return self._chain.get(member)

    def put(self, member: str, key: float, chain: Chain) -> None:
        """Add ``member`` or change its key or areas."""
        known = self._chain.get(member)
        if known is not None and known != chain:
            self.drop(member)
            known = None
        if known is None:
            self._chain[member] = chain
            bump(self.total, chain, 1)
        elif self._key[member] == key:
            return
        self._key[member] = key
        self._place(member, key, chain)
        if len(self._above_heap) + len(self._below_heap) > 4 * len(self._key) + 64:
            self._compact()

    def drop(self, member: str) -> None:
        chain = self._chain.pop(member, None)
        if chain is None:
            return
        del self._key[member]
        bump(self.total, chain, -1)
        if member in self._under:
            self._under.discard(member)
            bump(self.below, chain, -1)

    def move(self, cutoff: float) -> list[str]:
        """Move the cutoff; returns the members that fell below it (when it moved up)."""
        crossed: list[str] = []
        if cutoff > self.cutoff:
            heap = self._above_heap
            while heap and heap[0][0] < cutoff:
                key, member = heapq.heappop(heap)
                if self._key.get(member) == key and member not in self._under:
                    self._flip(member, down=True)
                    heapq.heappush(self._below_heap, (-key, member))
                    crossed.append(member)
        elif cutoff < self.cutoff:
            heap = self._below_heap
            while heap and -heap[0][0] >= cutoff:
                negative, member = heapq.heappop(heap)
                if self._key.get(member) == -negative and member in self._under:
                    self._flip(member, down=False)
                    heapq.heappush(self._above_heap, (-negative, member))
        self.cutoff = cutoff
        return crossed

    def members_below(self) -> set[str]:
        return set(self._under)

    def _place(self, member: str, key: float, chain: Chain) -> None:
        under = key < self.cutoff
        if under != (member in self._under):
            self._flip(member, down=under)
        if under:
            heapq.heappush(self._below_heap, (-key, member))
        else:
            heapq.heappush(self._above_heap, (key, member))

    def _flip(self, member: str, down: bool) -> None:
        if down:
            self._under.add(member)
        else:
            self._under.discard(member)
        bump(self.below, self._chain[member], 1 if down else -1)

    def _compact(self) -> None:
        self._above_heap = [(k, m) for m, k in self._key.items() if m not in self._under]
        self._below_heap = [(-k, m) for m, k in self._key.items() if m in self._under]
        heapq.heapify(self._above_heap)
        heapq.heapify(self._below_heap)
