"""Which rooms a message goes to, and one payload per watched room.

A step, an action, a position or a warning goes to the screens of every watched scope that
contains its area (the city, its county, its town: ``feeds.geo.scopes_of``); a command goes to
the walls it names, or to one person. Nothing else names or parses rooms.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from dashboard.live.outbound import Emit
from dashboard.live.rooms import area_room, user_room, wall_room
from feeds.geo import scopes_of
from feeds.schema import ActionMessage

Item = TypeVar("Item")


def by_scope(
    items: Iterable[Item], area_of: Callable[[Item], str], watched: set[str]
) -> dict[str, list[Item]]:
    """Items grouped by each watched scope that contains their area, in their order."""
    grouped: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        for scope in scopes_of(area_of(item)):
            if scope in watched:
                grouped[scope].append(item)
    return grouped


def to_rooms(event: str, key: str, grouped: Mapping[str, Sequence[object]]) -> list[Emit]:
    """One ``{key: [...]}`` message per scope's room."""
    return [(event, {key: items}, area_room(scope)) for scope, items in grouped.items()]


def command_rooms(action: ActionMessage) -> list[str]:
    """Where a command goes: a view sent to a person; a cast, follow, release, replay or live to
    the walls it names (checked when it was asked for: dashboard.views.walls), and a release
    also to the person whose follow it ends (their tablet stops following)."""
    if action.verb == "send_view" and action.target:
        return [user_room(action.target)]
    if action.verb in ("cast", "follow", "release", "replay", "live"):
        rooms = [wall_room(wall) for wall in action.walls]
        if action.verb == "release" and action.target:
            rooms.append(user_room(action.target))
        return rooms
    return []
