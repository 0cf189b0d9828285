"""Who may drive which wall: the rule, and the walls a picker offers.

A wall is a registered kiosk link (``onemap kiosk add``): an id, a display name and a
jurisdiction. A person may drive a wall (cast an incident to it, lead it with a tablet, release
it) when the wall's jurisdiction lies inside their own: a county's officer drives the walls of
that county and of its towns, never the city's or a neighbour's; the city wall needs an account
whose jurisdiction is the city. A wall shows only its own jurisdiction, so an incident or an
area outside it is not for that wall either. The pickers list walls by this rule, and
``dashboard.views.act`` checks every request by it (the role per verb is checked there).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from dashboard.access.principal import Principal
from dashboard.access.store import Kiosk
from feeds.geo import Geography, contains

MAX_WALLS = 20  # walls one cast or follow may name
KIOSK_ID = re.compile(r"[0-9a-f]{12}")  # as ``onemap kiosk add`` makes them


def may_drive(holder_scope: str, wall_scope: str) -> bool:
    """The wall's jurisdiction lies inside the holder's (the city wall: city holders only)."""
    return contains(holder_scope, wall_scope)


def usable(kiosk: Kiosk | None, geo: Geography) -> bool:
    """A wall link that still works and shows a known jurisdiction."""
    return kiosk is not None and not kiosk.expired() and geo.is_scope(kiosk.scope)


def drivable(
    who: Principal, kiosks: Iterable[Kiosk], geo: Geography, area: str = ""
) -> list[Kiosk]:
    """The walls ``who`` may drive that can show ``area`` (any area if empty): the city's
    first, then counties', then towns', each by name."""
    found = [
        k
        for k in kiosks
        if usable(k, geo)
        and may_drive(who.scope, k.scope)
        and (not area or contains(k.scope, area))
    ]
    return sorted(found, key=lambda k: (_depth(geo, k.scope), k.scope, k.name, k.id))


def _depth(geo: Geography, scope: str) -> int:
    return len(geo.ancestors(scope))


def wall_row(kiosk: Kiosk, geo: Geography, followed_by: str = "") -> dict[str, Any]:
    """One wall in a picker: its id (what a request names), display name and jurisdiction."""
    return {
        "id": kiosk.id,
        "name": kiosk.name,
        "scope": kiosk.scope,
        "scopeName": geo.label(kiosk.scope),
        "followedBy": followed_by,
    }
