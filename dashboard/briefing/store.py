"""Where briefings are kept: ``<data dir>/reports/daily/<YYYY-MM-DD>/<area>.<kind>``.

``pdf`` and ``xlsx`` are what people download; ``json`` is the figures they were made from,
which the next day's briefing reads for its comparisons (a day the live state no longer
holds). Files are written to a temporary name and renamed, so a reader never sees half of one.
Nothing here knows who asks: ``web`` filters by jurisdiction.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from feeds.geo import contains
from feeds.schema import CHINA_TZ

KINDS = ("pdf", "xlsx", "json")
DOWNLOADS = ("pdf", "xlsx")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_AREA = re.compile(r"\d{6}")  # the city and counties


@dataclass(frozen=True)
class Kept:
    day: date
    area: str
    kinds: tuple[str, ...]  # which of ``DOWNLOADS`` exist
    written: datetime  # the newest file's time, China time
    sizes: dict[str, int]


class Store:
    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = Path(data_dir) / "reports" / "daily"

    def path(self, day: date, area: str, kind: str) -> Path:
        if kind not in KINDS or not _AREA.fullmatch(area):
            raise ValueError(f"no briefing file {area}.{kind}")
        return self.root / day.isoformat() / f"{area}.{kind}"

    def write(self, day: date, area: str, kind: str, body: bytes) -> Path:
        target = self.path(day, area, kind)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_bytes(body)
        os.replace(temporary, target)
        return target

    def figures(self, day: date, area: str) -> dict[str, Any] | None:
        """The figures a kept briefing was made from (None: none kept, or unreadable)."""
        try:
            data = json.loads(self.path(day, area, "json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def find(self, day_text: str, area: str, kind: str) -> Path | None:
        """The file asked for by a URL's parts, if well formed and kept."""
        if not _DAY.fullmatch(day_text) or kind not in DOWNLOADS or not _AREA.fullmatch(area):
            return None
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            return None
        found = self.path(day, area, kind)
        return found if found.is_file() else None

    def listing(self, scope: str, limit_days: int = 62) -> list[Kept]:
        """Kept briefings of areas inside ``scope``, newest day first, the city before counties."""
        if not self.root.is_dir():
            return []
        days = sorted((d for d in self.root.iterdir() if _DAY.fullmatch(d.name)), reverse=True)
        out = []
        for folder in days[:limit_days]:
            areas: dict[str, dict[str, int]] = {}
            newest: dict[str, float] = {}
            for file in folder.iterdir():
                area, _, kind = file.name.partition(".")
                if kind in DOWNLOADS and _AREA.fullmatch(area) and contains(scope, area):
                    stat = file.stat()
                    areas.setdefault(area, {})[kind] = stat.st_size
                    newest[area] = max(newest.get(area, 0.0), stat.st_mtime)
            for area in sorted(areas):
                out.append(
                    Kept(
                        date.fromisoformat(folder.name),
                        area,
                        tuple(k for k in DOWNLOADS if k in areas[area]),
                        datetime.fromtimestamp(newest[area], CHINA_TZ),
                        areas[area],
                    )
                )
        return out
