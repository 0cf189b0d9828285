"""Duty table queries over 100,000 incidents: filter, search, sort and one block of rows.

    .venv/bin/python -m bench.duty_query [--incidents 100000] [--repeat 15]

The state is folded from simulated steps (the simulator's categories, areas, sources and
escalations) until it holds ``--incidents`` incidents. Each query is answered by
``DutyQuery.rows``, the exact code behind the ``duty_rows`` socket event (filter → sort → first
block of 100 rows, and the map points for the first block), as a city-wide duty officer asks.
The target is ≤ 150 ms server time per query. Baseline in the same run: one bare pass over the
incidents reading one attribute, the floor of any query that scans (the ratio says how many
such passes a query costs). Search is measured cold (first time: each incident's searchable
text, pinyin initials included, is built) and warm.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta
from typing import Any

import msgspec

from bench.analytics import DAY
from bench.common import banner, machine, say, table
from dashboard.access.auth import Principal
from dashboard.live.inbound import DutyRowsAsk
from dashboard.live.livestate import LiveState
from dashboard.state import State
from dashboard.views.duty_query import DutyQuery
from feeds.geo import load_geography
from feeds.schema import EventMessage
from feeds.sim import Model, SimConfig

QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("everything, newest first", {}),
    ("one county", {"filter": {"area": "330212"}}),
    ("one town, open", {"filter": {"area": "330212001", "status": "open"}}),
    (
        "category + level + status",
        {"filter": {"cat": "zf02,zf03", "level": "2,3", "status": "open"}},
    ),
    ("overdue, by deadline", {"filter": {"flag": "overdue"}, "sort": "deadline", "dir": "asc"}),
    ("KPI set: closed on time", {"filter": {"set": "closed_on_time"}}),
    ("search: substring", {"filter": {"q": "井盖"}}),
    ("search: pinyin initials", {"filter": {"q": "jgqs"}}),
    (
        "search + county + sort by place",
        {"filter": {"q": "垃圾", "area": "330203"}, "sort": "place"},
    ),
]


def build_state(count: int) -> State:
    geo = load_geography()
    state = State(geo)
    config = SimConfig(seed=3, events_per_day=max(20_000, count // 2), workers=10_000)
    model = Model(geo, config, DAY - timedelta(days=2), positions=False)
    entries = []
    for n, message in enumerate(model.messages()):
        assert isinstance(message, EventMessage)
        entries.append((f"{n + 1}-0", message))
        if len(entries) % 50_000 == 0:
            state.fold(entries)
            entries = []
            if len(state.incidents) >= count:
                break
    state.fold(entries)
    return state


def desk_for(state: State) -> DutyQuery:
    return DutyQuery(LiveState(state))


def floor_pass(state: State) -> float:
    started = time.perf_counter()
    n = 0
    for incident in list(state.incidents.values()):
        n += incident.deadline is not None
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    banner("duty table queries")
    say(f"machine: {machine()}")
    started = time.perf_counter()
    state = build_state(args.incidents)
    say(f"state: {len(state.incidents):,} incidents folded in {time.perf_counter() - started:.1f}s")
    desk = desk_for(state)
    who = Principal("u:duty:1", "user", "duty", "duty", state.geo.city.code, "值班员", None)
    rows: list[list[object]] = []
    cold: dict[str, float] = {}
    for name, ask in QUERIES:
        asked = {"start": 0, "end": 100, "points": True, **ask}
        request = msgspec.convert(asked, DutyRowsAsk, strict=False)  # as the socket decodes it
        if "q" in ask.get("filter", {}) and "cold" not in cold:
            desk.search[True].texts.clear()  # forget every searchable text: a cold start
            cold["cold"] = desk.rows(who, request)["ms"]
        times, floors, total = [], [], 0
        for _ in range(args.repeat):
            floors.append(floor_pass(state))
            reply = desk.rows(who, request)
            times.append(reply["ms"])
            total = reply["total"]
        p50, floor = statistics.median(times), statistics.median(floors)
        p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
        rows.append(
            [
                name,
                f"{total:,}",
                f"{p50:.1f}",
                f"{p95:.1f}",
                f"{p50 / floor:.1f}×",
                "met" if p95 <= 150 else "MISSED",
            ]
        )
    say(table(rows, ["query", "matches", "p50 ms", "p95 ms", "÷ bare pass", "≤150 ms"]))
    say(
        f"bare pass over {len(state.incidents):,} incidents: median "
        f"{statistics.median([floor_pass(state) for _ in range(args.repeat)]):.1f} ms"
    )
    if cold:
        say(f"first search after start (builds every searchable text): {cold['cold']:.0f} ms")


if __name__ == "__main__":
    main()
