"""Everything the notifier keeps in Redis, under ``Bus.keys["notify"]`` (``<prefix>:notify``).

| key | what |
|---|---|
| `:subs` | hash: subscription name → its JSON |
| `:sent:<sub>:<source>` | marker: this cause was queued for this subscription (8 days) |
| `:outbox` | stream of jobs, read by the consumer group `deliver` of every notifier |
| `:later` | sorted set: jobs waiting for a retry or the end of quiet hours, by due time |
| `:escalate` | sorted set: the next step of an alert, by when it is due unless acknowledged |
| `:alert:<chain>` | hash: an alert sent (source, title, incident), `acked_at`, `acked_by` |
| `:incident:<id>` | set of the chains about an incident (the desk acknowledges by incident) |
| `:deadletter` | stream: jobs that failed every try, with the last error |
| `:log` | stream: what happened to each job (sent, retry, held, dead, acked), capped |
| `:cursor` | hash: stream → the last id the watchers turned into alerts |

The marker and the job are written by one script, so a cause is queued once per subscription
whatever number of notifiers saw it, and never marked without being queued. Moving due jobs
from the sorted sets into the outbox is one script too: two notifiers never both move one.
"""

from __future__ import annotations

import time

import redis
from redis.typing import EncodableT, FieldT

from dashboard.notify.model import Job, Subscription, job_decoder, job_encoder, sub_decoder
from feeds.bus import Bus
from feeds.log_reader import as_text, entries_of, stream_replies

MARKER_TTL_S = 8 * 86_400  # longer than the log's days: a cause is never told twice
OUTBOX_MAXLEN = 100_000
LOG_MAXLEN = 100_000
GROUP = "deliver"

# KEYS: marker, outbox; ARGV: ttl, job, maxlen
_QUEUE_ONCE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return false end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'j', ARGV[2])
"""
# KEYS: later, outbox; ARGV: now, count, maxlen
_MOVE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, job in ipairs(due) do
  redis.call('ZREM', KEYS[1], job)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'j', job)
end
return #due
"""
# KEYS: escalate, outbox; ARGV: now, count, marker ttl, maxlen
# Each member is {"a": alert key, "m": marker key, "j": the next job}: queued unless the
# alert was acknowledged meanwhile, and once only (the marker), as a first message is.
_ESCALATE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local queued = 0
for _, item in ipairs(due) do
  redis.call('ZREM', KEYS[1], item)
  local e = cjson.decode(item)
  if redis.call('HEXISTS', e.a, 'acked_at') == 0 then
    if redis.call('SET', e.m, '1', 'NX', 'EX', ARGV[3]) then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'j', e.j)
      queued = queued + 1
    end
  end
