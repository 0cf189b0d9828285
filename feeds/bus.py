"""The only module that knows Redis key names: publish, dead-letter, replay and follow the feed.

Every accepted message is appended to a Stream (the durable, capped log) and announced on a
pub/sub channel by one Lua script, so the two can never disagree: no subscriber sees an
announcement whose log entry is missing, and no log entry goes unannounced. Worker positions
also overwrite a hash of latest positions so a newcomer can draw every worker at once.

``Bus`` writes and takes in here; reading the log back (``feeds.log_reader``) and keeping
refused messages (``feeds.deadletter``) are mixins of their own modules, re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date

import redis

from feeds.deadletter import DeadLetters
from feeds.geo import Geography
from feeds.log_reader import (
    ACTIONS,
    COUNT_RANGE,
    EVENTS,
    POSITIONS,
    WARNINGS,
    Entry,
    LogReader,
    as_bytes,
    as_text,
    decode_entry,
    entries_of,
    stream_replies,
)
from feeds.schema import (
    CHINA_TZ,
    DEFAULT_LIMITS,
    ActionMessage,
    EventMessage,
    Limits,
    Message,
    PositionMessage,
    Rejection,
    WarningMessage,
    decode_trusted,
    encode,
    validate,
)

log = logging.getLogger(__name__)

__all__ = [
    "ACTIONS", "ACTIONS_MAXLEN", "EVENTS", "POSITIONS", "VISITS_TTL_S", "WARNINGS",
    "WARNINGS_MAXLEN", "WARNING_MEMORY_S", "Bus", "DeadLetters", "Entry", "LogReader",
    "decode_entry",
]

# What a script takes as an argument (redis-py's EncodableT, less the buffer types we never use).
_Arg = bytes | str | int | float

# KEYS: stream, channel, stats[, latest-hash[, visits-hash]]
# ARGV: maxlen, payload, stats-field, stream-name[, hash-field[, visit, ts ms, visits ttl]]
# Append first: if that fails (say the key holds another type) the script stops before anything
# is announced. The announcement follows at once; bookkeeping after it cannot split the pair.
# An on-duty fix also keeps the earliest time of its (worker, grid) pair in the day's visits
# hash: the positions stream holds half an hour, and a restarted server needs the whole day.
_APPEND_AND_ANNOUNCE = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[2])
local note = '{"stream":"' .. ARGV[4] .. '","sid":"' .. id .. '","m":' .. ARGV[2] .. '}'
redis.call('PUBLISH', KEYS[2], note)
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
if KEYS[4] then redis.call('HSET', KEYS[4], ARGV[5], ARGV[2]) end
if KEYS[5] then
  local first = redis.call('HGET', KEYS[5], ARGV[6])
  if not first or tonumber(ARGV[7]) < tonumber(first) then
    redis.call('HSET', KEYS[5], ARGV[6], ARGV[7])
  end
  redis.call('EXPIRE', KEYS[5], ARGV[8])
end
return id
"""

# KEYS: warnings stream, warnings channel, seen-marker; ARGV: maxlen, payload, marker ttl (s)
# The marker makes publishing a warning idempotent: every server process detects the same
# warnings from the same log, and a restart detects them again; only the first gets through.
_PUBLISH_WARNING = """
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[3]) then return false end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[2])
redis.call('PUBLISH', KEYS[2], '{"stream":"warnings","sid":"' .. id .. '","m":' .. ARGV[2] .. '}')
return id
"""

