"""A bounded working set (issue 16): restart, memory and duty search against the length of history.

    .venv/bin/python -m bench.history [--days 2,60] [--per-day 8000] [--repeat 8] [--json out.json]
    .venv/bin/python -m bench.history --days 2,10 --per-day 40000        # 5× volume
    .venv/bin/python -m bench.history --compressed [--days 60]            # in-process, day by day

**Restart** (the default): for each length in ``--days``, a history of that many days ending
now, all real processes, each history in its own redis-server and data dir:

1. the simulator (``feeds.sim.Model``, ``--per-day`` incidents, 3 % repeats, 5 % reordered, as
   bench.analytics) is started that many days ago, so timestamps, deadlines (working days) and
   incident ids are those of real dates and nothing needs shifting; steps later than now are
   never generated. It runs one local day at a time, and each day is written before the next
   is made (60 days at 8,000 a day are ~2.5 M steps: never all in memory at once);
2. each step is appended to the events log as the Bus stores it (``Bus.keys``, field ``m``,
   ``feeds.schema.encode``) with a pipelined XADD whose id is its arrival time:
   ``max(step ts, previous id)`` in ms, ``<ms>-<n>`` strictly increasing. The simulator emits
   in arrival order, so a reordered or repeated step keeps its place after the steps that
   overtook it, with an id at most its arrival time (archiving and retention go by id);
3. after each complete day, the history job's archive and trim run on it
   (``dashboard.cold.keeper.archive_days`` and ``trim_log``, in this process), as a server
   would have run them each night (so the archive has a summaries run per day, as in
   operation); at the end ``onemap archive`` runs as a subprocess on the same Redis, prefix
   and data dir (nothing left to copy but what arrived since, if anything). Then the
   log is capped at ``--events-maxlen`` (XTRIM MAXLEN ~), which the Bus does at every publish
   of a live feed and this raw writer does not (the default cap, 2,000,000, holds ~48 days of
   8,000 incidents: the longest log a server could have before ONEMAP_LOG_DAYS);
4. ``onemap serve`` is started with no checkpoint (folds the log), left until its post-fold
   checkpoint is written (the one at SIGTERM may not be done within its 6 s on a big state),
   and stopped (SIGTERM writes another); then **restarted**: the
   measured start (time to ready from process start, RSS when ready, ``/healthz`` incidents
   and ``history``). On the restarted server, a duty officer signed in through the real form asks
   ``duty_rows`` over the socket, as the duty desk does (bench.duty_query's QUERIES, first
   block of 100 rows with map points), first once then ``--repeat`` times each: the round
   trip is what the desk waits for; the reply's ``ms`` is the server's share.

Targets (the issue's): longest ÷ shortest history ≤ 1.2× in time to ready and in RSS; the
longest restart ≤ 3 s and ≤ 600 MB (≤ 1 GB at 40,000 incidents a day); duty search p95 ≤ 300 ms.

The 5× volume case (40,000 incidents a day) runs with fewer days: ``--days 2,10``. With the
default ONEMAP_LOG_DAYS=7 and ONEMAP_HOT_DAYS=3 only the last 7 days reach the server's memory
(the older ones are in the archive only), so 10 days already hold a full log window and three
days beyond it; 60 days at 5× would be ~13 M steps (~7 GB of Redis before the trim, ~20 min to
simulate, write and archive) to measure the same working set. ONEMAP_* variables set in the shell
reach every process this bench starts.

**--compressed**: "a 60-day run keeps the live server's RSS flat after day 3", in-process. A
live server takes its time from the wall clock (it refuses steps stamped > 5 min ahead), so 60
days cannot be pushed through a real one in minutes. Instead a ``dashboard.state.State`` folds
the same simulated days one by one (``apply_event``, as the live bridge does), each day also
written to a real redis-server as above, with the bridge's clock-driven work (detectors, and
pruning the analytics' old days) every 10 simulated minutes; after each day, ``_end_of_day``
runs the server's history job with that midnight as ``now`` (archive, trim, evict). The RSS
of this process and the incidents in memory are printed per day (after gc.collect()); PASS
when every day after day 3 stays within +15 % of day 3's RSS. The history ends at today's
local midnight.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import socketio

from bench.common import (
    PY,
    ROOT,
    banner,
    dashboard_server,
    percentile,
    rss_mb,
    run_in_tmp,
    say,
    server_rss_mb,
    table,
)
from bench.duty_query import QUERIES
from dashboard.access.store import UserStore
from dashboard.cold import arrow_on_system_allocator
from dashboard.cold.keeper import archive_days, trim_log
from dashboard.cold.store import ColdStore
from dashboard.config import Settings
from dashboard.live.livestate import LiveState
from dashboard.state import State
from feeds.archive import Archive, archive_log
from feeds.bus import EVENTS, Bus
from feeds.geo import Geography, load_geography
from feeds.redis_server import start_redis
from feeds.schema import CHINA_TZ, EventMessage, encode
from feeds.sim import Model, SimConfig

PREFIX = "history"
DUTY_USER, PASSWORD, CITY = "bench-duty", "correct horse battery", "330200"
READY_TIMEOUT_S = 900  # a first start folds the whole log: minutes on the code before issue 16
DAY = timedelta(days=1)
TICK_MS = 10 * 60 * 1000  # --compressed: the bridge's clock-driven work, in simulated time


# -- the history --------------------------------------------------------------------------------
def simulated_days(
    geo: Geography, days: int, per_day: float, end: datetime, seed: int = 1
) -> Iterator[tuple[datetime, list[EventMessage]]]:
    """``days`` days of simulated steps up to ``end``, one local day at a time: (the day's end,
    its steps in arrival order)."""
    config = SimConfig(
        seed=seed, events_per_day=per_day, workers=10_000, duplicate_rate=0.03, reorder_rate=0.05
    )
    start = end - days * DAY
    model = Model(geo, config, start, positions=False)
    day_end = _midnight(start) + DAY
    while True:
        until = min(day_end, end)
        steps = [m for m in model.messages(until) if isinstance(m, EventMessage)]
        yield until, steps
        if until >= end:
            return
        day_end += DAY


class LogWriter:
    """Appends steps to the events log as the Bus stores them, with their arrival times as ids."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.ms, self.n = 0, -1

    def write(self, steps: list[EventMessage], batch: int = 10_000) -> list[str]:
        client, key = self.bus.client, self.bus.keys[EVENTS]
        pipe = client.pipeline(transaction=False)
        sids = []
        for number, step in enumerate(steps, start=1):
            ms = max(int(step.ts.timestamp() * 1000), self.ms)
            self.n = self.n + 1 if ms == self.ms else 0
            self.ms = ms
            sid = f"{ms}-{self.n}"
            pipe.xadd(key, {"m": encode(step)}, id=sid)
            sids.append(sid)
            if number % batch == 0:
                pipe.execute()
        pipe.hincrby(self.bus.keys["stats"], "accepted:event", len(steps))
        pipe.execute()
        return sids


