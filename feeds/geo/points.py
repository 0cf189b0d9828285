"""``python -m feeds.geo.points [DATA_DIR]``: write grid_points.json, the grids' label points
with the digest of the grids.geojson they come from. A server then reads them instead of
building 10,907 polygons at every start (feeds.geo.Geography); after a change of grids.geojson
they are derived at every start until this is run again."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from feeds.geo import DEFAULT_DATA_DIR, GRIDS_FILE, POINTS_FILE, derive_points, points_digest


def write_points(data_dir: Path) -> Path:
    with (data_dir / GRIDS_FILE).open(encoding="utf-8") as fh:
        feats = json.load(fh)["features"]
    made, _shapes = derive_points([f for f in feats if "lon" not in f["properties"]])
    target = data_dir / POINTS_FILE
    body = {"source": points_digest(data_dir), "points": dict(sorted(made.items()))}
    target.write_text(json.dumps(body, separators=(",", ":")) + "\n", encoding="utf-8")
    return target


if __name__ == "__main__":
    written = write_points(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA_DIR)
    sys.stdout.write(f"wrote {written} ({written.stat().st_size:,} bytes)\n")
