"""Keeping history bounded: archive the log's complete days, trim the log, let memory go.

One job, run by every server process every ``ONEMAP_ARCHIVE_EVERY_S`` (and by ``onemap
archive``), in this order, each step safe to repeat:

1. **archive** (one process at a time, by a lock in Redis; the server runs it in a child,
   ``onemap archive``: ``ArchiveProcess``): every log step that arrived before local midnight
   goes to the Parquet archive (``feeds.archive``), and the incidents they belong to are
   summarised there (``summaries``) before the archive's watermark moves;
2. **trim** the hot log to its last ``ONEMAP_LOG_DAYS`` days, never past the watermark: the
   archive holds every step before the log drops it;
3. **evict**: incidents closed before the local midnight ``ONEMAP_HOT_DAYS - 1`` days ago, all
   of whose steps are archived, leave memory (``State.evict``), a slice at a time under the
   state's lock. They are searched (``ColdStore.search``) and opened (``ColdStore.recall``) from
   the archive, and come back whole with a new step.

docs/metrics.md ("What lives where") says the same for users.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dashboard.cold.summaries import due_ids, open_ids, write_summaries
from dashboard.live.livestate import LiveState
from dashboard.state import sid_key
from feeds.archive import Archive, ArchiveRun, archive_log
from feeds.bus import EVENTS, Bus
from feeds.schema import CHINA_TZ

log = logging.getLogger(__name__)

LOCK_S = 3600  # an archiving process that died frees the lock after this
SLICE = 2000  # incidents let go per hold of the state's lock


@dataclass
class KeeperHealth:
    runs: int = 0
    errors: int = 0
    archived: int = 0  # steps written by this process
    trimmed: int = 0  # log entries dropped by this process
    evicted: int = 0  # incidents let go
    last_run: float | None = None  # monotonic
    last_error: str = ""

    def report(self, watermark: str) -> dict[str, Any]:
        age = None if self.last_run is None else round(time.monotonic() - self.last_run, 1)
        return {
            "watermark": watermark,
            "runs": self.runs,
            "errors": self.errors,
            "archived": self.archived,
            "trimmed": self.trimmed,
            "evicted": self.evicted,
            "last_run_age_s": age,
            "last_error": self.last_error,
        }


def rebuild_ids(archive: Archive, now: datetime) -> set[str]:
    """What a rebuild takes from the archive when the log no longer reaches back to it: the
    open incidents, and the closed ones due since yesterday's midnight (the figures of the
    days a server shows: today's, and yesterday's at the same time)."""
    return open_ids(archive) | due_ids(archive, midnight(now, 1))


def midnight(now: datetime, days_back: int = 0) -> datetime:
    local = now.astimezone(CHINA_TZ) - timedelta(days=days_back)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def archive_days(bus: Bus, archive: Archive, before: datetime) -> ArchiveRun | None:
    """Step 1: the steps that arrived before ``before`` (the job: local midnight), under the
    archive lock (None: another process holds it)."""
    lock, token = f"{bus.prefix}:archive-lock", secrets.token_hex(8)
    if not bus.client.set(lock, token, nx=True, ex=LOCK_S):
        return None
    try:
        return archive_log(bus, archive, before, copied=_summariser(archive))
    finally:
        if bus.client.get(lock) in (token, token.encode()):
            bus.client.delete(lock)


Archiver = Callable[[datetime], "ArchiveRun | None"]  # step 1 for the job: before → the run


@dataclass(frozen=True)
class ArchiveProcess:
    """Step 1 in a child process (``onemap archive``), as the server runs it: copying a day of
    steps and summarising them is seconds of Python and Arrow work, and megabytes that a
    long-lived process keeps (its RSS grew from 530 to 950 MB over 25 compressed days with the
    job in-process; ``bench.history --compressed``); in a child both end with it, off the
    server's interpreter lock. Not started when the log has nothing new to archive."""

    bus: Bus
    archive: Archive
    redis_url: str
    prefix: str
    data_dir: str
    timeout_s: float = 3600

    def __call__(self, before: datetime) -> ArchiveRun | None:
        ms = int(before.timestamp() * 1000)
        if not self.bus.count_range(EVENTS, self.archive.watermark(), f"{ms - 1}", 1):
            return ArchiveRun(0, 0, (), self.archive.watermark())
        env = {
            **os.environ,
            "ONEMAP_REDIS_URL": self.redis_url,
            "ONEMAP_PREFIX": self.prefix,
            "ONEMAP_DATA_DIR": self.data_dir,
        }
        command = [sys.executable, "-m", "onemap.cli", "archive", "--json", "--no-trim"]
        command += ["--dir", str(self.archive.root), "--before", before.isoformat()]
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=self.timeout_s, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"onemap archive exited {done.returncode}: {done.stderr[-500:]}")
        said = json.loads(done.stdout.strip().splitlines()[-1])
        if said is None:  # another process held the lock
            return None
        return ArchiveRun(said["steps"], said["repeats"], (), said["watermark"])


