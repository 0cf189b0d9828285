"""Headline figures for one jurisdiction: the wall's KPI counters.

They are read from the incremental analytics (``state.metrics``), so a call costs the same
whatever the number of incidents; docs/metrics.md defines every key. The first five keys
(reported, open, closed, overdue, online) are the wall's counters and stay as they were.
"""

from __future__ import annotations

from datetime import datetime

from dashboard.analytics import Figures
from dashboard.state import State


def headline(state: State, scope: str, now: datetime) -> Figures:
    return state.metrics.figures(scope, now)


def yesterday(state: State, scope: str, now: datetime) -> Figures:
    """The headline figures at this time yesterday, for the tiles' "较昨日同时" line.

    Read at the last 10-minute mark 24 hours before ``now`` (``Metrics.same_time_yesterday``,
    docs/metrics.md): ``reported``, ``patrol_visits``, ``open``, ``overdue``, ``closed`` and
    the three rates. ``online`` is left out (the log keeps no day-old positions), and the dict
    is empty when the log does not reach back that far: the tiles then show no comparison.
    """
    return state.metrics.same_time_yesterday(scope, now)


def workers_online(state: State, scope: str, now: datetime) -> int:
    online = state.metrics.figures(scope, now)["online"]
    assert isinstance(online, int)
    return online
