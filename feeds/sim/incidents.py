"""One new incident: draw what, where and who from the mixes, plan its life, write its texts."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from feeds.deadlines import deadline_for
from feeds.geo import Geography, chain
from feeds.schema import AreaRef, EventMessage, Severity, Source
from feeds.sim import lifecycle, mix, texts
from feeds.sim.places import Places
from feeds.sim.simtime import to_datetime, to_ms
from feeds.sim.workers import Roster, Worker


@dataclass(slots=True)
class Incident:
    id: str
    category: str
    source: Source
    severity: Severity
    reporter: str | None
    area: AreaRef
    lon: float
    lat: float
    title: str
    deadline: datetime
    plan: lifecycle.Plan
    details: tuple[str, ...]
    held: int | None = None  # reorder chaos: index of a step waiting for the next one
    # The duty desk took steps of its own (feeds.sim.desk): the plan's later steps are numbered
    # after them (``offset``), or, once the desk closed it, never sent (``stopped``).
    upto: int = 0  # the index of the next step to process
    offset: int = 0
    stopped: bool = False

    def message(self, index: int) -> EventMessage:
        step = self.plan.steps[index]
        return EventMessage(
            id=self.id, seq=index + 1 + self.offset, type=step.type,
            ts=to_datetime(step.ms), category=self.category, level=step.level, area=self.area,
            lon=self.lon, lat=self.lat, source=self.source,
            title=self.title, deadline=self.deadline, detail=self.details[index],
            reporter=self.reporter, severity=self.severity,
        )


@dataclass(frozen=True, slots=True)
class Where:
    grid: str
    lon: float
    lat: float
    source: Source
    reporter: str | None


class Factory:
    def __init__(self, geo: Geography, places: Places, roster: Roster, speed: float) -> None:
        self.geo, self.places, self.roster, self.speed = geo, places, roster, speed

    def create(self, rng: random.Random, incident_id: str, ms: int) -> Incident:
        category = mix.category(rng)
        severity = mix.severity(rng, category)
        where = self._where(rng, ms)
        deadline = deadline_for(category, to_datetime(ms), severity)
        plan = lifecycle.plan(
            rng, category=category, severity=severity, top=mix.top_level(rng, category, severity),
            worker_reported=where.reporter is not None, reported_ms=ms,
            deadline_ms=to_ms(deadline), speed=self.speed,
        )
        scene = self._scene(rng, where.grid, category)
        return Incident(
            incident_id, category, where.source, severity, where.reporter, self._area(where.grid),
            where.lon, where.lat, texts.title(scene), deadline, plan,
            _details(rng, scene, where.source, plan, to_ms(deadline)),
        )

    def _where(self, rng: random.Random, ms: int) -> Where:
        """Town by population, grid by population; the grid's worker finds it, or others do."""
        town = self.places.town(rng)
        grid = self.places.grid(rng, town)
        worker = self._finder(rng, town, grid, ms) if mix.wants_grid_worker(rng) else None
        source: Source
        if worker is not None:
            grid, source, reporter = worker.grid, "grid_worker", worker.id
        else:
            source, reporter = mix.other_source(rng), None
        lon, lat = self.geo.random_point(grid, rng)
        return Where(grid, round(lon, 6), round(lat, 6), source, reporter)

    def _finder(self, rng: random.Random, town: str, grid: str, ms: int) -> Worker | None:
        """An on-duty worker of this grid or, failing that, of a nearby grid of the same town.

        Trying a few grids keeps the grid-worker share near 70 % by day when most grids are
        staffed, while a sparse roster (tests, --workers 100) cannot funnel a whole town's
        reports to its only worker.
        """
        for attempt in range(mix.FINDER_TRIES):
            candidate = grid if attempt == 0 else self.places.grid(rng, town)
            worker = self.roster.on_duty(candidate, ms)
            if worker is not None:
                return worker
        return None

    def _area(self, grid: str) -> AreaRef:
        _city, county, town, village, _grid = chain(grid)  # grids come from the geography
        return AreaRef(county=county, town=town, village=village, grid=grid)

    def _scene(self, rng: random.Random, grid: str, category: str) -> texts.Scene:
        geo = self.geo
        _city, county, town, village, _grid = chain(grid)
        names = (geo.counties[county].name, geo.towns[town].name,
                 geo.villages[village].short, geo.grids[grid].short)
        return texts.scene(rng, names, category)


def _details(
    rng: random.Random, scene: texts.Scene, source: str, plan: lifecycle.Plan, deadline: int
) -> tuple[str, ...]:
    details, lower = [], 1
    for step in plan.steps:
        if step.type == "reported":
            text = texts.report_detail(rng, scene, source)
        elif step.type == "handled":
            text = texts.handled_detail(rng, scene, plan.on_spot)
        elif step.type == "closed" and plan.on_spot:
            text = texts.on_spot_close(rng)
        else:
            text = texts.step_detail(rng, step.type, scene, step.level, deadline, lower)
        lower = step.level  # an escalation names the office it comes from
        details.append(text)
    return tuple(details)