# KEYS: accepted-marker, then the append's; ARGV: marker ttl (s), then the append's.
# The ingest API's append (``publish_once``): a producer's retry of a message accepted before
# gets that first stream id back and appends nothing. Marker and append in one script, so two
# retries racing each other still append once.
_APPEND_ONCE = """
local seen = redis.call('GET', KEYS[1])
if seen then return {seen, 0} end
local marker, ttl = table.remove(KEYS, 1), table.remove(ARGV, 1)
""" + _APPEND_AND_ANNOUNCE.replace(
    "return id", "redis.call('SET', marker, id, 'EX', ttl)\nreturn {id, 1}"
)
assert _APPEND_AND_ANNOUNCE.count("return id") == 1, "update _APPEND_ONCE"
# KEYS: marker, then the append's; ARGV: marker ttl (s), then the append's. An action only the
# first of several server processes may write (the end of a follow, which each of them sees).
_APPEND_ACTION_ONCE = (
    """
local marker, ttl = table.remove(KEYS, 1), table.remove(ARGV, 1)
if not redis.call('SET', marker, '1', 'NX', 'EX', ttl) then return false end
"""
    + _APPEND_AND_ANNOUNCE
)
POSITION_MEMORY_S = 600  # a position's marker: a retry comes within minutes; fixes are many

ACTIONS_MAXLEN = 1_000_000  # the audit of operators' work: months at any plausible rate
WARNINGS_MAXLEN = 100_000
WARNING_MEMORY_S = 8 * 86_400  # a warning id is remembered this long (the log holds days)
VISITS_TTL_S = 3 * 86_400  # a day's patrol visits: today's and yesterday's figures need them


