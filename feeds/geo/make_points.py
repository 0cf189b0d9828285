"""``python -m feeds.geo.make_points [DATA_DIR]``: write grid_points.json (feeds.geo.points)
after a change of grids.geojson; the packaged data by default."""

from __future__ import annotations

import sys
from pathlib import Path

from feeds.geo import DEFAULT_DATA_DIR
from feeds.geo.points import write_points

if __name__ == "__main__":
    written = write_points(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA_DIR)
    sys.stdout.write(f"wrote {written} ({written.stat().st_size:,} bytes)\n")
