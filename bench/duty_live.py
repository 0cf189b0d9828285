"""A live step reaching an open duty table: publish → the row updated on screen.

    .venv/bin/python -m bench.duty_live [--seconds 30] [--rate 10] [--background 190]

Today's events (and yesterday's) and 10,000 workers are loaded into a real Redis by the
simulator; a real server runs; headless Chromium signs in as a city-wide duty officer and opens
/duty on the view a duty officer keeps open: open incidents, nearest deadline first (100 rows
loaded). Then, for ``--seconds``, new steps (dispatched/handled ...) of the incidents in the
loaded rows are published at ``--rate`` per second, while ``--background`` new incidents per
second arrive elsewhere (each one also makes the open table refresh its blocks, at most once a
second). A step counts as seen when the page has put it in the row's data and the next
animation frame has run (the row is painted).

Baseline in the same run: a python-socketio client signed in as the same officer, receiving
the same steps (publish → socket: the server's part). The target is p99 ≤ 250 ms to the page;
scroll position and selection must stay (checked at the end and reported).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import socketio

from bench.common import banner, dashboard_server, machine, say, summary, table
from bench.wall_common import chromium, populate
from dashboard.access.store import UserStore
from feeds.bus import EVENTS, Bus
from feeds.geo import load_geography
from feeds.redis_server import start_redis
from feeds.schema import EventMessage
from feeds.sim.options import SimConfig

PASSWORD = "correct horse battery"
HOOK = """() => {
  const duty = onemap.duty, original = duty.onSteps.bind(duty);
  window.__seen = [];
  duty.onSteps = function (steps, fromSnapshot) {
    const loaded = steps.filter(s => duty.api.getRowNode(s.id));
    original(steps, fromSnapshot);
    if (loaded.length) requestAnimationFrame(() => {
      const t = Date.now();
      loaded.forEach(s => window.__seen.push([s.id, s.seq, t]));
    });
  };
}"""


def _last_steps(bus: Bus) -> dict[str, EventMessage]:
    last: dict[str, EventMessage] = {}
    for entry in bus.replay(EVENTS):
        m = entry.message
        assert isinstance(m, EventMessage)
        if m.id not in last or m.seq > last[m.id].seq:
            last[m.id] = m
    return last


def _next_step(m: EventMessage) -> EventMessage:
    kind = "handled" if m.type in ("dispatched", "accepted") else "dispatched"
    return msgspec.structs.replace(m, seq=m.seq + 1, type=kind, ts=datetime.now(UTC))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=10, help="steps/s to loaded rows")
    parser.add_argument("--background", type=float, default=190, help="new incidents/s elsewhere")
    args = parser.parse_args()
    banner("duty table: publish → row painted")
    say(f"machine: {machine()}")
    geo = load_geography()
    redis_process = start_redis()
    prefix = "dutylive"
    bus = Bus(redis_process.client(), prefix=prefix)
    try:
        data = populate(
            bus, geo, SimConfig(seed=4, workers=10_000, events_per_day=8000, history_days=1)
        )
        say(f"populated: {data.steps:,} steps, {data.workers:,} workers in {data.seconds:.0f}s")
        UserStore(redis_process.client(), prefix).add_user("bench-duty", "duty", "330200", PASSWORD)
        with (
            tempfile.TemporaryDirectory() as tmp,
            dashboard_server(redis_process.url, prefix, Path(tmp)) as server,
        ):
            result = _measure(server.url, bus, args)
    finally:
        redis_process.stop()
    _report(result, args)


def _measure(url: str, bus: Bus, args: argparse.Namespace) -> dict[str, Any]:
    last = _last_steps(bus)
    published: dict[tuple[str, int], float] = {}
    socket_seen: dict[tuple[str, int], float] = {}
    with chromium("--headless") as browser:
        context = browser.new_context(viewport={"width": 1920, "height": 1080})
        page = context.new_page()
        page.goto(f"{url}/login")
        page.fill("input[name=username]", "bench-duty")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{url}/duty?status=open&sort=deadline:asc")  # the overdue-first view
        page.wait_for_selector("#duty-root[data-total]", state="attached", timeout=60_000)
        page.wait_for_function(
            "() => { let n = 0; onemap.duty.api.forEachNode(r => { if (r.data) n++; });"
            " return n >= 50; }",
            timeout=60_000,
        )
        page.evaluate(HOOK)
        loaded = page.evaluate(
            "() => { const ids = [];"
            " onemap.duty.api.forEachNode(n => n.data && ids.push(n.data.id)); return ids; }"
        )
        targets = [last[i] for i in loaded if i in last and last[i].type != "closed"][:100]
        page.locator(".ag-center-cols-container .ag-row[row-index='5']").click()  # a selection
        page.evaluate("document.querySelector('.ag-body-viewport').scrollTop = 340")
        selected_before = page.evaluate("onemap.duty.api.getSelectedRows().map(r => r.id)")
        client = _socket_client(url, context, socket_seen)
        stop = threading.Event()
        background = threading.Thread(target=_background, args=(bus, last, args.background, stop))
        background.start()
        try:
            published = _publish_targets(bus, targets, args.rate, args.seconds)
            time.sleep(3)  # the last steps land
        finally:
            stop.set()
            background.join()
            client.disconnect()
        seen = page.evaluate("window.__seen")
        scroll_after = page.evaluate("document.querySelector('.ag-body-viewport').scrollTop")
        selected_after = page.evaluate("onemap.duty.api.getSelectedRows().map(r => r.id)")
        stats = page.evaluate("onemap.duty.stats")
        context.close()
    page_ms = [t - published[(i, s)] * 1000 for i, s, t in seen if (i, s) in published]
    socket_ms = [(socket_seen[k] - published[k]) * 1000 for k in published if k in socket_seen]
    return {
        "published": len(published),
        "page": page_ms,
        "socket": socket_ms,
        "kept_scroll": scroll_after == 340,
        "kept_selection": selected_after == selected_before and bool(selected_before),
        "refreshes": stats["refreshes"],
        "targets": len(targets),
    }


def _socket_client(url: str, context: Any, seen: dict[tuple[str, int], float]) -> socketio.Client:
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
    client = socketio.Client(reconnection=False)

    @client.on("steps")
    def steps(data: dict[str, Any]) -> None:
        now = time.time()
        for s in data["steps"]:
            seen.setdefault((s["id"], s["seq"]), now)

    client.connect(url, headers={"Cookie": cookie}, transports=["websocket"])
    client.call("hello", {"scope": "330200"}, timeout=60)
    return client


def _publish_targets(
    bus: Bus, targets: list[EventMessage], rate: float, seconds: float
) -> dict[tuple[str, int], float]:
    published: dict[tuple[str, int], float] = {}
    current = {m.id: m for m in targets}
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        m = _next_step(current[targets[n % len(targets)].id])
        current[m.id] = m
        published[(m.id, m.seq)] = time.time()
        bus.publish(m)
        n += 1
        time.sleep(max(0.0, 1 / rate - 0.001))
    return published


def _background(
    bus: Bus, last: dict[str, EventMessage], rate: float, stop: threading.Event
) -> None:
    """New incidents elsewhere: copies of known reports under new ids, in batches of 10."""
    reports = [m for m in last.values() if m.seq == 1][:2000] or list(last.values())[:2000]
    n = 0
    while not stop.is_set():
        batch = []
        for _ in range(10):
            m = reports[n % len(reports)]
            now = datetime.now(UTC)
            batch.append(  # fresh reports: today's time, a day to handle them
                msgspec.structs.replace(
                    m,
                    id=f"BG{n:07d}",
                    seq=1,
                    type="reported",
                    level=1,
                    ts=now,
                    deadline=now + timedelta(days=1),
                )
            )
            n += 1
        bus.publish_many(batch)
        time.sleep(10 / rate)


def _report(result: dict[str, Any], args: argparse.Namespace) -> None:
    page, sock = summary(result["page"]), summary(result["socket"])
    rows = [
        [
            "python socket (baseline)",
            len(result["socket"]),
            *(f"{sock[k]:.0f}" for k in ("p50", "p95", "p99")),
        ],
        [
            "duty page, row painted",
            len(result["page"]),
            *(f"{page[k]:.0f}" for k in ("p50", "p95", "p99")),
        ],
    ]
    say(table(rows, ["publish →", "samples", "p50 ms", "p95 ms", "p99 ms"]))
    say(
        f"steps published to loaded rows: {result['published']} over {args.seconds:g}s "
        f"({len(result['page'])} seen painted); background {args.background:g} new incidents/s; "
        f"table refreshes: {result['refreshes']}"
    )
    say(
        f"page p50 / socket p50 = {page['p50'] / max(sock['p50'], 0.1):.1f}×; "
        f"p99 target ≤ 250 ms: {'met' if page['p99'] <= 250 else 'MISSED'}"
    )
    say(
        f"scroll position kept: {result['kept_scroll']}; selection kept: {result['kept_selection']}"
    )


if __name__ == "__main__":
    main()
