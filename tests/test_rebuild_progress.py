"""A long rebuild says how far it is (dashboard/live/rebuild.py Progress), by the log's ids."""

from __future__ import annotations

import time

from dashboard.live.health import BridgeHealth
from dashboard.live.rebuild import Progress
from feeds.bus import EVENTS, Bus
from feeds.schema import decode_trusted
from tests.factories import event_dict, line


def test_progress_counts_the_entries_and_the_share_of_the_logs_time_span(bus: Bus, geo):
    for start in range(0, 350, 50):  # in several appends: ids spread over some milliseconds
        steps = [event_dict(geo, i, id=f"P-{i}") for i in range(start, start + 50)]
        bus.publish_many([decode_trusted(line(m)) for m in steps])
        time.sleep(0.005)
    progress = Progress(upto_ms=int(bus.last_ids()[EVENTS].partition("-")[0]))
    batches = progress.counted(bus.log_batches(EVENTS, batch=100))
    first = next(batches)
    assert progress.folded == len(first) == 100
    partway = progress.report()["percent"]
    assert partway is not None and 0 <= partway < 100
    rest = sum(len(batch) for batch in batches)
    assert progress.folded == 100 + rest == 350
    assert progress.report()["percent"] == 100.0


def test_health_shows_the_rebuilds_progress_only_while_rebuilding():
    health = BridgeHealth(progress=Progress(folded=12, first_ms=1_000, upto_ms=3_000, at_ms=2_000))
    assert health.report()["rebuild"] == {"folded": 12, "percent": 50.0, "seconds": 0.0}
    health.state = "ok"
    assert health.report()["rebuild"] is None
