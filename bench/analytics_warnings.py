"""False alarms and detection of the early warnings, over weeks of simulated normal traffic.

    .venv/bin/python -m bench.analytics_warnings [--days 21] [--json out.json]

The simulator has no spikes and no multi-channel clusters of its own, so every spike or
cluster warning on its traffic is a false alarm. The run folds ``--days`` days of simulated
incidents (8,000 a day; the first three days use the rest of the city as the baseline, later
ones the area's own past), ticking the clock every 10 minutes (index drops). Into days 5 and
later it injects spikes (``k`` reports of one category in one town within 30 minutes, for
several ``k``) and clusters (3 reports from 2-3 channels within 80 m and 40 minutes), at
random times and places, and counts how many are caught within the hour. A second run sends
12 hours of positions of 2,000 workers and counts "worker offline" warnings (false alarms
too: simulated workers sign off with an "offline" fix).
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from dashboard.analytics import AnalyticsConfig
from dashboard.analytics.watch import WatchConfig
from dashboard.state import State
from feeds.catalogue import CATEGORIES
from feeds.geo import Geography, load_geography
from feeds.schema import (
    CHINA_TZ,
    AreaRef,
    EventMessage,
    Message,
    PositionMessage,
    WarningMessage,
)
from feeds.sim import Model, SimConfig

START = datetime(2026, 5, 11, tzinfo=CHINA_TZ)  # a Monday after the Labour Day holiday
SPIKE_SIZES = (6, 8, 10, 14, 20)
TICK = timedelta(minutes=10)


def injections(geo: Geography, days: int, rng: random.Random) -> list[tuple[str, Any]]:
    """(kind, details) of the spikes and clusters to inject, with their first report time."""
    towns = sorted(geo.towns)
    plans: list[tuple[str, Any]] = []
    for day in range(4, days):
        for size in SPIKE_SIZES:
            at = START + timedelta(days=day, hours=rng.uniform(8, 20))
            plans.append(("spike", (at, rng.choice(towns), rng.choice(list(CATEGORIES)), size)))
        for _ in range(4):
            at = START + timedelta(days=day, hours=rng.uniform(7, 21))
            plans.append(
                ("cluster", (at, rng.choice(sorted(geo.grids)), rng.choice(list(CATEGORIES))))
            )
    return plans


def injected_messages(
    geo: Geography, plans: list[tuple[str, Any]], rng: random.Random
) -> list[EventMessage]:
    messages = []
    for n, (kind, details) in enumerate(plans):
        if kind == "spike":
            at, town, category, size = details
            grids = [g for g in geo.grids if g.startswith(town)]
            for k in range(size):
                messages.append(
                    _report(
                        geo,
                        f"INJ{n}-{k}",
                        rng.choice(grids),
                        category,
                        at + timedelta(minutes=30 * k / size),
                        "hotline_12345",
                        (rng.uniform(-900, 900), rng.uniform(-900, 900)),
                    )
                )
        else:
            at, grid, category = details
            sources = rng.sample(
                ["grid_worker", "hotline_12345", "wechat", "app"], rng.choice([2, 3])
            )
            for k in range(3):
                messages.append(
                    _report(
                        geo,
                        f"INJ{n}-{k}",
                        grid,
                        category,
                        at + timedelta(minutes=20 * k),
                        sources[k % len(sources)],
                        (rng.uniform(-40, 40), rng.uniform(-40, 40)),
                    )
                )
    return messages


def _report(
    geo: Geography,
    incident: str,
    grid: str,
    category: str,
    at: datetime,
    source: str,
    offset_m: tuple[float, float],
) -> EventMessage:
    return EventMessage(
        id=incident,
        seq=1,
        type="reported",
        ts=at,
        category=category,
        level=1,
        area=AreaRef(grid[:6], grid[:9], grid[:12], grid),
        lon=geo.grids[grid].lon + offset_m[0] / 96_700,
        lat=geo.grids[grid].lat + offset_m[1] / 111_320,
        source=source,
        title="注入测试",
        deadline=at + timedelta(days=1),
    )


def run_events(geo: Geography, days: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    plans = injections(geo, days, rng)
    injected = sorted(injected_messages(geo, plans, rng), key=lambda m: m.ts)
    config = AnalyticsConfig(watch=WatchConfig(every_s=TICK.total_seconds()))
    state = State(geo, analytics=config)
    model = Model(
        geo,
        SimConfig(seed=seed),
        START,
        positions=False,
        arrivals_until=START + timedelta(days=days),
    )
    clock, pending = START + TICK, list(reversed(injected))
    warnings: list[WarningMessage] = []
    for n, message in enumerate(model.messages(START + timedelta(days=days))):
        while pending and pending[-1].ts <= message.ts:
            state.apply_event(f"i{n}-{len(pending)}", pending.pop())
        state.apply_event(f"{n}-0", message)
        while message.ts >= clock:
            warnings += state.metrics.tick(clock)  # tick hands over every pending warning
            clock += TICK
    return score(warnings + state.metrics.outbox.drain(), plans, days)


def score(
    warnings: list[WarningMessage], plans: list[tuple[str, Any]], days: int
) -> dict[str, Any]:
    caught_spikes: Counter[int] = Counter()
    caught_clusters = 0
    false = Counter()
    for w in warnings:
        if w.type == "spike":
            match = _spike_of(w, plans)
            if match is None:
                false[("spike", "own" if (w.ts - START).days >= 3 else "city")] += 1
            else:
                caught_spikes[match] += 1
        elif w.type == "cluster":
            if any(r.startswith("INJ") for r in w.related):
                caught_clusters += 1
            else:
                false[("cluster", "")] += 1
    planted = Counter(d[3] for k, d in plans if k == "spike")
    clusters = sum(1 for k, _ in plans if k == "cluster")
    by_type = Counter(w.type for w in warnings)
    return {
        "days": days,
        "warnings_by_type": dict(by_type),
        "false_spikes_first_3_days_per_day": false[("spike", "city")] / 3,
        "false_spikes_later_per_day": false[("spike", "own")] / max(1, days - 3),
        "false_clusters_per_day": false[("cluster", "")] / days,
        "spike_detection_by_size": {
            size: min(1.0, caught_spikes[size] / planted[size]) for size in SPIKE_SIZES
        },
        "cluster_detection": caught_clusters / clusters if clusters else None,
        "index_drops_per_day": by_type["index_drop"] / days,
    }


def _spike_of(warning: Any, plans: list[tuple[str, Any]]) -> int | None:
    for kind, details in plans:
        if kind != "spike":
            continue
        at, town, category, size = details
        near = timedelta(0) <= warning.ts - at <= timedelta(hours=1)
        if near and category == warning.category and warning.area in (town, town[:6]):
            return size
    return None


def run_positions(geo: Geography, hours: int, seed: int) -> dict[str, Any]:
    state = State(geo)
    start = START + timedelta(hours=6)
    model = Model(geo, SimConfig(seed=seed, workers=2000, events_per_day=0), start)
    clock, raised = start + timedelta(seconds=30), Counter()
    for n, message in enumerate(model.messages(start + timedelta(hours=hours))):
        _apply(state, n, message)
        while message.ts >= clock:
            raised.update(w.type for w in state.metrics.tick(clock))
            clock += timedelta(seconds=30)
    return {
        "hours": hours,
        "workers": 2000,
        "worker_offline": raised["worker_offline"],
        "fixes_seen": n + 1,
    }


def _apply(state: State, n: int, message: Message) -> None:
    if isinstance(message, PositionMessage):
        state.apply_position(f"{n}-0", message)
    else:
        state.apply_event(f"{n}-0", message)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--hours", type=int, default=12)
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    geo = load_geography()
    results = {
        "events": run_events(geo, args.days, args.seed),
        "positions": run_positions(geo, args.hours, args.seed),
    }
    print(json.dumps(results, indent=2, default=str))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=str)


if __name__ == "__main__":
    main()
