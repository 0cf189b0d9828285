"""Clusters: the same problem at the same place reported through several channels.

A hotline call, a WeChat post and a grid worker's report about one overflowing drain are one
case seen three times. Reports of one category within ``radius_m`` of each other and within
``window_s`` in time are fused into a group (a report near two groups joins them); a group with
at least ``min_reports`` reports from ``min_sources`` different channels raises one warning and
can be looked up by any of its incidents. Places are hashed into square cells of the radius,
so a report only looks at the 3 × 3 cells around it.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from datetime import datetime

from dashboard.analytics.outbox import Outbox
from feeds.catalogue import CATEGORIES, SOURCES
from feeds.geo import Geography
from feeds.schema import CHINA_TZ, WarningMessage

_M_PER_DEG = 111_320.0
_KX = math.cos(math.radians(29.7))  # Ningbo's latitude: degrees of longitude to metres


@dataclass(frozen=True)
class ClusterConfig:
    radius_m: float = 150.0
    window_s: int = 2 * 3600
    min_reports: int = 3
    min_sources: int = 2


# (ts, incident id, source, metres east, metres north): a tuple, as this runs per report
Report = tuple[float, str, str, float, float]
# A cell (column, row) of the square grid is the number column * _ROW + row: an int key hashes
# faster than a pair, and the 3 × 3 cells around one are fixed offsets from it. Rows count
# radius-sized steps north of the equator, far fewer than _ROW.
_ROW = 1 << 20
_AROUND = tuple(dx * _ROW + dy for dx in (-1, 0, 1) for dy in (-1, 0, 1))


@dataclass(slots=True)
class Group:
    id: str  # the earliest report's incident id
    category: str
    area: str
    first: float
    last: float
    ids: list[str] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)
    warned: bool = False


class Clusters:
    def __init__(self, geo: Geography, config: ClusterConfig, outbox: Outbox) -> None:
        self.geo = geo
        self.config = config
        self.outbox = outbox
        self.cells: dict[str, dict[int, list[Report]]] = {}  # category -> cell -> reports
        self.group_of: dict[str, str] = {}
        self.groups: dict[str, Group] = {}

    def members(self, incident_id: str) -> list[str]:
        """Every incident fused with this one (itself included)."""
        group = self.groups.get(self.group_of.get(incident_id, ""))
        return list(group.ids) if group else [incident_id]

    def on_report(
        self,
        incident_id: str,
        category: str,
        source: str,
        area: str,
        lon: float,
        lat: float,
        ts: float,
    ) -> None:
        if incident_id in self.group_of:
            return
        x, y = lon * _KX * _M_PER_DEG, lat * _M_PER_DEG
        report = (ts, incident_id, source, x, y)
        cells = self.cells.get(category)
        if cells is None:
            cells = self.cells[category] = {}
        cell = int(x // self.config.radius_m) * _ROW + int(y // self.config.radius_m)
        near = self._near(cells, cell, report)
        mine = cells.get(cell)
        if mine is None:
            mine = cells[cell] = []
        elif mine[0][0] < ts - 2 * self.config.window_s:  # a busy corner: forget the old ones
            mine[:] = [r for r in mine if r[0] >= ts - self.config.window_s]
        mine.append(report)
        if not near:
            self.group_of[incident_id] = incident_id
            self.groups[incident_id] = Group(
                incident_id, category, area, ts, ts, [incident_id], {source}
            )
            return
        group = self._join(report, {self.group_of[i] for i in near})
        if (
            not group.warned
            and len(group.ids) >= self.config.min_reports
            and len(group.sources) >= self.config.min_sources
        ):
            group.warned = True
            self.outbox.put(self._warning(group))

    def prune(self, before_s: float) -> None:
        """Forget reports and groups that can no longer gain members."""
        horizon = before_s - self.config.window_s
        for cells in self.cells.values():
            for key, reports in list(cells.items()):
                kept = [r for r in reports if r[0] >= horizon]
                if kept:
                    cells[key] = kept
                else:
                    del cells[key]
        for gid in [g for g, group in self.groups.items() if group.last < horizon]:
            for member in self.groups.pop(gid).ids:
                self.group_of.pop(member, None)

    def _near(self, cells: dict[int, list[Report]], cell: int, report: Report) -> list[str]:
        ts, _, _, x, y = report
        r2, window = self.config.radius_m**2, self.config.window_s
        found = []
        for offset in _AROUND:
            for other in cells.get(cell + offset, ()):
                if abs(other[0] - ts) <= window and (other[3] - x) ** 2 + (other[4] - y) ** 2 <= r2:
                    found.append(other[1])
        return found

    def _join(self, report: Report, gids: set[str]) -> Group:
        ts, incident_id, source = report[:3]
        groups = sorted((self.groups[g] for g in gids), key=lambda g: (g.first, g.id))
        main = groups[0]
        for other in groups[1:]:  # a report between two groups makes them one
            main.ids += other.ids
            main.sources |= other.sources
            main.warned = main.warned or other.warned
            main.first, main.last = min(main.first, other.first), max(main.last, other.last)
            for member in other.ids:
                self.group_of[member] = main.id
            del self.groups[other.id]
        main.ids.append(incident_id)
        main.sources.add(source)
        main.first, main.last = min(main.first, ts), max(main.last, ts)
        self.group_of[incident_id] = main.id
        return main

    def _warning(self, group: Group) -> WarningMessage:
        wid = f"cluster-{group.id}"
        if len(wid) > 64:
            wid = f"cluster-{zlib.crc32(group.id.encode()):08x}"
        channels = "、".join(SOURCES[s] for s in sorted(group.sources))
        name = CATEGORIES[group.category].name
        return WarningMessage(
            id=wid,
            ts=datetime.fromtimestamp(group.last, CHINA_TZ),
            type="cluster",
            area=group.area,
            category=group.category,
            severity="major" if len(group.sources) >= 3 else "normal",
            title=f"{self.geo.label(group.area)} 同一地点{len(group.ids)}起{name}，"
            f"{len(group.sources)}个渠道上报",
            detail=f"渠道：{channels}；{self.config.radius_m:.0f}米、"
            f"{self.config.window_s // 3600}小时内，建议合并处置",
            related=tuple(group.ids),
        )