class Bus(LogReader, DeadLetters):
    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "onemap",
        events_maxlen: int = 2_000_000,
        positions_maxlen: int = 1_000_000,
        deadletter_maxlen: int = 100_000,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.keys = {
            EVENTS: f"{prefix}:events",
            POSITIONS: f"{prefix}:positions",
            "channel": f"{prefix}:live",
            "workers": f"{prefix}:workers",
            "deadletter": f"{prefix}:deadletter",
            "stats": f"{prefix}:stats",
            "inbox": f"{prefix}:inbox",
            WARNINGS: f"{prefix}:warnings",
            "warnings_channel": f"{prefix}:warnings:live",
            ACTIONS: f"{prefix}:actions",
            "notify": f"{prefix}:notify",  # the notifier's keys (dashboard.notify.store)
        }
        self.maxlen = {EVENTS: events_maxlen, POSITIONS: positions_maxlen}
        self.deadletter_maxlen = deadletter_maxlen
        self._append = client.register_script(_APPEND_AND_ANNOUNCE)
        self._warn = client.register_script(_PUBLISH_WARNING)
        self._count = client.register_script(COUNT_RANGE)
        self._append_once = client.register_script(_APPEND_ONCE)
        self._act_once = client.register_script(_APPEND_ACTION_ONCE)

    # -- writing ---------------------------------------------------------------------------
    def publish(self, message: Message) -> str:
        return self.publish_many([message])[0]

    def publish_many(self, messages: Iterable[Message]) -> list[str]:
        """Append and announce each message; one round trip for the lot."""
        pipe = self.client.pipeline(transaction=False)
        count = 0
        for message in messages:
            keys, args = self._script_args(message)
            self._append(keys=keys, args=args, client=pipe)
            count += 1
        if not count:
            return []
        return [as_text(sid) for sid in pipe.execute()]

    def publish_once(self, messages: Iterable[Message], memory_s: int) -> list[tuple[str, bool]]:
        """``publish_many`` for the ingest API: (stream id, appended now) per message.

        A step already accepted through here (same id and seq, for ``memory_s`` seconds: at
        least the oldest ``ts`` validation lets in) is not appended again: its first stream id
        comes back with False. A position is remembered by worker and time, for at most
        ``POSITION_MEMORY_S``.
        """
        pipe = self.client.pipeline(transaction=False)
        count = 0
        for message in messages:
            keys, args = self._script_args(message)
            if isinstance(message, EventMessage):
                marker, ttl = f"{self.prefix}:accepted:{message.id}:{message.seq}", memory_s
            else:
                at = int(message.ts.timestamp() * 1000)
                marker = f"{self.prefix}:accepted-position:{message.worker}:{at}"
                ttl = min(memory_s, POSITION_MEMORY_S)
            self._append_once(keys=[marker, *keys], args=[ttl, *args], client=pipe)
            count += 1
        if not count:
            return []
        return [(as_text(sid), bool(fresh)) for sid, fresh in pipe.execute()]

    def _script_args(self, message: Message) -> tuple[list[str], list[_Arg]]:
        payload = encode(message)
        if isinstance(message, EventMessage):
            keys = [self.keys[EVENTS], self.keys["channel"], self.keys["stats"]]
            return keys, [self.maxlen[EVENTS], payload, "accepted:event", EVENTS]
        keys = [
            self.keys[POSITIONS],
            self.keys["channel"],
            self.keys["stats"],
            self.keys["workers"],
        ]
        args: list[_Arg] = [
            self.maxlen[POSITIONS], payload, "accepted:position", POSITIONS, message.worker
        ]
        if message.status != "offline":  # on duty: a patrol visit (docs/metrics.md)
            keys.append(self._visits_key(message.ts.astimezone(CHINA_TZ).date()))
            visit = f"{message.worker} {message.grid}"  # identifiers have no spaces
            args += [visit, int(message.ts.timestamp() * 1000), VISITS_TTL_S]
        return keys, args

    def _visits_key(self, day: date) -> str:
        return f"{self.prefix}:visits:{day.isoformat()}"

    def publish_warning(self, warning: WarningMessage) -> str | None:
        """Append and announce a warning; ``None`` if one with its id was published before."""
        return self.publish_warnings([warning])[0]

    def publish_warnings(self, warnings: list[WarningMessage]) -> list[str | None]:
        """``publish_warning`` for many in one round trip (a rebuild finds thousands at once)."""
        if not warnings:
            return []
        pipe = self.client.pipeline(transaction=False)
        for warning in warnings:
            keys = [
                self.keys[WARNINGS],
                self.keys["warnings_channel"],
                f"{self.prefix}:warned:{warning.id}",
            ]
            args: list[_Arg] = [WARNINGS_MAXLEN, encode(warning), WARNING_MEMORY_S]
            self._warn(keys=keys, args=args, client=pipe)
        return [as_text(sid) if sid else None for sid in pipe.execute()]

    def publish_action(self, action: ActionMessage) -> str:
        """Append an operator's action to the audited actions stream and announce it."""
        keys = [self.keys[ACTIONS], self.keys["channel"], self.keys["stats"]]
        args: list[_Arg] = [ACTIONS_MAXLEN, encode(action), f"actions:{action.verb}", ACTIONS]
        return as_text(self._append(keys=keys, args=args))

    def publish_action_once(self, action: ActionMessage, marker: str, memory_s: int) -> str | None:
        """``publish_action``, unless an action with this ``marker`` was published in the last
        ``memory_s`` s (by any process): then ``None``. Marker and append are one script."""
        marked = f"{self.prefix}:once:{marker}"
        keys = [marked, self.keys[ACTIONS], self.keys["channel"], self.keys["stats"]]
        payload = encode(action)
        args: list[_Arg] = [memory_s, ACTIONS_MAXLEN, payload, f"actions:{action.verb}", ACTIONS]
        sid = self._act_once(keys=keys, args=args)
        return as_text(sid) if sid else None

    # -- leases: "the tablet that leads a wall is still there" -------------------------------
    def renew_leases(self, ids: Iterable[str], ttl_s: int) -> None:
        """Each lease now lasts ``ttl_s`` more seconds (made if missing)."""
        pipe = self.client.pipeline(transaction=False)
        for lease in ids:
            pipe.set(f"{self.prefix}:lease:{lease}", "1", ex=ttl_s)
        pipe.execute()

    def leases_alive(self, ids: Iterable[str]) -> set[str]:
        """Those of ``ids`` whose lease has not lapsed."""
        ordered = list(ids)
        pipe = self.client.pipeline(transaction=False)
        for lease in ordered:
            pipe.exists(f"{self.prefix}:lease:{lease}")
        return {lease for lease, n in zip(ordered, pipe.execute(), strict=True) if n}

    def hold(self, job: str, holder: str, ttl_s: int) -> bool:
        """Whether ``holder`` does ``job`` (one process of several): it takes the job when
        nobody holds it, keeps it while it renews within ``ttl_s``."""
        key = f"{self.prefix}:holder:{job}"
        if self.client.set(key, holder, nx=True, ex=ttl_s):
            return True
        if as_text(self.client.get(key) or b"") != holder:
            return False
        self.client.expire(key, ttl_s)  # a lapse between the two: the next call takes it again
        return True

    # -- intake: validate, then publish or dead-letter ---------------------------------------
    def ingest(
        self, raw: bytes, geo: Geography, limits: Limits = DEFAULT_LIMITS
    ) -> str | Rejection:
        """Validate one raw message: publish it (returning its stream id) or dead-letter it.

        A message whose handling raises (a bug meeting input nobody foresaw) is dead-lettered
        as ``internal_error`` with the exception logged once: one message must never stop
        intake. Redis errors propagate, the message untouched: the caller retries it.
        """
        try:
            result = validate(raw, geo, limits)
            if isinstance(result, Rejection):
                self.dead_letter(raw, result)
                return result
            return self.publish(result)
        except (redis.RedisError, OSError):
            raise
        except Exception as exc:
            log.exception("internal error handling a message; dead-lettered")
            rejection = Rejection("internal_error", f"{type(exc).__name__}: {exc}")
            self.dead_letter(raw, rejection)
            return rejection

    # -- the inbox: raw messages from producers that cannot link our code -----------------
    def ingest_inbox(
        self,
        geo: Geography,
        limits: Limits = DEFAULT_LIMITS,
        consumer: str = "ingest-1",
        block_ms: int = 1000,
        count: int = 500,
    ) -> tuple[int, int]:
        """Validate one batch from the inbox stream; returns (accepted, rejected).

        A consumer group remembers what was handed out: entries a crashed ingester took but
        never acknowledged are taken again first. Re-publishing one is harmless, because the
        state folds a repeated step (same id and seq) as a duplicate. Every entry is
        acknowledged once it is published or dead-lettered (``ingest`` dead-letters one whose
        handling raises), so no entry can come back to stop each restart; a Redis error leaves
        the rest of the batch pending, to be taken again when Redis is back.
        """
        group, inbox = "ingest", self.keys["inbox"]
        try:
            self.client.xgroup_create(inbox, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        streams = stream_replies(self.client.xreadgroup(group, consumer, {inbox: "0"}, count=count))
        if not streams or not streams[0][1]:
            streams = stream_replies(
                self.client.xreadgroup(group, consumer, {inbox: ">"}, count=count, block=block_ms)
            )
        accepted = rejected = 0
        for _stream, entries in streams:
            for sid, fields in entries_of(entries):
                raw = as_bytes(fields.get(b"m", b""))
                if isinstance(self.ingest(raw, geo, limits), Rejection):
                    rejected += 1
                else:
                    accepted += 1
                done = self.client.pipeline(transaction=False)
                done.xack(inbox, group, sid)
                done.xdel(inbox, sid)
                done.execute()
        return accepted, rejected

    # -- lookups ---------------------------------------------------------------------------
    def visits(self, day: date) -> dict[tuple[str, str], float]:
        """(worker, grid) → epoch seconds of the pair's first on-duty fix of ``day`` (China)."""
        raw = self.client.hgetall(self._visits_key(day))
        visits: dict[tuple[str, str], float] = {}
        for pair, ms in raw.items():
            worker, grid = as_text(pair).split(" ")
            visits[(worker, grid)] = int(ms) / 1000
        return visits

    def latest_positions(self) -> dict[str, PositionMessage]:
        raw = self.client.hgetall(self.keys["workers"])
        positions: dict[str, PositionMessage] = {}
        for worker, payload in raw.items():
            message = decode_trusted(payload)
            assert isinstance(message, PositionMessage)
            positions[as_text(worker)] = message
        return positions

    def stats(self) -> dict[str, int]:
        return {as_text(k): int(v) for k, v in self.client.hgetall(self.keys["stats"]).items()}
