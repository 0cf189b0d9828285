"""The duty shifts (班次): which shift a moment falls in, and the one before it. Pure.

Shifts are given by their boundaries in China time, ``ONEMAP_SHIFTS="08:00,20:00"`` (the
default: a day shift and a night shift of 12 hours, the usual roster of a command centre that
is staffed around the clock; docs/metrics.md notes the night shift handing over about 08:00).
Each boundary starts a shift that ends at the next one; the last runs past midnight into the
first of the next day. One boundary makes a single 24-hour shift.

Boundaries sit on 10-minute marks: a shift's counts are read from the analytics' 10-minute
rows (``dashboard.analytics.hourly``), the same rows as "same time yesterday", so a boundary
between two marks would split a row the counts cannot split.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from dashboard.analytics.epoch import SLOT_S
from dashboard.config import SettingError
from feeds.schema import CHINA_TZ

ENV = "ONEMAP_SHIFTS"
DEFAULT = "08:00,20:00"
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_MARK_MIN = SLOT_S // 60


@dataclass(frozen=True, slots=True)
class Shift:
    """One shift on one day: ``start`` inclusive, ``end`` exclusive, in China time."""

    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        """``12月8日 20:00–次日08:00``: what the brief and its print say."""
        start, end = self.start, self.end
        nxt = "次日" if end.date() != start.date() else ""
        return f"{start.month}月{start.day}日 {start:%H:%M}–{nxt}{end:%H:%M}"

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True, slots=True)
class Shifts:
    starts: tuple[int, ...]  # minutes after local midnight, ascending, each once

    def at(self, moment: datetime) -> Shift:
        """The shift ``moment`` falls in; at a boundary's exact instant, the one it starts."""
        local = moment.astimezone(CHINA_TZ)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        minute = (local - midnight) / timedelta(minutes=1)
        begun = [s for s in self.starts if s <= minute]
        if begun:
            start = midnight + timedelta(minutes=begun[-1])
        else:  # before today's first boundary: yesterday's last shift is still on
            start = midnight - timedelta(days=1) + timedelta(minutes=self.starts[-1])
        return Shift(start, self._end(start))

    def before(self, shift: Shift) -> Shift:
        """The shift that handed over to ``shift``."""
        return self.at(shift.start - timedelta(microseconds=1))

    def _end(self, start: datetime) -> datetime:
        minute = start.hour * 60 + start.minute
        later = [s for s in self.starts if s > minute]
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        if later:
            return midnight + timedelta(minutes=later[0])
        return midnight + timedelta(days=1, minutes=self.starts[0])

    def text(self) -> str:
        return ",".join(f"{s // 60:02d}:{s % 60:02d}" for s in self.starts)


def parse(text: str) -> Shifts:
    """``"08:00,16:00,00:00"`` → the shifts; a value that cannot work is a ``SettingError``
    saying why, in one line."""
    starts: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        match = _CLOCK.fullmatch(part)
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise SettingError(f"{ENV}: {part!r} is not a time of day HH:MM (e.g. {DEFAULT})")
        minute = int(match[1]) * 60 + int(match[2])
        if minute % _MARK_MIN:
            raise SettingError(
                f"{ENV}: {part!r} is not on a {_MARK_MIN}-minute mark (shift counts are read "
                f"from {_MARK_MIN}-minute rows)"
            )
        if minute in starts:
            raise SettingError(f"{ENV}: {part!r} is given twice")
        starts.add(minute)
    return Shifts(tuple(sorted(starts)))


def from_env(environ: Mapping[str, str] | None = None) -> Shifts:
    raw = (os.environ if environ is None else environ).get(ENV, "").strip()
    return parse(raw or DEFAULT)
