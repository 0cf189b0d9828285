"""Delivering jobs: one try at a time per worker thread, retries with exponential backoff,
dead-letter after the last try, quiet hours, and the next escalation step.

A worker takes one job from the outbox's consumer group, tries it once and acknowledges it
only after what follows is written (a retry in ``later``, a dead letter, an escalation): a
notifier that dies mid-try leaves the job pending, and another notifier (or itself, restarted)
claims it once it has been idle longer than a try can last. So a job is tried at least once;
a receiver may see one twice after a crash, with the same ``X-OneMap-Delivery``. A try never
holds anything but its own worker: a receiver that never answers costs one worker its timeout
per try, then its dead letter, while the other workers go on.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from msgspec.structs import replace

from dashboard.notify.ack import ack_url
from dashboard.notify.channels import build, send
from dashboard.notify.model import MAX_STEPS, Job, Subscription, quiet_until, urgent
from dashboard.notify.store import NotifyStore
from feeds.outage import REDIS_ERRORS, Outage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tuning:
    tries: int = 5  # tries before the dead letter
    backoff_s: float = 5.0  # the first retry's delay; doubled each time
    backoff_max_s: float = 600.0
    timeout_s: float = 10.0  # one try's HTTP timeout
    minute_s: float = 60.0  # seconds in a subscription's "minute" (escalate_after)
    link_hours: float = 72.0  # a signed acknowledgement link works this long
    base_url: str = ""  # where links point (the dashboard's public URL)
    workers: int = 4

    @property
    def claim_ms(self) -> int:
        """A pending job idle this long belongs to a notifier that died: take it over."""
        return int((2 * self.timeout_s + 30) * 1000)

    def backoff(self, tries_made: int) -> float:
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** (tries_made - 1)))


class Deliverer:
    def __init__(self, store: NotifyStore, tuning: Tuning, link_key: bytes) -> None:
        self.store = store
        self.tuning = tuning
        self.link_key = link_key

    def work(self, consumer: str, stop: threading.Event) -> None:
        """One worker thread: take, try, repeat until ``stop``."""
        outage = Outage(log, f"notifier {consumer}", stop=stop)
        while not stop.is_set():
            try:
                jobs = self.store.take(consumer, block_ms=500, claim_ms=self.tuning.claim_ms)
                for sid, job in jobs:
                    self.handle(sid, job)
            except REDIS_ERRORS as exc:  # the job stays pending and is taken again
                outage.failed(exc)
                continue
            except Exception:  # a bug meeting one job must not end the worker
                log.exception("notifier worker %s: a job failed", consumer)
                stop.wait(1.0)
                continue
            outage.ok()

    def tick(self, now: float | None = None) -> int:
        """Move due retries, held messages and escalations into the outbox."""
        now = time.time() if now is None else now
        return self.store.move_due(now) + self.store.escalate_due(now)

    def handle(self, sid: str, job: Job, now: float | None = None) -> str:
        """Try ``job`` once; returns the outcome (also written to the notifier's log)."""
        now = time.time() if now is None else now
        outcome = self._outcome(job, now)
        self.store.done(sid)
        return outcome

    def _outcome(self, job: Job, now: float) -> str:
        store, tuning = self.store, self.tuning
        sub = store.subscription(job.sub)
        if sub is None:
            return self._noted(job, "dropped", "no such subscription")
        if job.step and store.acked(job.chain):
            return self._noted(job, "acked", "acknowledged before this step")
        held = None if urgent(job) else quiet_until(sub.quiet, datetime.fromtimestamp(now, UTC))
        if held is not None:
            store.later(job, held.timestamp())
            return self._noted(job, "held", f"quiet hours until {held.isoformat()}")
        link = ""
        if tuning.base_url:
            link = ack_url(tuning.base_url, self.link_key, job.chain, tuning.link_hours, now)
        error = send(build(sub, job, link, now), sub.channel, tuning.timeout_s)
        tried = replace(job, attempt=job.attempt + 1)
        if error is None:
            store.sent(tried)
            self._escalate(sub, tried, now)
            return self._noted(tried, "sent")
        if tried.attempt >= tuning.tries:
            store.dead(tried, error)
            self._escalate(sub, tried, now)  # nobody was told: the next one must be
            return self._noted(tried, "dead", error)
        store.later(tried, now + tuning.backoff(tried.attempt))
        return self._noted(tried, "retry", error)

    def _escalate(self, sub: Subscription, job: Job, now: float) -> None:
        if not sub.escalate_after or not sub.then or job.step >= MAX_STEPS:
            return
        step = Job(job.alert, sub.then, job.chain, step=job.step + 1, root=job.root or job.sub)
        self.store.escalate_later(step, now + sub.escalate_after * self.tuning.minute_s)

    def _noted(self, job: Job, outcome: str, detail: str = "") -> str:
        self.store.note(job, outcome, detail)
        level = logging.WARNING if outcome in ("dead", "retry") else logging.INFO
        log.log(
            level,
            "%s %s to %s (step %d, try %d) %s",
            outcome,
            job.alert.source,
            job.sub,
            job.step,
            job.attempt,
            detail,
        )
        return outcome
