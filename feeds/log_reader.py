"""Reading the bus's log back: replay, follow, raw batches for a rebuild, live announcements.

Split from ``feeds.bus`` (which re-exports its names) because reading is a job of its own: the
writers need none of it, and the readers' one difficulty, turning redis-py's loosely typed
replies into typed entries without paying for it on a rebuild, is kept in one place here.
``LogReader`` is a mixin of ``feeds.bus.Bus``: the Bus owns the client and the key names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
import redis
from redis.commands.core import Script
from redis.typing import KeyT, StreamIdT, StreamRangeResponse

from feeds.outage import RETRYABLE, Outage
from feeds.schema import (
    ActionMessage,
    Message,
    WarningMessage,
    decode_action,
    decode_trusted,
    decode_warning,
)

log = logging.getLogger("feeds.bus")  # the bus's logger: reading is part of the bus

EVENTS = "events"
POSITIONS = "positions"
WARNINGS = "warnings"
ACTIONS = "actions"

# KEYS: stream; ARGV: start, end, limit. How many entries lie in a range, up to ``limit``,
# counted inside Redis: nothing travels, so asking costs the same whatever the range holds.
COUNT_RANGE = """
return #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
"""

Fields = Mapping[bytes | str, bytes | str]  # a stream entry's fields, as redis-py types them


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


class _RawConnection(Protocol):
    """What the raw readers use of a pooled connection (redis-py leaves these untyped)."""

    def send_command(self, *args: str | bytes | int) -> None: ...

    def read_response(self, disable_decoding: bool = False) -> object: ...

    def disconnect(self) -> None: ...


class _Subscription(Protocol):
    """The part of redis-py's (untyped) ``PubSub`` that ``subscribe`` uses. With subscribe
    messages ignored, every item ``listen`` yields is a message whose ``data`` is its bytes."""

    def subscribe(self, *channels: str) -> object: ...

    def listen(self) -> Iterator[Mapping[str, bytes]]: ...

    def close(self) -> None: ...


class _Subscriber(Protocol):
    def pubsub(self, *, ignore_subscribe_messages: bool) -> _Subscription: ...


class LogReader:
    """The reading half of ``feeds.bus.Bus``; the Bus sets these attributes."""

    client: redis.Redis
    keys: dict[str, str]
    _count: Script  # COUNT_RANGE, registered with the client

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
        streams: dict[KeyT, StreamIdT] = {self.keys[name]: sid for name, sid in after.items()}
        reply = self.client.xread(streams, count=count, block=block_ms)
        names = {self.keys[name]: name for name in after}
        return [
            (name, as_text(sid), as_bytes(fields.get(b"m", b"")))
            for key, entries in stream_replies(reply)
            for name in (names[key],)
            for sid, fields in entries_of(entries)
        ]

    def replay(
        self, stream: str = EVENTS, after: str = "0-0", batch: int = 5000
    ) -> Iterator[Entry]:
        """Every entry of one stream after ``after``, oldest first, in batches."""
        start = f"({after}" if after not in ("0", "0-0", "-") else "-"
        while True:
            reply = self.client.xrange(self.keys[stream], min=start, max="+", count=batch)
            rows = entries_of(reply)
            for sid, fields in rows:
                yield Entry(stream, sid, decode_entry(stream, fields[b"m"]))
            if len(rows) < batch:
                return
            start = f"({rows[-1][0]}"

    def trim_before(self, stream: str, sid: str) -> int:
        """Drop the stream's entries older than ``sid`` (exactly: never one at or after it);
        returns how many went."""
        return int(self.client.xtrim(self.keys[stream], minid=sid, approximate=False))

    def holds(self, stream: str, sid: str) -> bool:
        """Whether the stream still has the entry ``sid``: not trimmed away, not another log."""
        return bool(self.client.xrange(self.keys[stream], sid, sid, count=1))

    def range_raw(self, stream: str, after: str, upto: str, count: int) -> list[tuple[str, bytes]]:
        """At most ``count`` (id, payload) of a stream after ``after`` up to ``upto``, inclusive,
        undecoded and as hiredis parses them (no dict per entry): a caller that may find too
        many learns it before paying to decode any (see ``log_batches``)."""
        pool, key = self.client.connection_pool, self.keys[stream]
        start = "-" if after in ("0", "0-0", "-") else f"({after}"
        connection = pool.get_connection()
        wire: _RawConnection = connection  # the same object, its untyped methods typed
        try:
            wire.send_command("XRANGE", key, start, upto, "COUNT", count)
            rows = _reply_list(wire.read_response(disable_decoding=True))
        except BaseException:
            wire.disconnect()  # an unread reply must not reach the pool's next user
            raise
        finally:
            pool.release(connection)
        return [(as_text(sid), fields[1]) for sid, fields in rows]

    def count_range(self, stream: str, after: str, upto: str, limit: int) -> int:
        """How many entries of a stream lie after ``after`` up to ``upto`` (at most ``limit``)."""
        start = "-" if after in ("0", "0-0", "-") else f"({after}"
        return int(self._count(keys=[self.keys[stream]], args=[start, upto, limit]))

    def first_id(self, stream: str) -> str | None:
        """The oldest id a stream still holds (``None`` when it is empty)."""
        rows = entries_of(self.client.xrange(self.keys[stream], count=1))
        return rows[0][0] if rows else None

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
        wire: _RawConnection = connection  # the same object, its untyped methods typed
        asked = False  # a request whose reply is not read yet
        try:
            wire.send_command("XRANGE", key, start, "+", "COUNT", batch)
            asked = True
            while asked:
                rows = _reply_list(wire.read_response(disable_decoding=True))
                asked = False
                if len(rows) == batch:
                    wire.send_command("XRANGE", key, b"(" + rows[-1][0], "+", "COUNT", batch)
                    asked = True
                if rows:  # each entry is [id, [b"m", payload]]: the bus writes that one field
                    yield [(sid, fields[1]) for sid, fields in rows]
        finally:
            if asked:  # left early or failed: an unread reply must not reach the pool's next user
                wire.disconnect()
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
            rows = entries_of(self.client.xrevrange(self.keys[name], count=1))
            ids[name] = rows[0][0] if rows else "0-0"
        return ids

    def subscribe(self) -> Iterator[Entry]:
        """Live announcements from pub/sub (lossy by nature: use ``follow`` to never miss one)."""
        subscriber: _Subscriber = self.client
        pubsub = subscriber.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self.keys["channel"])
        try:
            for item in pubsub.listen():
                note = _announcement.decode(item["data"])
                yield Entry(note.stream, note.sid, decode_entry(note.stream, bytes(note.m)))
        finally:
            pubsub.close()

    def actions(self, after: str = "-", count: int = 100) -> list[tuple[str, ActionMessage]]:
        """(stream id, action) in order, after ``after`` (exclusive; "-" from the start)."""
        start = "-" if after in ("-", "0", "0-0") else f"({after}"
        rows = self.client.xrange(self.keys[ACTIONS], min=start, max="+", count=count)
        return [(sid, decode_action(fields[b"m"])) for sid, fields in entries_of(rows)]

    def warnings(
        self, after: str | None = None, count: int = 100, block_ms: int | None = None
    ) -> list[tuple[str, WarningMessage]]:
        """(stream id, warning): the newest ``count`` first, or those after ``after`` in order."""
        rows: StreamRangeResponse | None
        if after is None:
            rows = self.client.xrevrange(self.keys[WARNINGS], count=count)
        else:
            reply = self.client.xread({self.keys[WARNINGS]: after}, count=count, block=block_ms)
            streams = stream_replies(reply)
            rows = streams[0][1] if streams else []
        return [(sid, decode_warning(fields[b"m"])) for sid, fields in entries_of(rows)]

    def warnings_between(self, after_ms: int, upto_ms: int) -> list[WarningMessage]:
        """The warnings the log received after ``after_ms`` up to ``upto_ms`` (a replay's)."""
        rows = self.client.xrange(self.keys[WARNINGS], min=str(after_ms + 1), max=str(upto_ms))
        return [decode_warning(fields[b"m"]) for _, fields in entries_of(rows)]


def sid_key(sid: str) -> tuple[int, int]:
    """A stream id ("1700000000000-3") as a number pair: ids compare as those, not as text."""
    ms, _, seq = sid.partition("-")
    return int(ms), int(seq or 0)


def decode_entry(stream: str, raw: bytes | str) -> Message | ActionMessage:
    """A log entry's message (raises for an entry that is not one)."""
    return decode_action(raw) if stream == ACTIONS else decode_trusted(raw)


def as_text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def as_bytes(value: bytes | str) -> bytes:
    """A field's value as bytes: our clients do not decode replies, so it is bytes already."""
    return value if isinstance(value, bytes) else value.encode()


def entries_of(rows: StreamRangeResponse | None) -> list[tuple[str, Fields]]:
    """(id, fields) of the entries of a stream reply. redis-py's types allow ``None`` for the
    reply, an id and the fields: no reply of ours holds a ``None`` id, and an entry deleted
    while pending in a consumer group comes back without fields (read here as none)."""
    return [(as_text(sid or b""), fields or {}) for sid, fields in rows or ()]


def stream_replies(reply: object) -> list[tuple[str, StreamRangeResponse]]:
    """(stream key, entries) of an XREAD or XREADGROUP reply: a list of [key, entries] pairs,
    or nothing when a block timed out (our clients speak RESP2, which has no maps)."""
    if not reply:
        return []
    if not isinstance(reply, list):
        raise TypeError(f"unexpected stream reply: {type(reply).__name__} (a RESP3 client?)")
    return [(as_text(key), entries) for key, entries in reply]


def _reply_list(reply: object) -> list[list[Any]]:
    """An XRANGE reply read undecoded, as hiredis parses it: a list of [id, [field, value ...]]
    (bytes all through, which the types of redis-py's raw reading cannot say)."""
    if not isinstance(reply, list):
        raise TypeError(f"unexpected XRANGE reply: {type(reply).__name__}")
    return reply
