"""Where incidents happen: towns drawn by population, then grids by population within the town.

A county's share of incidents is its share of the city's population, and a town's share of its
county follows the town's population, so a district of 1.8 million reports about three times
as much as one of 600,000. Areas with no population figure count as average.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import defaultdict
from itertools import accumulate

from feeds.geo import Geography


class Places:
    def __init__(self, geo: Geography) -> None:
        self.geo = geo
        self.grids_by_town = _grids_by_town(geo)
        self._grid_cum = {
            town: tuple(accumulate(max(1, geo.grids[g].population or 0) for g in grids))
            for town, grids in self.grids_by_town.items()
        }
        weights = _town_weights(geo, set(self.grids_by_town))
        self.towns = tuple(weights)
        self.town_share = weights
        self._cum = tuple(accumulate(weights.values()))

    def town(self, rng: random.Random) -> str:
        index = bisect_right(self._cum, rng.random() * self._cum[-1])
        return self.towns[min(index, len(self.towns) - 1)]

    def grid(self, rng: random.Random, town: str) -> str:
        return rng.choices(self.grids_by_town[town], cum_weights=self._grid_cum[town])[0]


def _grids_by_town(geo: Geography) -> dict[str, list[str]]:
    by_town: dict[str, list[str]] = defaultdict(list)
    for code in sorted(geo.grids):
        town = geo.town_of(code)
        if town is not None:
            by_town[town].append(code)
    return dict(by_town)


def _town_weights(geo: Geography, with_grids: set[str]) -> dict[str, float]:
    """Each town's share of the city's incidents (sums to 1)."""
    county_pop = _filled({c: a.population for c, a in geo.counties.items()})
    towns_of: dict[str, dict[str, float | None]] = defaultdict(dict)
    for code in sorted(with_grids):
        county = geo.county_of(code)
        if county in county_pop:
            towns_of[county][code] = geo.towns[code].population
    total = sum(county_pop[c] for c in towns_of)
    weights: dict[str, float] = {}
    for county in sorted(towns_of):
        town_pop = _filled(towns_of[county])
        county_total = sum(town_pop.values())
        for town, pop in town_pop.items():
            weights[town] = county_pop[county] / total * pop / county_total
    return weights


def _filled(populations: dict[str, float | None]) -> dict[str, float]:
    """Missing or zero populations become the mean of the known ones (or 1 if none is known)."""
    known = [p for p in populations.values() if p]
    fallback = sum(known) / len(known) if known else 1.0
    return {code: float(p) if p else fallback for code, p in populations.items()}
