"""Answers the archive gives again until its files change (dashboard.cold.store): a filter's
count, a text search's matches; every officer's desk opens on the same few filters."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")

COUNTS_KEPT = 256
MATCHES_KEPT = 8
MATCHES_ROWS = 20_000  # a text search's matches kept only up to this many rows (~6 MB)
ANSWERS_KEPT = 16  # whole answers: up to 3,100 incidents each (~3 MB)


class Lru(Generic[T]):
    """A few answers, the least recently used dropped first; safe across threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> T | None:
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
            return found

    def put(self, key: Hashable, value: T) -> None:
        with self._lock:
            self._kept[key] = value
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)


def version(parts: list[str]) -> tuple[tuple[str, int, int, int], ...]:
    """The files as they are now: a rewrite is a new file (os.replace), a new inode."""
    versions = []
    for part in parts:
        seen = os.stat(part)
        versions.append((part, seen.st_ino, seen.st_mtime_ns, seen.st_size))
    return tuple(versions)