end
return queued
"""


class NotifyStore:
    def __init__(self, bus: Bus) -> None:
        self.client: redis.Redis = bus.client
        self.base = bus.keys["notify"]
        self._queue_once = self.client.register_script(_QUEUE_ONCE)
        self._move_due = self.client.register_script(_MOVE_DUE)
        self._escalate_due = self.client.register_script(_ESCALATE_DUE)

    def key(self, *parts: str) -> str:
        return ":".join((self.base, *parts))

    # -- subscriptions ---------------------------------------------------------------------
    def put(self, sub: Subscription) -> None:
        self.client.hset(self.key("subs"), sub.name, job_encoder.encode(sub))

    def remove(self, name: str) -> bool:
        return bool(self.client.hdel(self.key("subs"), name))

    def subscriptions(self) -> list[Subscription]:
        raw = self.client.hgetall(self.key("subs"))
        return sorted((sub_decoder.decode(v) for v in raw.values()), key=lambda s: s.name)

    def subscription(self, name: str) -> Subscription | None:
        raw = self.client.hget(self.key("subs"), name)
        return sub_decoder.decode(raw) if raw else None

    # -- queueing --------------------------------------------------------------------------
    def queue_once(self, job: Job) -> bool:
        """Queue ``job`` unless its cause was queued for its subscription before."""
        marker = self.key("sent", job.sub, job.alert.source)
        args: list[EncodableT] = [MARKER_TTL_S, job_encoder.encode(job), OUTBOX_MAXLEN]
        return self._queue_once(keys=[marker, self.key("outbox")], args=args) is not None

    def later(self, job: Job, due: float) -> None:
        self.client.zadd(self.key("later"), {job_encoder.encode(job): due})

    def move_due(self, now: float, count: int = 100) -> int:
        keys = [self.key("later"), self.key("outbox")]
        return int(self._move_due(keys=keys, args=[now, count, OUTBOX_MAXLEN]))

    def escalate_later(self, job: Job, due: float) -> None:
        """Queue ``job`` (the next step) at ``due`` unless its alert is acknowledged by then."""
        member = job_encoder.encode(
            {
                "a": self.key("alert", job.chain),
                # its own marker: told once per step of this chain, so a loop ends
                "m": self.key("sent", job.sub, job.alert.source, job.chain),
                "j": job_encoder.encode(job).decode(),
            }
        )
        self.client.zadd(self.key("escalate"), {member: due})

    def escalate_due(self, now: float, count: int = 100) -> int:
        keys = [self.key("escalate"), self.key("outbox")]
        return int(self._escalate_due(keys=keys, args=[now, count, MARKER_TTL_S, OUTBOX_MAXLEN]))

    # -- the outbox, through a consumer group ----------------------------------------------
    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.key("outbox"), GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def take(self, consumer: str, block_ms: int, claim_ms: int) -> list[tuple[str, Job]]:
        """One job for ``consumer``: one another notifier took and left too long (it died),
        else a new one."""
        outbox = self.key("outbox")
        claimed = self.client.xautoclaim(outbox, GROUP, consumer, claim_ms, "0-0", count=1)
        rows = entries_of(claimed[1]) if claimed and len(claimed) > 1 else []
        if not rows:
            reply = self.client.xreadgroup(GROUP, consumer, {outbox: ">"}, 1, block_ms)
            rows = [row for _key, entries in stream_replies(reply) for row in entries_of(entries)]
        return [(sid, job_decoder.decode(fields[b"j"])) for sid, fields in rows if b"j" in fields]

    def done(self, sid: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.key("outbox"), GROUP, sid)
        pipe.xdel(self.key("outbox"), sid)
        pipe.execute()

    def dead(self, job: Job, error: str) -> None:
        fields: dict[FieldT, EncodableT] = {
            "j": job_encoder.encode(job),
            "error": error[:500],
            "at": str(time.time()),
        }
        self.client.xadd(self.key("deadletter"), fields, maxlen=OUTBOX_MAXLEN, approximate=True)

    def dead_letters(self, count: int = 20) -> list[tuple[Job, str]]:
        rows = entries_of(self.client.xrevrange(self.key("deadletter"), count=count))
        return [(job_decoder.decode(f[b"j"]), as_text(f[b"error"])) for _sid, f in rows]

    def note(self, job: Job, outcome: str, detail: str = "") -> None:
        """One line of what happened to a job (the notifier's own log, for people and tests)."""
        fields: dict[FieldT, EncodableT] = {
            "outcome": outcome,
            "sub": job.sub,
            "source": job.alert.source,
            "chain": job.chain,
            "step": str(job.step),
            "attempt": str(job.attempt),
            "detail": detail[:300],
        }
        self.client.xadd(self.key("log"), fields, maxlen=LOG_MAXLEN, approximate=True)

    def history(self, count: int = 1000) -> list[dict[str, str]]:
        rows = entries_of(self.client.xrange(self.key("log"), count=count))
        return [{as_text(k): as_text(v) for k, v in f.items()} for _sid, f in rows]

    # -- alerts and acknowledgement ------------------------------------------------------------
    def sent(self, job: Job) -> None:
        """Remember an alert that went out (the first message of its chain makes the record)."""
        key = self.key("alert", job.chain)
        pipe = self.client.pipeline(transaction=True)
        pipe.hsetnx(key, "sent_at", str(time.time()))
        record: dict[FieldT, EncodableT] = {
            "source": job.alert.source,
            "root": job.root or job.sub,
            "area": job.alert.area,
            "title": job.alert.title[:200],
            "last": job.sub,
        }
        pipe.hset(key, mapping=record)
        pipe.expire(key, MARKER_TTL_S)
        if job.alert.incident:
            chains = self.key("incident", job.alert.incident)
            pipe.sadd(chains, job.chain)
            pipe.expire(chains, MARKER_TTL_S)
        pipe.execute()

    def alert(self, chain: str) -> dict[str, str]:
        raw = self.client.hgetall(self.key("alert", chain))
        return {as_text(k): as_text(v) for k, v in raw.items()}

    def acknowledge(self, chain: str, by: str) -> bool:
        """Mark an alert acknowledged (its escalation stops); False if no such alert was sent."""
        key = self.key("alert", chain)
        if not self.client.exists(key):
            return False
        self.client.hsetnx(key, "acked_by", by)
        self.client.hsetnx(key, "acked_at", str(time.time()))
        return True

    def acknowledge_incident(self, incident: str, by: str) -> int:
        chains = self.client.smembers(self.key("incident", incident))
        return sum(self.acknowledge(as_text(c), by) for c in chains)

    def acked(self, chain: str) -> bool:
        return bool(self.client.hexists(self.key("alert", chain), "acked_at"))

    # -- where the watchers are ----------------------------------------------------------------
    def cursor(self) -> dict[str, str]:
        raw = self.client.hgetall(self.key("cursor"))
        return {as_text(k): as_text(v) for k, v in raw.items()}

    def save_cursor(self, position: dict[str, str]) -> None:
        if position:
            mapping: dict[FieldT, EncodableT] = {k: v for k, v in position.items()}
            self.client.hset(self.key("cursor"), mapping=mapping)
