"""Containment by area code: the one place that knows how Ningbo's codes nest.

Codes nest by prefix: a 6-digit county (330212), its 9-digit towns (330212001), their 12-digit
villages and 15-digit grids. The city (330200) is 6 digits like a county but contains every
code. Nothing outside this module slices a code or compares its length.
"""

from __future__ import annotations

CITY_CODE = "330200"
# The code length of each level below the city.
LENGTHS = {"county": 6, "town": 9, "village": 12, "grid": 15}
_LEVEL_OF_LENGTH = {n: level for level, n in LENGTHS.items()}
# The levels a page can watch (a wall, a desk, a tablet): rooms exist for these only.
SCOPE_LEVELS = ("city", "county", "town")


def level_of(code: str) -> str | None:
    """"city", "county", "town", "village" or "grid" by the code's shape; None if it has none."""
    if code == CITY_CODE:
        return "city"
    if not code.isascii() or not code.isdigit():
        return None
    return _LEVEL_OF_LENGTH.get(len(code))


def prefix(code: str, level: str) -> str | None:
    """The ``level`` area that holds ``code`` (itself at its own level); None above the code."""
    if level == "city":
        return CITY_CODE
    length = LENGTHS[level]
    if code == CITY_CODE or level_of(code) is None or len(code) < length:
        return None
    return code[:length]


def chain(code: str) -> tuple[str, ...]:
    """The city, then every area down to ``code`` itself: (city, county, town, village, grid).

    Stops at the code's own level; ``(city,)`` for the city and for a code of no known shape.
    """
    out = [CITY_CODE]
    if code == CITY_CODE or level_of(code) is None:
        return tuple(out)
    out += [code[:n] for n in LENGTHS.values() if n <= len(code)]
    return tuple(out)


def scopes_of(code: str) -> tuple[str, ...]:
    """The watchable scopes (city, county, town) that contain ``code``: the rooms it goes to."""
    return chain(code)[:3]


def contains(scope: str, code: str) -> bool:
    """Whether area ``code`` lies inside jurisdiction ``scope`` (itself included).

    The city contains every code of a known shape; a county its towns, villages and grids; a
    town itself and below. An empty or malformed code lies nowhere.
    """
    if not code or level_of(code) is None or level_of(scope) is None:
        return False
    if scope == CITY_CODE:
        return True
    return code == scope or (len(code) > len(scope) and code.startswith(scope))
