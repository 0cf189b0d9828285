"""The only module that knows Redis key names: publish, dead-letter, replay and follow the feed.

Every accepted message is appended to a Stream (the durable, capped log) and announced on a
pub/sub channel by one Lua script, so the two can never disagree: no subscriber sees an
announcement whose log entry is missing, and no log entry goes unannounced. Worker positions
also overwrite a hash of latest positions so a newcomer can draw every worker at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import msgspec
import redis

from feeds.geo import Geography
from feeds.outage import RETRYABLE, Outage
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
    decode_action,
    decode_trusted,
    decode_warning,
    encode,
    validate,
)

log = logging.getLogger(__name__)

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

# KEYS: stream; ARGV: start, end, limit. How many entries lie in a range, up to ``limit``,
# counted inside Redis: nothing travels, so asking costs the same whatever the range holds.
_COUNT_RANGE = """
return #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
"""

EVENTS = "events"
POSITIONS = "positions"
WARNINGS = "warnings"
ACTIONS = "actions"
ACTIONS_MAXLEN = 1_000_000  # the audit of operators' work: months at any plausible rate
WARNINGS_MAXLEN = 100_000
WARNING_MEMORY_S = 8 * 86_400  # a warning id is remembered this long (the log holds days)
VISITS_TTL_S = 3 * 86_400  # a day's patrol visits: today's and yesterday's figures need them


@dataclass(frozen=True, slots=True)
class Entry:
    """One message read back from the log, with the stream it came from and its stream id."""

    stream: str  # EVENTS, POSITIONS or ACTIONS
    sid: str
    message: Message | ActionMessage


class _Announcement(msgspec.Struct):
    stream: str
    sid: str
    m: msgspec.Raw


_announcement = msgspec.json.Decoder(_Announcement)


class Bus:
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
        }
        self.maxlen = {EVENTS: events_maxlen, POSITIONS: positions_maxlen}
        self.deadletter_maxlen = deadletter_maxlen
        self._append = client.register_script(_APPEND_AND_ANNOUNCE)
        self._warn = client.register_script(_PUBLISH_WARNING)
        self._count = client.register_script(_COUNT_RANGE)

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
        return [_text(sid) for sid in pipe.execute()]

    def _script_args(self, message: Message) -> tuple[list[str], list[object]]:
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
        args = [self.maxlen[POSITIONS], payload, "accepted:position", POSITIONS, message.worker]
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
            args = [WARNINGS_MAXLEN, encode(warning), WARNING_MEMORY_S]
            self._warn(keys=keys, args=args, client=pipe)
        return [_text(sid) if sid else None for sid in pipe.execute()]

    def publish_action(self, action: ActionMessage) -> str:
        """Append an operator's action to the audited actions stream and announce it."""
        keys = [self.keys[ACTIONS], self.keys["channel"], self.keys["stats"]]
        args: list[object] = [ACTIONS_MAXLEN, encode(action), f"actions:{action.verb}", ACTIONS]
        return _text(self._append(keys=keys, args=args))

    def actions(self, after: str = "-", count: int = 100) -> list[tuple[str, ActionMessage]]:
        """(stream id, action) in order, after ``after`` (exclusive; "-" from the start)."""
        start = "-" if after in ("-", "0", "0-0") else f"({after}"
        rows = self.client.xrange(self.keys[ACTIONS], min=start, max="+", count=count)
        return [(_text(sid), decode_action(fields[b"m"])) for sid, fields in rows]

    def dead_letter(self, raw: bytes, rejection: Rejection) -> str:
        """Keep a refused message with its reason, and count it."""
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(
            self.keys["deadletter"],
            {
                "reason": rejection.reason,
                "detail": rejection.detail[:500],
                "raw": raw[:16384],
                "at": datetime.now(UTC).isoformat(),
            },
            maxlen=self.deadletter_maxlen,
            approximate=True,
        )
        pipe.hincrby(self.keys["stats"], f"rejected:{rejection.reason}", 1)
        sid = pipe.execute()[0]
        # repr: a detail quoting the message must not put raw escapes on an operator's terminal
        log.warning("rejected message: %s (%r)", rejection.reason, rejection.detail[:200])
        return _text(sid)

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
        reply = self.client.xreadgroup(group, consumer, {inbox: "0"}, count=count)
        if not reply or not reply[0][1]:
            reply = self.client.xreadgroup(
                group, consumer, {inbox: ">"}, count=count, block=block_ms
            )
        accepted = rejected = 0
        for _stream, entries in reply or []:
            for sid, fields in entries:
                raw = fields.get(b"m", b"")
                if isinstance(self.ingest(raw, geo, limits), Rejection):
                    rejected += 1
                else:
                    accepted += 1
                done = self.client.pipeline(transaction=False)
                done.xack(inbox, group, sid)
                done.xdel(inbox, sid)
                done.execute()
        return accepted, rejected

    # -- reading ---------------------------------------------------------------------------
    def read(
        self, after: dict[str, str], block_ms: int | None = None, count: int = 1000
    ) -> list[Entry]:
        """Entries after the given stream ids (``{"events": "0-0", "positions": "$"}``)."""
        return [
            Entry(name, sid, decode_entry(name, raw))
            for name, sid, raw in self.read_raw(after, block_ms, count)
        ]

    def read_raw(
        self, after: dict[str, str], block_ms: int | None = None, count: int = 1000
    ) -> list[tuple[str, str, bytes]]:
        """(stream, id, payload) after the given ids, undecoded: a follower that must get past
        an entry it cannot decode decodes each itself."""
        streams = {self.keys[name]: sid for name, sid in after.items()}
        reply = self.client.xread(streams, count=count, block=block_ms)
        names = {self.keys[name]: name for name in after}
        return [
            (name, _text(sid), fields.get(b"m", b""))
            for key, entries in reply or []
            for name in (names[_text(key)],)
            for sid, fields in entries
        ]

    def replay(
        self, stream: str = EVENTS, after: str = "0-0", batch: int = 5000
    ) -> Iterator[Entry]:
        """Every entry of one stream after ``after``, oldest first, in batches."""
        start = f"({after}" if after not in ("0", "0-0", "-") else "-"
        while True:
            rows = self.client.xrange(self.keys[stream], min=start, max="+", count=batch)
            for sid, fields in rows:
                yield Entry(stream, _text(sid), decode_entry(stream, fields[b"m"]))
            if len(rows) < batch:
                return
            start = f"({_text(rows[-1][0])}"

    def range_raw(self, stream: str, after: str, upto: str, count: int) -> list[tuple[str, bytes]]:
        """At most ``count`` (id, payload) of a stream after ``after`` up to ``upto``, inclusive,
        undecoded and as hiredis parses them (no dict per entry): a caller that may find too
        many learns it before paying to decode any (see ``log_batches``)."""
        pool, key = self.client.connection_pool, self.keys[stream]
        start = "-" if after in ("0", "0-0", "-") else f"({after}"
        connection = pool.get_connection()
        try:
            connection.send_command("XRANGE", key, start, upto, "COUNT", count)
            rows = connection.read_response(disable_decoding=True)
        except BaseException:
            connection.disconnect()  # an unread reply must not reach the pool's next user
            raise
        finally:
            pool.release(connection)
        return [(_text(sid), fields[1]) for sid, fields in rows]

    def count_range(self, stream: str, after: str, upto: str, limit: int) -> int:
        """How many entries of a stream lie after ``after`` up to ``upto`` (at most ``limit``)."""
        start = "-" if after in ("0", "0-0", "-") else f"({after}"
        return int(self._count(keys=[self.keys[stream]], args=[start, upto, limit]))

    def first_id(self, stream: str) -> str | None:
        """The oldest id a stream still holds (``None`` when it is empty)."""
        rows = self.client.xrange(self.keys[stream], count=1)
        return _text(rows[0][0]) if rows else None

    def log_batches(
        self, stream: str = EVENTS, after: str = "0-0", batch: int = 20_000
    ) -> Iterator[list[tuple[bytes, bytes]]]:
        """Every entry of a stream after ``after`` as raw (id, payload) batches, oldest first.

        For rebuilding from the log (``State.fold_log``), where reading cost more than folding:
        redis-py's XRANGE reply parsing builds a dict per entry in Python, so this reads the
        reply as hiredis parses it. The request for the next batch goes out before this one
        is handed over, so Redis prepares it on the other core while the caller folds (a
        reader thread did the same, but fought the fold for the interpreter lock: slower).
        """
        pool, key = self.client.connection_pool, self.keys[stream]
        start: str | bytes = "-" if after in ("0", "0-0", "-") else f"({after}"
        connection = pool.get_connection()
        asked = False  # a request whose reply is not read yet
        try:
            connection.send_command("XRANGE", key, start, "+", "COUNT", batch)
            asked = True
            while asked:
                rows = connection.read_response(disable_decoding=True)
                asked = False
                if len(rows) == batch:
                    connection.send_command("XRANGE", key, b"(" + rows[-1][0], "+", "COUNT", batch)
                    asked = True
                if rows:  # each entry is [id, [b"m", payload]]: the bus writes that one field
                    yield [(sid, fields[1]) for sid, fields in rows]
        finally:
            if asked:  # left early or failed: an unread reply must not reach the pool's next user
                connection.disconnect()
            pool.release(connection)

    def follow(
        self,
        after: dict[str, str],
        block_ms: int = 1000,
        count: int = 1000,
        max_backoff: float = 5.0,
    ) -> Iterator[list[Entry]]:
        """Batches of new entries forever, surviving Redis restarts and killed connections.

        Resumes from the last id it yielded, so a reconnect loses nothing and repeats nothing.
        Yields an empty list when a block times out, so callers can do housekeeping.
        """
        position = dict(after)
        outage = Outage(log, "follow", max_delay=max_backoff)
        while True:
            try:
                batch = self.read(position, block_ms=block_ms, count=count)
            except RETRYABLE as exc:
                outage.failed(exc)
                continue
            outage.ok()
            for entry in batch:
                position[entry.stream] = entry.sid
            yield batch

    def last_ids(self) -> dict[str, str]:
        """The newest id of each stream ("0-0" when empty): where a live follower starts."""
        ids = {}
        for name in (EVENTS, POSITIONS, ACTIONS):
            rows = self.client.xrevrange(self.keys[name], count=1)
            ids[name] = _text(rows[0][0]) if rows else "0-0"
        return ids

    def subscribe(self) -> Iterator[Entry]:
        """Live announcements from pub/sub (lossy by nature: use ``follow`` to never miss one)."""
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self.keys["channel"])
        try:
            for item in pubsub.listen():
                note = _announcement.decode(item["data"])
                yield Entry(note.stream, note.sid, decode_entry(note.stream, bytes(note.m)))
        finally:
            pubsub.close()

    def visits(self, day: date) -> dict[tuple[str, str], float]:
        """(worker, grid) → epoch seconds of the pair's first on-duty fix of ``day`` (China)."""
        raw = self.client.hgetall(self._visits_key(day))
        visits = {}
        for pair, ms in raw.items():
            worker, grid = _text(pair).split(" ")
            visits[(worker, grid)] = int(ms) / 1000
        return visits

    def latest_positions(self) -> dict[str, PositionMessage]:
        raw = self.client.hgetall(self.keys["workers"])
        positions = {}
        for worker, payload in raw.items():
            message = decode_trusted(payload)
            assert isinstance(message, PositionMessage)
            positions[_text(worker)] = message
        return positions

    def warnings(
        self, after: str | None = None, count: int = 100, block_ms: int | None = None
    ) -> list[tuple[str, WarningMessage]]:
        """(stream id, warning): the newest ``count`` first, or those after ``after`` in order."""
        if after is None:
            rows = self.client.xrevrange(self.keys[WARNINGS], count=count)
        else:
            reply = self.client.xread({self.keys[WARNINGS]: after}, count=count, block=block_ms)
            rows = reply[0][1] if reply else []
        return [(_text(sid), decode_warning(fields[b"m"])) for sid, fields in rows]

    def stats(self) -> dict[str, int]:
        return {_text(k): int(v) for k, v in self.client.hgetall(self.keys["stats"]).items()}

    def dead_letters(self, count: int = 100) -> list[dict[str, str]]:
        rows = self.client.xrevrange(self.keys["deadletter"], count=count)
        return [
            {"sid": _text(sid), **{_text(k): _text(v) for k, v in fields.items()}}
            for sid, fields in rows
        ]


def decode_entry(stream: str, raw: bytes) -> Message | ActionMessage:
    """A log entry's message (raises for an entry that is not one)."""
    return decode_action(raw) if stream == ACTIONS else decode_trusted(raw)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
