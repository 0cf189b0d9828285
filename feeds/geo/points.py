"""The grids' label points: grids.geojson has none, and deriving them builds 10,907 polygons
(0.35 s of every start). ``python -m feeds.geo.make_points [DATA_DIR]`` writes grid_points.json
with the digest of the grids.geojson they come from; ``feeds.geo.Geography`` reads it when the
digest matches, else derives them (and keeps the polygons it built)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

JSON = dict[str, Any]
GRIDS_FILE = "grids.geojson"
POINTS_FILE = "grid_points.json"


def points_digest(data_dir: Path) -> str:
    """What grid_points.json was made from: the digest of grids.geojson."""
    return hashlib.sha256((data_dir / GRIDS_FILE).read_bytes()).hexdigest()


def made_points(data_dir: Path) -> dict[str, list[float]] | None:
    """The grids' label points from grid_points.json, if it was made from this grids.geojson."""
    try:
        with (data_dir / POINTS_FILE).open(encoding="utf-8") as fh:
            made = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(made, dict) or made.get("source") != points_digest(data_dir):
        return None
    points = made.get("points")
    return points if isinstance(points, dict) else None


def derive_points(
    feats: list[JSON],
) -> tuple[dict[str, list[float]], dict[str, shapely.Geometry]]:
    """Each grid's label point (vectorised: the centroid when it lies inside the grid, else a
    point on its surface), and the polygons built to find them."""
    geoms = np.array([shape(f["geometry"]) for f in feats], dtype=object)
    centroids = shapely.centroid(geoms)
    points = np.where(shapely.contains(geoms, centroids), centroids,
                      shapely.point_on_surface(geoms))
    xs, ys = shapely.get_x(points), shapely.get_y(points)
    codes = [f["properties"]["code"] for f in feats]
    made = {
        code: [round(float(x), 5), round(float(y), 5)]
        for code, x, y in zip(codes, xs, ys, strict=True)
    }
    return made, dict(zip(codes, geoms, strict=True))


def write_points(data_dir: Path) -> Path:
    with (data_dir / GRIDS_FILE).open(encoding="utf-8") as fh:
        feats = json.load(fh)["features"]
    made, _shapes = derive_points([f for f in feats if "lon" not in f["properties"]])
    target = data_dir / POINTS_FILE
    body = {"source": points_digest(data_dir), "points": dict(sorted(made.items()))}
    target.write_text(json.dumps(body, separators=(",", ":")) + "\n", encoding="utf-8")
    return target

