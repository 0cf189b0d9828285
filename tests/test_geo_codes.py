"""Containment by area code (feeds.geo.codes), checked against the real geography's tree."""

from __future__ import annotations

import pytest

from feeds.geo import load_geography
from feeds.geo.codes import CITY_CODE, chain, contains, level_of, scopes_of

GEO = load_geography()
GRID = sorted(GEO.grids)[len(GEO.grids) // 2]


def test_chain_of_a_grid_is_its_ancestors_in_the_geography_then_itself():
    assert chain(GRID) == tuple(a.code for a in GEO.ancestors(GRID)) + (GRID,)
    assert scopes_of(GRID) == chain(GRID)[:3]


@pytest.mark.parametrize("code", [CITY_CODE, "", "33021200x", "3302120011", "３３０２１２"])
def test_chain_of_the_city_or_a_malformed_code_is_the_city_only(code):
    assert chain(code) == (CITY_CODE,)


def test_every_area_lies_in_each_of_its_ancestors_and_in_no_other_county():
    for code in [GRID, *list(GEO.villages)[:50], *list(GEO.towns)[:50], *GEO.counties]:
        area = GEO.area(code)
        assert area is not None
        assert level_of(code) == area.level
        for ancestor in GEO.ancestors(code):
            assert contains(ancestor.code, code)
            assert not contains(code, ancestor.code) or ancestor.code == code
        assert contains(code, code)
        others = [c for c in GEO.counties if c != GEO.county_of(code)]
        assert not any(contains(c, code) for c in others)


@pytest.mark.parametrize("code", ["", "abc", "33020", "3302120012", "330212001\n"])
def test_malformed_codes_lie_nowhere_not_even_in_the_city(code):
    assert not contains(CITY_CODE, code)
    assert level_of(code) is None and not GEO.is_scope(code)


def test_a_town_is_not_inside_a_town_that_shares_its_first_digits():
    town = sorted(GEO.towns)[0]
    assert not contains(town, town[:-1] + str((int(town[-1]) + 1) % 10))
    assert not contains(town, town[:6])  # its county is not inside it


def test_is_scope_means_a_known_city_county_or_town():
    assert GEO.is_scope(CITY_CODE)
    assert GEO.is_scope(GEO.county_of(GRID) or "")
    assert GEO.is_scope(GEO.town_of(GRID) or "")
    assert not GEO.is_scope(GEO.village_of(GRID) or "")
    assert not GEO.is_scope("330299")  # county-shaped, not in Ningbo
