"""Warnings that come from the clock rather than from a step: index drops and silent workers.

Both run on ``Metrics.tick(now)``, which the push bridge calls about once a second.

* An index drop: every ``every_s`` the county and town indices are evaluated. An area's colour
  only changes when the score is ``margin`` points past the threshold and stays there for
  ``hold_s``; a change for the worse raises a warning, at most one per ``cooldown_s`` per area
  unless it turns red. So a score wandering around a threshold says nothing. Grids are left
  out: at a few incidents a day their colour is mostly chance, and 10,906 of them would bury
  the wall.
* A silent worker: an on-duty worker (last fix not "offline") whose fixes stopped for the
  silence limit. Workers silent for much longer (a server that was down, a stale hash after a
  restart) are not news; and when many go quiet at once it is one feed outage, not many.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from dashboard.analytics.index import COLOURS, AreaIndex, colour, explain, index_of
from dashboard.analytics.outbox import Outbox
from feeds.geo import Geography
from feeds.schema import CHINA_TZ, WarningMessage

if TYPE_CHECKING:
    from dashboard.analytics.metrics import Metrics


@dataclass(frozen=True)
class WatchConfig:
    every_s: float = 60.0
    margin: float = 3.0  # index points past a threshold before the colour changes
    hold_s: float = 900.0  # how long a new colour must hold before it counts
    cooldown_s: float = 3 * 3600.0  # one drop warning per area per this, unless to red
    levels: tuple[str, ...] = ("county", "town")
    stale_s: float = 1800.0  # silent longer than silence + this: old news, no warning
    max_offline_per_tick: int = 20  # more at once: one "many workers" warning instead


class IndexWatch:
    def __init__(self, metrics: Metrics, config: WatchConfig, outbox: Outbox) -> None:
        self.metrics = metrics
        self.config = config
        self.outbox = outbox
        self.announced: dict[str, str] = {}  # area -> colour last accepted
        self.pending: dict[str, tuple[str, float]] = {}  # area -> (new colour, seen since)
        self.warned_at: dict[str, float] = {}
        self.last_run = -float("inf")

    def tick(self, now: datetime) -> None:
        if now.timestamp() - self.last_run < self.config.every_s:
            return
        self.last_run = now.timestamp()
        for level in self.config.levels:
            for area, entry in index_of(self.metrics, level, None, now).items():
                self._see(area, entry, now)

    def _see(self, area: str, entry: AreaIndex, now: datetime) -> None:
        before = self.announced.get(area)
        if before is None:
            self.announced[area] = entry["colour"]  # first look: nothing to compare with
            return
        seen = self._colour(entry["score"], before)
        if seen == before:
            self.pending.pop(area, None)
            return
        colour, since = self.pending.get(area, (seen, now.timestamp()))
        if colour != seen:
            colour, since = seen, now.timestamp()
        self.pending[area] = (colour, since)
        if now.timestamp() - since < self.config.hold_s:
            return
        self.announced[area] = seen
        del self.pending[area]
        worse = COLOURS.index(seen) > COLOURS.index(before)
        quiet = now.timestamp() - self.warned_at.get(area, -float("inf")) < self.config.cooldown_s
        if worse and (seen == "red" or not quiet):
            self.warned_at[area] = now.timestamp()
            self.outbox.put(self._warning(area, before, seen, entry, now))

    def _colour(self, score: float, current: str) -> str:
        """The colour ``score`` shows, counting a change only ``margin`` past a threshold."""
        config = self.metrics.config.index
        lower, upper = (
            colour(score + self.config.margin, config),
            colour(score - self.config.margin, config),
        )
        rank = COLOURS.index(current)
        if COLOURS.index(lower) > rank:
            return lower  # clearly worse
        if COLOURS.index(upper) < rank:
            return upper  # clearly better
        return current

    def _warning(
        self, area: str, before: str, after: str, entry: AreaIndex, now: datetime
    ) -> WarningMessage:
        names = {"green": "绿", "yellow": "黄", "red": "红"}
        stamp = now.astimezone(CHINA_TZ).strftime("%Y%m%d%H%M")
        reasons = explain(entry)
        return WarningMessage(
            id=f"drop-{area}-{after}-{stamp}",
            ts=now.astimezone(CHINA_TZ),
            type="index_drop",
            area=area,
            severity="major" if after == "red" else "normal",
            title=f"{self.metrics.geo.label(area)} 治理指数由{names[before]}转{names[after]}"
            f"（{entry['score']:.0f}分）",
            detail="；".join(reasons) if reasons else "",
        )


def offline_warnings(
    workers: list[str],
    last_fix: dict[str, tuple[float, str]],
    now: datetime,
    silence_s: float,
    config: WatchConfig,
    geo: Geography,
) -> list[WarningMessage]:
    """Warnings for workers that just went quiet; ``last_fix``: worker -> (epoch s, grid)."""
    now_s = now.timestamp()
    fresh = [w for w in workers if now_s - last_fix[w][0] <= silence_s + config.stale_s]
    if len(fresh) > config.max_offline_per_tick:
        bucket = int(now_s // 600)
        return [
            WarningMessage(
                id=f"offline-many-{bucket}",
                ts=now.astimezone(CHINA_TZ),
                type="worker_offline",
                area=geo.city.code,
                severity="major",
                title=f"{len(fresh)}名在岗网格员同时失联，请检查定位数据接入",
                detail="同一时刻大面积失联，多为数据链路故障而非人员问题",
            )
        ]
    return [_one(worker, last_fix[worker], now_s, geo) for worker in fresh]


def _one(worker: str, fix: tuple[float, str], now_s: float, geo: Geography) -> WarningMessage:
    last_s, grid = fix
    minutes = int((now_s - last_s) // 60)
    place = geo.label(grid)
    return WarningMessage(
        id=f"offline-{worker}-{int(last_s)}",
        ts=datetime.fromtimestamp(now_s, CHINA_TZ),
        type="worker_offline",
        area=grid,
        worker=worker,
        title=f"网格员 {worker} 在岗失联 {minutes} 分钟",
        detail=f"最后定位：{place}，{datetime.fromtimestamp(last_s, CHINA_TZ):%H:%M}",
    )
