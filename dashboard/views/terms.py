"""What a duty officer types in the desk's search box, read as terms (docs/duty.md "Search").

Words are separated by spaces (ASCII or full-width) and all must match. Each word is one of:

* an incident id or its beginning (``E20261205-005253-2ud``, ``E20261205``): the id starts so;
* text: found in the title, the detail or the title's pinyin initials (``井盖``, ``jgqs``), as
  the role may read them (masked or not: ``dashboard.views.search``); and, when the word (two
  characters or more) is found in the name of a county, town, village or grid (``章水镇``,
  ``杖锡村``, ``海曙``), also an incident that lies there, at any level below it. A place's
  name in the text still finds (``凤凰山`` in a detail, beside a village 凤凰山村).

The same terms are asked of memory (``search.matching``) and of the archive
(``dashboard.cold.store``), so both find the same incidents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from feeds.geo import Geography
from feeds.geo.codes import chain

# an incident id's beginning: E, then at least the year and month of its report day
_ID = re.compile(r"e\d{6}[-\w]*")
_PLACE_CHARS = 2  # one character names thousands of places: it is read as text


@dataclass(frozen=True)
class Terms:
    ids: tuple[str, ...] = ()  # lower-case id beginnings
    # words that name places: (the word, the codes of the areas it names): there or in the text
    places: tuple[tuple[str, frozenset[str]], ...] = ()
    texts: tuple[str, ...] = ()  # lower-case words found in the text only

    def __bool__(self) -> bool:
        return bool(self.ids or self.places or self.texts)


def terms(query: str, geo: Geography) -> Terms:
    ids: list[str] = []
    places: list[tuple[str, frozenset[str]]] = []
    texts: list[str] = []
    for word in dict.fromkeys(query.lower().split()):
        if _ID.fullmatch(word):
            ids.append(word)
        elif len(word) >= _PLACE_CHARS and (codes := places_named(geo, word)):
            places.append((word, codes))
        else:
            texts.append(word)
    return Terms(tuple(ids), tuple(places), tuple(texts))


def places_named(geo: Geography, word: str) -> frozenset[str]:
    """The areas whose name holds ``word``, without those inside another of them (a village
    named so holds its grids, which are named after it)."""
    return _named(geo, word)


@lru_cache(maxsize=4)
def _names(geo: Geography) -> tuple[tuple[str, str], ...]:
    levels = (geo.counties, geo.towns, geo.villages, geo.grids)
    return tuple((a.code, a.name.lower()) for areas in levels for a in areas.values())


@lru_cache(maxsize=1024)  # keyed by the geography itself: hashing its names was most of it
def _named(geo: Geography, word: str) -> frozenset[str]:
    found = {code for code, name in _names(geo) if word in name}
    # (chain: the city, then the code's areas down to itself)
    return frozenset(code for code in found if found.isdisjoint(chain(code)[1:-1]))