def _summariser(archive: Archive) -> Callable[[set[str], str], None]:
    def summarise(ids: set[str], last: str) -> None:
        written = write_summaries(archive, ids, last)
        log.info("archive: %d incident(s) touched, %d closed summarised", len(ids), written)

    return summarise


def trim_log(bus: Bus, archive: Archive, now: datetime, log_days: int) -> int:
    """Step 2: drop log entries older than ``log_days`` days and archived."""
    watermark = archive.watermark()
    if watermark in ("0", "0-0"):
        return 0
    keep_from = f"{int((now - timedelta(days=log_days)).timestamp() * 1000)}-0"
    cut = min(keep_from, watermark, key=sid_key)  # the watermark's own entry stays
    return bus.trim_before(EVENTS, cut)


def evict(live: LiveState, archive: Archive, now: datetime, hot_days: int) -> int:
    """Step 3: let go of closed, archived incidents older than the hot days."""
    before = midnight(now, hot_days - 1)
    watermark = archive.watermark()
    with live.read() as state:
        incidents = list(state.incidents.values())
    candidates = [
        i.id
        for i in incidents
        if (latest := i.latest) is not None and latest.type == "closed" and latest.ts < before
    ]
    gone = 0
    for start in range(0, max(len(candidates), 1), SLICE):
        with live.lock:  # re-checked inside: a step may have arrived since the list was made
            gone += len(live.state.evict(before, watermark, candidates[start : start + SLICE]))
    return gone


class Keeper:
    def __init__(
        self,
        live: LiveState,
        bus: Bus,
        archive: Archive,
        every_s: float,
        hot_days: int,
        log_days: int,
        archiver: Archiver | None = None,
    ) -> None:
        self.live = live
        self.bus = bus
        self.archive = archive
        self.every_s = every_s
        self.hot_days = hot_days
        self.log_days = log_days
        # in this process unless told otherwise (the server runs it in a child: ArchiveProcess)
        self.archiver = archiver or (lambda before: archive_days(bus, archive, before))
        self.health = KeeperHealth()
        self._stop = threading.Event()

    def run(self) -> None:
        """Forever, once the state is ready; a failed round is logged and counted."""
        self.live.ready.wait()
        while not self._stop.is_set():
            self.run_once(datetime.now(CHINA_TZ))
            self._stop.wait(self.every_s)

    def after_rebuild(self, restored: bool = False) -> None:
        """Before the state is ready: open incidents whose every step the log has dropped come
        back whole from the archive (a rebuild with no checkpoint, on a log trimmed to its
        days), and what may leave memory leaves, so the first checkpoint and every page see
        the bounded set. Folded without a checkpoint (``restored`` False), the closed ones due
        since yesterday come back too: today's and yesterday's figures count them, and a
        checkpoint has them counted already. The archive's catch-up waits for ``run``."""
        now = datetime.now(CHINA_TZ)
        wanted = open_ids(self.archive) if restored else rebuild_ids(self.archive, now)
        back = self.live.state.bring_back(wanted)
        gone = evict(self.live, self.archive, now, self.hot_days)
        self.health.evicted += gone
        if back or gone:
            log.info(
                "rebuild: %d open incident(s) older than the log from the archive, "
                "%d closed incident(s) left memory",
                back,
                gone,
            )

    def run_once(self, now: datetime) -> None:
        h = self.health
        try:
            run = self.archiver(midnight(now))
            if run is not None:
                h.archived += run.steps
            h.trimmed += trim_log(self.bus, self.archive, now, self.log_days)
            gone = evict(self.live, self.archive, now, self.hot_days)
            h.evicted += gone
            if gone or (run is not None and run.steps):
                log.info(
                    "history: %d step(s) archived, %d incident(s) left memory, %d in memory",
                    run.steps if run else 0,
                    gone,
                    len(self.live.state.incidents),
                )
        except Exception as exc:  # the history job fails alone, never the server
            h.errors += 1
            h.last_error = f"{type(exc).__name__}: {exc}"[:300]
            log.exception("history job failed; it runs again in %s s", self.every_s)
        finally:
            h.runs += 1
            h.last_run = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
