"""Headline figures for one jurisdiction: the wall's KPI counters.

They are read from the incremental analytics (``state.metrics``), so a call costs the same
whatever the number of incidents; docs/metrics.md defines every key. The first five keys
(reported, open, closed, overdue, online) are the wall's counters and stay as they were.
"""

from __future__ import annotations

from datetime import datetime

from dashboard.analytics import Figures
from dashboard.state import State

# What each rate is over, as its tile says it: (caption, the figure that counts the population).
# 应办结 (what is due): due today and closed, or open past its deadline (docs/metrics.md).
CAPTIONS = {
    "disposal_rate": ("应办结", "due"),
    "on_time_rate": ("应办结", "due"),
    "self_closure_rate": ("今日办结", "closed"),
}


def headline(state: State, scope: str, now: datetime) -> Figures:
    return state.metrics.figures(scope, now)


def yesterday(state: State, scope: str, now: datetime) -> Figures:
    """The headline figures at this time yesterday, for the tiles' "较昨日同时" line.

    Read at the last 10-minute mark 24 hours before ``now`` (``Metrics.same_time_yesterday``,
    docs/metrics.md): ``reported``, ``open``, ``overdue``, ``closed`` and the three rates when
    the incidents known reach back to yesterday's start, ``patrol_workers`` and
    ``patrol_visits`` when a fix from before that mark is known. ``online`` is left out (the
    log keeps no day-old positions). A figure left out shows no comparison on its tile.
    """
    return state.metrics.same_time_yesterday(scope, now)


def workers_online(state: State, scope: str, now: datetime) -> int:
    online = state.metrics.figures(scope, now)["online"]
    assert isinstance(online, int)
    return online
