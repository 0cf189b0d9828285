"""Producer keys: who may send messages over HTTP (``POST /api/v1/messages``), and how much.

A producer (the 12345 hotline's system, a platform's, a citizen app's backend) holds one API
key, bound to a jurisdiction (``scope``), optionally to a few ``sources``, with or without the
right to send worker positions, and to a rate in messages per second. The key is shown once;
only its SHA-256 digest is kept (keys are 256 random bits: a fast hash is enough, a KDF is for
guessable passwords) and compared in constant time.

Keys (``<p>`` is the prefix): ``<p>:producers`` (set of ids), ``<p>:producer:<id>`` (hash),
``<p>:producer-bucket:<id>`` (the rate limit's token bucket, shared by every server process).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from redis.typing import EncodableT, FieldT

from feeds.catalogue import SOURCES
from feeds.geo import contains
from feeds.schema import EventMessage, Message, Rejection

KEY_PREFIX = "omp_"  # so a leaked key is recognisable (secret scanners, logs)
_KEY = re.compile(r"^omp_([0-9a-f]{12})\.([A-Za-z0-9_-]{43})$")
DEFAULT_RATE = 100.0  # messages a second: the city's whole event feed is ~0.1/s on average
BURST_S = 10  # an idle key saves up this many seconds of its rate

# Why a message the contract lets in is refused to this key (docs/feeds.md, docs/api.md).
RIGHTS_REASONS: dict[str, str] = {
    "out_of_scope": "the event's area or the position's grid lies outside the key's scope",
    "source_not_allowed": "the event's source is not one of the key's sources",
    "positions_not_allowed": "the key may not send worker positions",
}

# KEYS: bucket; ARGV: rate (tokens a second), capacity, cost. Returns "0" when admitted, else
# the seconds until it would be. A request is admitted while the bucket is not empty and takes
# its whole cost, which may leave a debt: a batch bigger than the bucket gets through once and
# the next request waits until the debt is paid. Redis's clock, so every replica agrees.
_TAKE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, cap, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if not tokens or not at then tokens, at = cap, now end
tokens = math.min(cap, tokens + math.max(0, now - at) * rate)
local wait = '0'
if tokens <= 0 then wait = tostring(-tokens / rate) else tokens = tokens - cost end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil((cap - tokens) / rate) + 1)
return wait
"""


@dataclass(frozen=True, slots=True)
class Producer:
    id: str
    name: str
    scope: str  # the city, a county or a town code
    sources: tuple[str, ...]  # empty: any source
    positions: bool
    rate: float  # messages a second
    created: str

    def refusal(self, message: Message) -> Rejection | None:
        """Why this key may not send ``message`` (which passed the contract), or None."""
        if isinstance(message, EventMessage):
            if not contains(self.scope, message.area.finest):
                return Rejection("out_of_scope", f"area {message.area.finest} not in {self.scope}")
            if self.sources and message.source not in self.sources:
                allowed = ", ".join(self.sources)
                return Rejection("source_not_allowed", f"{message.source!r} not in {allowed}")
            return None
        if not self.positions:
            return Rejection("positions_not_allowed", "this key sends events only")
        if not contains(self.scope, message.grid):
            return Rejection("out_of_scope", f"grid {message.grid} not in {self.scope}")
        return None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class ProducerStore:
    def __init__(self, client: redis.Redis, prefix: str = "onemap") -> None:
        self.client = client
        self.prefix = prefix
        self._take = client.register_script(_TAKE)

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def add(
        self,
        name: str,
        scope: str,
        sources: tuple[str, ...] = (),
        positions: bool = False,
        rate: float = DEFAULT_RATE,
    ) -> tuple[Producer, str]:
        """A new key: (the producer, the key itself, to be shown once and never again)."""
        unknown = [s for s in sources if s not in SOURCES]
        if unknown:
            raise ValueError(f"unknown source {unknown[0]!r}; one of {', '.join(SOURCES)}")
        if not (0 < rate <= 1_000_000) or not math.isfinite(rate):
            raise ValueError("the rate is messages a second, above 0")
        if not name.strip() or len(name) > 100:
            raise ValueError("a producer's name is 1-100 characters")
        producer_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        producer = Producer(
            producer_id,
            name,
            scope,
            tuple(dict.fromkeys(sources)),
            positions,
            rate,
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
        fields: dict[FieldT, EncodableT] = {
            "name": name,
            "scope": scope,
            "sources": ",".join(producer.sources),
            "positions": "1" if positions else "0",
            "rate": repr(rate),
            "digest": _digest(secret),
            "created": producer.created,
        }
        pipe = self.client.pipeline()
        pipe.hset(self._key("producer", producer_id), mapping=fields)
        pipe.sadd(self._key("producers"), producer_id)
        pipe.execute()
        return producer, f"{KEY_PREFIX}{producer_id}.{secret}"

    def authenticate(self, key: str) -> Producer | None:
        """The producer a key belongs to, if the key is genuine and not revoked."""
        match = _KEY.match(key)
        if match is None:
            return None
        producer_id, secret = match.groups()
        raw = self._raw(producer_id)
        if not raw or not hmac.compare_digest(raw["digest"], _digest(secret)):
            return None
        return self._producer(producer_id, raw)

    def get(self, producer_id: str) -> Producer | None:
        raw = self._raw(producer_id)
        return self._producer(producer_id, raw) if raw else None

    def list(self) -> list[Producer]:
        ids = sorted(map(_str, self.client.smembers(self._key("producers"))))
        return [p for p in map(self.get, ids) if p is not None]

    def revoke(self, producer_id: str) -> bool:
        pipe = self.client.pipeline()
        pipe.srem(self._key("producers"), producer_id)
        pipe.delete(self._key("producer", producer_id))
        pipe.delete(self._key("producer-bucket", producer_id))
        return bool(pipe.execute()[1])

    def take(self, producer: Producer, messages: int) -> float:
        """Charge ``messages`` to the key's rate: 0 if admitted, else seconds to wait."""
        capacity = max(producer.rate, 1.0) * BURST_S
        args: list[EncodableT] = [repr(producer.rate), repr(capacity), max(1, messages)]
        wait = self._take(keys=[self._key("producer-bucket", producer.id)], args=args)
        return float(_str(wait))

    def _raw(self, producer_id: str) -> dict[str, str]:
        if not re.fullmatch(r"[0-9a-f]{12}", producer_id):
            return {}
        raw = self.client.hgetall(self._key("producer", producer_id))
        return {_str(k): _str(v) for k, v in raw.items()}

    @staticmethod
    def _producer(producer_id: str, f: dict[str, str]) -> Producer:
        sources = tuple(s for s in f["sources"].split(",") if s)
        return Producer(
            producer_id,
            f["name"],
            f["scope"],
            sources,
            f["positions"] == "1",
            float(f["rate"]),
            f["created"],
        )
