"""Valid messages built from the real geography, for tests to bend into invalid ones."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from feeds.geo import Geography
from feeds.schema import CHINA_TZ


def a_grid(geo: Geography, index: int = 0) -> str:
    return sorted(geo.grids)[index * 997 % len(geo.grids)]


def event_dict(geo: Geography, index: int = 0, **overrides: Any) -> dict[str, Any]:
    grid = a_grid(geo, index)
    village = geo.village_of(grid)
    town = geo.town_of(grid)
    county = geo.county_of(grid)
    lon, lat = geo.random_point(grid, random.Random(index))
    ts = datetime.now(UTC).astimezone(CHINA_TZ) - timedelta(minutes=1)
    message: dict[str, Any] = {
        "kind": "event",
        "id": f"T-{index:06d}",
        "seq": 1,
        "type": "reported",
        "ts": ts.isoformat(),
        "category": "zf02",
        "level": 1,
        "area": {"county": county, "town": town, "village": village, "grid": grid},
        "lon": lon,
        "lat": lat,
        "source": "grid_worker",
        "reporter": "W000001",
        "title": "路边垃圾堆放未清理",
        "detail": "巷口垃圾桶满溢，已影响通行。",
        "deadline": (ts + timedelta(days=1)).isoformat(),
        "severity": "normal",
    }
    message.update(overrides)
    return message


def position_dict(geo: Geography, index: int = 0, **overrides: Any) -> dict[str, Any]:
    grid = a_grid(geo, index)
    lon, lat = geo.random_point(grid, random.Random(index))
    message: dict[str, Any] = {
        "kind": "position",
        "worker": f"W{index:06d}",
        "ts": datetime.now(UTC).astimezone(CHINA_TZ).isoformat(),
        "lon": lon,
        "lat": lat,
        "grid": grid,
        "status": "patrolling",
        "battery": 80,
        "accuracy": 5.0,
    }
    message.update(overrides)
    return message


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode()