def _build(
    geo: Geography, bus: Bus, days: int, args: argparse.Namespace, env: dict[str, str]
) -> dict[str, Any]:
    """Simulate and write ``days`` days ending now, archive them, cap the log; what it took."""
    writer, steps, incidents = LogWriter(bus), 0, set()
    simulate_s = write_s = daily_s = 0.0
    archive = Archive(Path(env["ONEMAP_DATA_DIR"]) / "archive")
    now = datetime.now(CHINA_TZ)
    clock = time.perf_counter()
    for end, day in simulated_days(geo, days, args.per_day, now):
        simulated = time.perf_counter()
        simulate_s += simulated - clock
        writer.write(day)
        written = time.perf_counter()
        write_s += written - simulated
        if end < now:  # each complete day archived after it, as the server's daily job does
            archive_days(bus, archive, end)  # (so the archive has one summary part a day)
            trim_log(bus, archive, now, Settings.from_env(env).log_days)
        clock = time.perf_counter()
        daily_s += clock - written
        steps += len(day)
        incidents.update(m.id for m in day)
    say(
        f"  {steps:,} steps of {len(incidents):,} incidents: simulated in {simulate_s:.0f} s, "
        f"written in {write_s:.0f} s, archived day by day in {daily_s:.0f} s; onemap archive"
    )
    started = time.perf_counter()
    archived = subprocess.run(
        [PY, "-m", "onemap.cli", "archive"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    archive_s = time.perf_counter() - started
    if archived.returncode != 0:
        raise RuntimeError(f"onemap archive failed: {archived.stderr[-2000:]}")
    key = bus.keys[EVENTS]
    before_cap = bus.client.xlen(key)
    if args.events_maxlen:
        bus.client.xtrim(key, maxlen=args.events_maxlen, approximate=True)
    return {
        "days": days,
        "per_day": args.per_day,
        "steps": steps,
        "incidents": len(incidents),
        "simulate_s": simulate_s,
        "write_s": write_s,
        "archive_s": archive_s,
        "daily_archive_s": daily_s,
        "archive_log": [line[:200] for line in archived.stderr.splitlines() if "archiv" in line],
        "log_after_archive": before_cap,
        "log_steps": bus.client.xlen(key),
    }


# -- the servers ----------------------------------------------------------------------------------
def _start(
    redis_url: str, root: Path, data: Path, wait_checkpoint: bool = False, repeat: int = 0
) -> dict[str, Any]:
    """Start a server, time it to ready, note its RSS and health; optionally wait for its
    first checkpoint, or time duty queries; stop it (SIGTERM)."""
    started = time.perf_counter()
    with dashboard_server(
        redis_url, PREFIX, root, READY_TIMEOUT_S, ONEMAP_DATA_DIR=str(data), ONEMAP_LOG_LEVEL="INFO"
    ) as server:
        ready_s = time.perf_counter() - started
        health = server.health()
        rss = server_rss_mb(server.process.pid)
        if wait_checkpoint:
            _wait_for_line(server.log_path, "checkpoint written", timeout=600)
        duty = _duty(server.url, repeat) if repeat else None
        log_path = server.log_path
    lines = [
        line[:200]
        for line in log_path.read_text(errors="replace").splitlines()
        if re.search(r"checkpoint|rebuilt|archiv|evict|cold", line)
    ]
    return {
        "ready_s": ready_s,
        "rss_mb": rss,
        "incidents": health["incidents"],
        "history": health.get("history"),
        "duty": duty,
        "log": lines,
    }


def _wait_for_line(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        time.sleep(0.5)
    say(f"  !! no '{text}' in the server's log within {timeout:.0f} s")


def _sign_in(url: str, name: str, password: str) -> str:
    """Through the real sign-in form (CSRF token included): the session cookie to send."""
    opener = urllib.request.build_opener(_NoRedirect)
    with opener.open(f"{url}/login", timeout=30) as form:
        body = form.read().decode()
        cookie = _cookie(form.headers.get_all("Set-Cookie"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', body)
    if token is None:
        raise RuntimeError("no CSRF token on /login")
    fields = {"csrf_token": token.group(1), "username": name, "password": password}
    post = urllib.request.Request(
        f"{url}/login", urllib.parse.urlencode(fields).encode(), headers={"Cookie": cookie}
    )
    try:
        opener.open(post, timeout=30)
    except urllib.error.HTTPError as answer:  # the 302 that signs in lands here, unfollowed
        if answer.code == 302:
            return _cookie(answer.headers.get_all("Set-Cookie")) or cookie
        raise RuntimeError(f"sign-in refused: HTTP {answer.code}") from None
    raise RuntimeError("sign-in refused: no redirect")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _cookie(headers: list[str] | None) -> str:
    return next((c.split(";", 1)[0] for c in headers or [] if c.startswith("onemap")), "")


def _duty(url: str, repeat: int) -> dict[str, Any]:
    """Each duty query over the socket: once (first), then ``repeat`` times; times in ms."""
    client = socketio.Client(reconnection=False)
    client.connect(
        url, headers={"Cookie": _sign_in(url, DUTY_USER, PASSWORD)}, transports=["websocket"]
    )
    queries = []
    try:
        for name, ask in QUERIES:
            asked = {"start": 0, "end": 100, "points": True, **ask}
            calls = [_call(client, asked) for _ in range(repeat + 1)]
            first, rest = calls[0], calls[1:]
            queries.append(
                {
                    "query": name,
                    "total": first[2],
                    "first_ms": first[0],
                    "round_trip_ms": [c[0] for c in rest],
                    "server_ms": [c[1] for c in rest],
                }
            )
    finally:
        client.disconnect()
    every = [ms for q in queries for ms in q["round_trip_ms"]]
    return {"queries": queries, "p95_ms": percentile(every, 95), "p50_ms": percentile(every, 50)}


def _call(client: socketio.Client, asked: dict[str, Any]) -> tuple[float, float, int]:
    started = time.perf_counter()
    reply = client.call("duty_rows", asked, timeout=300)
    round_trip = (time.perf_counter() - started) * 1000
    if not reply.get("ok"):
        raise RuntimeError(f"duty_rows refused: {reply!r}")
    return round_trip, float(reply["ms"]), int(reply["total"])


# -- the restart run ------------------------------------------------------------------------------
def _history(geo: Geography, days: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    root = tmp / f"days-{days}"
    data = root / "data"
    root.mkdir(parents=True)
    with start_redis() as redis_server:
        env = {
            **os.environ,
            "ONEMAP_REDIS_URL": redis_server.url,
            "ONEMAP_PREFIX": PREFIX,
            "ONEMAP_DATA_DIR": str(data),
            "ONEMAP_LOG_LEVEL": "INFO",
        }
        bus = Bus(redis_server.client(), prefix=PREFIX)
        say(f"{days} days of {args.per_day:,.0f} incidents a day")
        built = _build(geo, bus, days, args, env)
        UserStore(redis_server.client(), PREFIX).add_user(DUTY_USER, "duty", CITY, PASSWORD)
        say(
            f"  log {built['log_steps']:,} steps after the archive and cap "
            f"(archive took {built['archive_s']:.0f} s); first start (no checkpoint)"
        )
        first = _start(redis_server.url, root, data, wait_checkpoint=True)
        checkpoint = data / "checkpoints" / f"{PREFIX}.checkpoint"
        size = checkpoint.stat().st_size / 2**20 if checkpoint.exists() else float("nan")
        say(f"  first start ready in {first['ready_s']:.1f} s; restart (measured) + duty queries")
        restart = _start(redis_server.url, root, data, repeat=args.repeat)
        used = redis_server.client().info("memory")["used_memory"] / 2**20
    say(
        f"  restart ready in {restart['ready_s']:.2f} s, RSS {restart['rss_mb']:.0f} MB, "
        f"{restart['incidents']:,} incidents in memory"
    )
    return {**built, "checkpoint_mb": size, "redis_mb": used, "first": first, "restart": restart}


def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    geo = load_geography()
    runs = [_history(geo, days, args, tmp) for days in sorted(args.days)]
    short, long = runs[0], runs[-1]
    targets = _targets(short, long, args.per_day)
    return {"mode": "restart", "per_day": args.per_day, "runs": runs, "targets": targets}


def _targets(short: dict[str, Any], long: dict[str, Any], per_day: float) -> list[list[Any]]:
    a, b = short["restart"], long["restart"]
    n, m = long["days"], short["days"]
    rss_cap = 1024 if per_day >= 40_000 else 600
    found: list[list[Any]] = []
    if n != m:
        found += [
            [f"restart time, {n} d ÷ {m} d", "≤ 1.2×", b["ready_s"] / a["ready_s"], 1.2],
            [f"restart RSS, {n} d ÷ {m} d", "≤ 1.2×", b["rss_mb"] / a["rss_mb"], 1.2],
        ]
    found += [
        [f"{n}-day restart to ready (s)", "≤ 3 s", b["ready_s"], 3.0],
        [f"{n}-day RSS when ready (MB)", f"≤ {rss_cap} MB", b["rss_mb"], rss_cap],
    ]
    if b["duty"]:
        found.append([f"duty search p95 over {n} days (ms)", "≤ 300 ms", b["duty"]["p95_ms"], 300])
    return [
        [what, goal, value, "PASS" if value <= cap else "FAIL"] for what, goal, value, cap in found
    ]


def _report(result: dict[str, Any]) -> None:
    if result["mode"] == "compressed":
        _report_compressed(result)
        return
    rows = [
        [
            f"{r['days']} d",
            r["steps"],
            r["incidents"],
            r["log_steps"],
            f"{r['simulate_s']:.0f}/{r['write_s']:.0f}/{r['archive_s']:.0f}",
            r["first"]["ready_s"],
            r["checkpoint_mb"],
            r["restart"]["ready_s"],
            r["restart"]["rss_mb"],
            r["restart"]["incidents"],
            r["redis_mb"],
        ]
        for r in result["runs"]
    ]
    header = [
        "history",
        "steps",
        "incidents",
        "log steps",
        "sim/write/archive s",
        "first s",
        "ckpt MB",
        "restart s",
        "RSS MB",
        "in memory",
        "redis MB",
    ]
    print(table(rows, header))
    for r in result["runs"]:
        if r["restart"]["history"] is not None:
            print(f"  {r['days']} d: history {r['restart']['history']}")
        for line in r["archive_log"]:
            print(f"  {r['days']} d archive: {line}")
        for name in ("first", "restart"):
            for line in r[name]["log"]:
                print(f"  {r['days']} d {name}: {line}")
    for r in result["runs"]:
        duty = r["restart"]["duty"]
        if not duty:
            continue
        print(
            f"\nduty_rows over the socket, {r['days']} days ({r['restart']['incidents']:,} "
            "incidents in memory):"
        )
        rows = [
            [
                q["query"],
                q["total"],
                q["first_ms"],
                statistics.median(q["round_trip_ms"]),
                percentile(q["round_trip_ms"], 95),
                statistics.median(q["server_ms"]),
            ]
            for q in duty["queries"]
        ]
        print(table(rows, ["query", "matches", "first ms", "p50 ms", "p95 ms", "server p50 ms"]))
        print(f"all queries: p50 {duty['p50_ms']:.0f} ms, p95 {duty['p95_ms']:.0f} ms")
    print()
    print(table(result["targets"], ["target", "goal", "measured", "verdict"]))


# -- compressed, in-process -----------------------------------------------------------------------
def _end_of_day(
    state: State, archive: Archive, bus: Bus, now: datetime, redis_url: str
) -> dict[str, Any]:
    """ADAPTER to the server's history job at ``now``; what it did, for the per-day line.

    The job every server runs each ONEMAP_ARCHIVE_EVERY_S (``dashboard.cold.keeper``): archive
    the log's complete days, trim the log to ONEMAP_LOG_DAYS (never past the archive), evict
    the closed incidents older than ONEMAP_HOT_DAYS whose steps are all archived. On code
    without it (before issue 16) this only archives: nothing trimmed, nothing evicted.
    """
    try:
        from dashboard.cold.keeper import ArchiveProcess, Keeper
    except ImportError:
        return {"archived": archive_log(bus, archive, before=now).steps}
    settings = Settings.from_env()
    # the archive step in a child process, as the server runs it (dashboard.live.hub)
    child = ArchiveProcess(bus, archive, redis_url, bus.prefix, str(archive.root.parent))
    keeper = Keeper(LiveState(state), bus, archive, 0, settings.hot_days, settings.log_days, child)
    keeper.run_once(now)
    h = keeper.health
    return {"archived": h.archived, "trimmed": h.trimmed, "evicted": h.evicted, "errors": h.errors}


def _live_day(state: State, sids: list[str], steps: list[EventMessage]) -> None:
    """Fold a day's steps one by one, as the live bridge applies them, with the bridge's
    clock-driven work (``metrics.tick``: detectors, and pruning the analytics' old days) on
    the simulated clock every ``TICK_MS`` (the bridge runs it every second of the wall clock).
    Without it the analytics' day buckets are never pruned and RSS grows ~15 MB a day."""
    due = 0
    for sid, step in zip(sids, steps, strict=True):
        state.apply_event(sid, step)
        ms = int(sid.split("-", 1)[0])
        if ms >= due:
            state.metrics.tick(datetime.fromtimestamp(ms / 1000, UTC))
            due = ms + TICK_MS


def _compressed(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    geo = load_geography()
    days = max(args.days)
    end = _midnight(datetime.now(CHINA_TZ))
    state, archive, rows = State(geo), Archive(tmp / "archive"), []
    state.recall = ColdStore(archive).recall_or_none  # as the server's state
    arrow_on_system_allocator()  # as the server does (onemap.app.create_app)
    with start_redis() as redis_server:
        bus = Bus(redis_server.client(), prefix=PREFIX)
        writer = LogWriter(bus)
        for number, (now, steps) in enumerate(
            simulated_days(geo, days, args.per_day, end), start=1
        ):
            count = len(steps)
            started = time.perf_counter()
            _live_day(state, writer.write(steps), steps)
            fold_s = time.perf_counter() - started
            done = _end_of_day(state, archive, bus, now, redis_server.url)
            job_s = time.perf_counter() - started - fold_s
            del steps  # the day's messages are the bench's, not the server's: not measured
            gc.collect()
            row = {
                "day": number,
                "date": (now - DAY).date().isoformat(),
                "steps": count,
                "fold_s": fold_s,
                "job_s": job_s,
                "incidents": len(state.incidents),
                "log_steps": bus.client.xlen(bus.keys[EVENTS]),
                "rss_mb": rss_mb(os.getpid()),
                "job": done,
            }
            rows.append(row)
            say(
                f"day {number:2d} {row['date']}: {count:,} steps folded in {fold_s:.1f} s, "
                f"job {job_s:.1f} s {done}; {row['incidents']:,} incidents in memory, "
                f"log {row['log_steps']:,}, RSS {row['rss_mb']:.0f} MB"
            )
    verdict, peak = None, None
    if len(rows) > 3:
        base, peak = rows[2]["rss_mb"], max(r["rss_mb"] for r in rows[3:])
        verdict = {
            "day3_mb": base,
            "peak_after_mb": peak,
            "ratio": peak / base,
            "pass": peak <= 1.15 * base,
        }
    return {
        "mode": "compressed",
        "days": days,
        "per_day": args.per_day,
        "rows": rows,
        "verdict": verdict,
    }


def _report_compressed(result: dict[str, Any]) -> None:
    rows = [
        [
            r["day"],
            r["date"],
            r["steps"],
            r["fold_s"],
            r["job_s"],
            r["incidents"],
            r["log_steps"],
            r["rss_mb"],
        ]
        for r in result["rows"]
    ]
    print(table(rows, ["day", "date", "steps", "fold s", "job s", "in memory", "log", "RSS MB"]))
    v = result["verdict"]
    if v is None:
        print("fewer than 4 days: no verdict")
        return
    print(
        f"RSS after day 3: peak {v['peak_after_mb']:.0f} MB vs day 3's {v['day3_mb']:.0f} MB "
        f"= {v['ratio']:.2f}× (target ≤ 1.15×): {'PASS' if v['pass'] else 'FAIL'}"
    )


def _midnight(moment: datetime) -> datetime:
    local = moment.astimezone(CHINA_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__)
    parser.add_argument("--days", default="2,60", help="history lengths, comma-separated")
    parser.add_argument("--per-day", type=float, default=8000.0, help="simulated incidents")
    parser.add_argument("--repeat", type=int, default=8, help="duty queries: times each")
    parser.add_argument(
        "--events-maxlen",
        type=int,
        default=Settings().events_maxlen,
        help="cap of the log after the archive, as a live feed's publishes keep it (0: none)",
    )
    parser.add_argument("--compressed", action="store_true", help="in-process, day by day")
    parser.add_argument("--json", default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    args.days = [int(d) for d in args.days.split(",")]
    if args.compressed:
        banner("bench.history --compressed: RSS day by day, in-process")
        return run_in_tmp("history", args, _compressed, _report, keep=args.keep)
    banner("bench.history: restart and duty search against the length of history")
    return run_in_tmp("history", args, _run, _report, keep=args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
