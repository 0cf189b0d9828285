"""Accounts, kiosk tokens and the audit stream, kept in Redis under the key prefix.

Why Redis and not SQLite: every dashboard process and the CLI already share one Redis, so an
account removed or a token revoked anywhere is seen by every process's next revocation check
(once a second) with no second database to deploy, back up or keep in step across hosts; a
SQLite file would be per host and would make a multi-process deployment disagree about who is
signed in. The price: Redis must persist (AOF) and be reachable only by OneMap, which it
already must be, since whoever can write to it can also forge the feed.

Keys (``<p>`` is the prefix): ``<p>:users`` (set of names), ``<p>:user:<name>`` (hash),
``<p>:kiosks`` (set of ids), ``<p>:kiosk:<id>`` (hash), ``<p>:audit`` (stream: what people and
walls did), ``<p>:audit:anonymous`` (stream: failures by someone not signed in, capped apart),
``<p>:audit-count:<event>:<address>:<minute>`` (their counters), ``<p>:ended:<session id>``
(signed-out sessions, until they would have expired), ``<p>:secret`` (the session-signing key
when none is configured), ``<p>:login:*`` (the sign-in throttle's counters, ``LoginThrottle``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import limits
import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ROLES = ("wall", "duty", "leader", "admin")
NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 10
_hasher = PasswordHasher()  # argon2id with the RFC 9106 low-memory parameters
# Verified against when a name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
ANONYMOUS_WINDOW_S = 60  # anonymous failures are counted per event and address in this window
TRUST_DAYS = 30  # an address stays trusted for a name this long after a sign-in as it


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    role: str
    scope: str
    display: str
    generation: str  # replaced on every password change: sessions made before it stop working
    created: str

    @property
    def principal_id(self) -> str:
        return f"u:{self.name}:{self.generation}"


@dataclass(frozen=True, slots=True)
class Kiosk:
    id: str
    scope: str
    name: str
    created: str
    expires: str  # ISO time, or "" for a token that lasts until revoked

    @property
    def principal_id(self) -> str:
        return f"k:{self.id}"

    def expired(self, now: datetime | None = None) -> bool:
        return bool(self.expires) and datetime.fromisoformat(self.expires) <= (
            now or datetime.now(UTC)
        )


def _digest(secret: str) -> str:
    # Tokens carry 256 random bits: a fast hash is enough (a KDF is for guessable passwords).
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _text(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


class UserStore:
    def __init__(self, client: redis.Redis, prefix: str = "onemap") -> None:
        self.client = client
        self.prefix = prefix

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # -- accounts ------------------------------------------------------------------------
    def add_user(
        self, name: str, role: str, scope: str, password: str, display: str = ""
    ) -> Account:
        if not NAME.match(name):
            raise ValueError("user names are 1-64 letters, digits, or _ . @ -")
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        _check_password(password)
        if not self.client.sadd(self._key("users"), name):
            raise ValueError(f"user {name!r} exists")
        fields = {
            "role": role,
            "scope": scope,
            "display": display or name,
            "hash": _hasher.hash(password),
            "generation": secrets.token_hex(8),
            "created": _now(),
        }
        self.client.hset(self._key("user", name), mapping=fields)
        return self._account(name, fields)

    def get_user(self, name: str) -> Account | None:
        raw = self.client.hgetall(self._key("user", name)) if NAME.match(name) else {}
        return self._account(name, _text(raw)) if raw else None

    def list_users(self) -> list[Account]:
        names = sorted(n.decode() for n in self.client.smembers(self._key("users")))
        return [a for a in map(self.get_user, names) if a is not None]

    def remove_user(self, name: str) -> bool:
        pipe = self.client.pipeline()
        pipe.srem(self._key("users"), name)
        pipe.delete(self._key("user", name))
        return bool(pipe.execute()[1])

    def set_password(self, name: str, password: str) -> bool:
        _check_password(password)
        if not self.client.exists(self._key("user", name)):
            return False
        self.client.hset(
            self._key("user", name),
            mapping={"hash": _hasher.hash(password), "generation": secrets.token_hex(8)},
        )
        return True

    def verify(self, name: str, password: str) -> Account | None:
        """The account if the password is right; None otherwise, in about the same time."""
        raw = _text(self.client.hgetall(self._key("user", name))) if NAME.match(name) else {}
        try:
            _hasher.verify(raw.get("hash") or _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if not raw:
            return None
        if _hasher.check_needs_rehash(raw["hash"]):
            self.client.hset(self._key("user", name), "hash", _hasher.hash(password))
        return self._account(name, raw)

    @staticmethod
    def _account(name: str, f: dict[str, str]) -> Account:
        return Account(name, f["role"], f["scope"], f["display"], f["generation"], f["created"])

    # -- kiosk tokens --------------------------------------------------------------------
    def add_kiosk(self, scope: str, name: str, days: float | None = None) -> tuple[Kiosk, str]:
        """A new token for a wall: (the kiosk, the token to put in its URL, shown only now)."""
        kiosk_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        expires = ""
        if days:
            expires = (datetime.now(UTC) + timedelta(days=days)).isoformat(timespec="seconds")
        fields = {
            "scope": scope,
            "name": name,
            "digest": _digest(secret),
            "created": _now(),
            "expires": expires,
        }
        pipe = self.client.pipeline()
        pipe.hset(self._key("kiosk", kiosk_id), mapping=fields)
        pipe.sadd(self._key("kiosks"), kiosk_id)
        pipe.execute()
        return self._kiosk(kiosk_id, fields), f"{kiosk_id}.{secret}"

    def kiosk_for(self, token: str) -> Kiosk | None:
        """The kiosk a token belongs to, if the token is genuine, unrevoked and unexpired."""
        kiosk_id, _, secret = token.partition(".")
        if not re.fullmatch(r"[0-9a-f]{12}", kiosk_id) or not secret:
            return None
        raw = _text(self.client.hgetall(self._key("kiosk", kiosk_id)))
        if not raw or not hmac.compare_digest(raw["digest"], _digest(secret)):
            return None
        kiosk = self._kiosk(kiosk_id, raw)
        return None if kiosk.expired() else kiosk

    def get_kiosk(self, kiosk_id: str) -> Kiosk | None:
        raw = _text(self.client.hgetall(self._key("kiosk", kiosk_id)))
        return self._kiosk(kiosk_id, raw) if raw else None

    def list_kiosks(self) -> list[Kiosk]:
        ids = sorted(i.decode() for i in self.client.smembers(self._key("kiosks")))
        return [k for k in map(self.get_kiosk, ids) if k is not None]

    def revoke_kiosk(self, kiosk_id: str) -> bool:
        pipe = self.client.pipeline()
        pipe.srem(self._key("kiosks"), kiosk_id)
        pipe.delete(self._key("kiosk", kiosk_id))
        return bool(pipe.execute()[1])

    @staticmethod
    def _kiosk(kiosk_id: str, f: dict[str, str]) -> Kiosk:
        return Kiosk(kiosk_id, f["scope"], f["name"], f["created"], f.get("expires", ""))

    # -- many at once, for the revocation check ------------------------------------------
    def still_valid(self, principal_ids: set[str]) -> set[str]:
        """Those of ``principal_ids`` whose account or token still exists unchanged."""
        ordered = sorted(principal_ids)
        pipe = self.client.pipeline(transaction=False)
        for pid in ordered:
            kind, _, rest = pid.partition(":")
            if kind == "u":
                pipe.hget(self._key("user", rest.rsplit(":", 1)[0]), "generation")
            else:
                pipe.hget(self._key("kiosk", rest), "expires")
        valid = set()
        now = datetime.now(UTC)
        for pid, value in zip(ordered, pipe.execute(), strict=True):
            if value is None:
                continue
            value = value.decode()
            if pid.startswith("u:") and pid.rsplit(":", 1)[1] == value:
                valid.add(pid)
            elif pid.startswith("k:") and not (value and datetime.fromisoformat(value) <= now):
                valid.add(pid)
        return valid

    # -- sessions ended before their time (sign-out) ------------------------------------
    def end_session(self, session_id: str, ttl_s: int) -> None:
        """A signed cookie cannot be taken back: remember its id until it would expire."""
        self.client.set(self._key("ended", session_id), 1, ex=max(1, ttl_s))

    def ended(self, session_ids: set[str]) -> set[str]:
        ordered = sorted(session_ids)
        if not ordered:
            return set()
        found = self.client.mget([self._key("ended", s) for s in ordered])
        return {s for s, hit in zip(ordered, found, strict=True) if hit is not None}

    # -- the session-signing key and the audit stream ------------------------------------
    def shared_secret(self) -> str:
        """One signing key for every process (so a restart or a second process keeps sessions)."""
        self.client.set(self._key("secret"), secrets.token_hex(32), nx=True)
        return self.client.get(self._key("secret")).decode()  # type: ignore[union-attr]

    def audit(self, maxlen: int = 1_000_000, **fields: str) -> None:
        """What a signed-in person or wall did (and what they were refused)."""
        entry = {"at": _now(), **{k: str(v) for k, v in fields.items()}}
        self.client.xadd(self._key("audit"), entry, maxlen=maxlen, approximate=True)  # type: ignore[arg-type]

    def audit_anonymous(
        self, maxlen: int, event: str, ip: str, aggregate: bool = True, **fields: str
    ) -> bool:
        """A failure by someone not signed in, into a stream of its own with its own cap: no
        amount of it can push the trail of real actions out of ``<p>:audit``.

        ``aggregate``: an atomic counter per event, address and minute; only the 1st, 10th,
        100th, … failure of a minute is written, with its count. Returns whether one was."""
        entry = {"at": _now(), "event": event, "ip": ip, **fields}
        if aggregate:
            window = int(time.time()) // ANONYMOUS_WINDOW_S
            key = self._key("audit-count", event, ip[:64], str(window))
            pipe = self.client.pipeline(transaction=True)  # MULTI: INCR and EXPIRE as one
            pipe.incr(key)
            pipe.expire(key, 2 * ANONYMOUS_WINDOW_S)
            count = int(pipe.execute()[0])
            if count != 10 ** (len(str(count)) - 1):  # 1, 10, 100, …
                return False
            since = datetime.fromtimestamp(window * ANONYMOUS_WINDOW_S, UTC)
            entry.update(count=str(count), since=since.isoformat(timespec="seconds"))
        self.client.xadd(self._key("audit", "anonymous"), entry, maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
        return True

    def audit_tail(self, count: int = 20) -> list[dict[str, str]]:
        """The latest entries of both audit streams, newest first."""
        rows = [
            *self.client.xrevrange(self._key("audit"), count=count),
            *self.client.xrevrange(self._key("audit", "anonymous"), count=count),
        ]
        rows.sort(key=lambda row: tuple(map(int, row[0].split(b"-"))), reverse=True)
        return [{"sid": sid.decode(), **_text(fields)} for sid, fields in rows[:count]]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One sign-in try the throttle let through or refused."""

    allowed: bool
    retry_after: int = 0  # seconds, when refused
    why: str = ""  # "address" | "name", when refused
    counter: str = ""  # the address counter it took a unit of (given back on success)


# Atomic, so concurrent tries cannot all pass a check made before any of them is counted: each
# try takes a unit first and is judged on the count it got.
# KEYS: 1 the address's failures, 2 this name's failures from this address (used instead of 1
# when the address is trusted for the name), 3 the name's failures, 4 the addresses that failed
# for the name, 5 the addresses trusted for the name. ARGV: limit, window s, address.
_RESERVE = """
local limit, window, address = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local trusted = redis.call('SISMEMBER', KEYS[5], address) == 1
local counter = KEYS[1]
if trusted then counter = KEYS[2] end
local tries = redis.call('INCR', counter)
if tries == 1 then redis.call('EXPIRE', counter, window) end
if tries > limit then return {0, redis.call('TTL', counter), 'address', counter} end
local failed = tonumber(redis.call('GET', KEYS[3]) or '0')
if failed >= limit and not trusted and redis.call('SISMEMBER', KEYS[4], address) == 1 then
  return {0, redis.call('TTL', KEYS[3]), 'name', counter}
end
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], window)
redis.call('SADD', KEYS[4], address)
redis.call('EXPIRE', KEYS[4], window)
return {1, 0, '', counter}
"""
# KEYS: 1 the counter the try took a unit of, 2 the name's failures, 3 the addresses that failed
# for it, 4 those trusted for it. ARGV: address, trust s.
_SUCCEEDED = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECR', KEYS[1]) end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('EXPIRE', KEYS[4], tonumber(ARGV[2]))
return 1
"""


class LoginThrottle:
    """Slows password guessing without letting anyone lock a person out.

    * Per address: ``rate`` tries that did not succeed per window, whatever the names.
    * Per name: once a name has failed ``rate`` times (from anywhere) it is in backoff until a
      window passes with no failure for it, or until someone signs in as it. In backoff, an
      address that has already failed for the name is refused for it; an address that has not
      gets its try. So a guesser spread over many addresses gets about one guess per address
      per window, and the name's owner, who has not failed from their desk, still signs in.
    * An address that signed in as the name within ``TRUST_DAYS`` is exempt from the name's
      backoff and counts its failures for that name apart from the address's other tries, so
      someone else at the same address (a shared NAT) cannot lock the owner out either.

    Every count is taken in one Lua script before the password is checked (no read-then-write);
    a success gives its unit back.
    """

    def __init__(self, client: redis.Redis, prefix: str, rate: str) -> None:
        item = limits.parse(rate)
        self.client = client
        self.prefix = prefix
        self.limit, self.window_s = item.amount, int(item.get_expiry())
        self._reserve = client.register_script(_RESERVE)
        self._succeeded = client.register_script(_SUCCEEDED)

    def _keys(self, name: str, address: str) -> list[str]:
        who = name.strip().lower()[:64]
        base = f"{self.prefix}:login"
        return [
            f"{base}:address:{address}",
            f"{base}:pair:{who}:{address}",
            f"{base}:name:{who}",
            f"{base}:failed-from:{who}",
            f"{base}:trusted:{who}",
        ]

    def reserve(self, name: str, address: str) -> Attempt:
        """Count this try before the password is checked; whether it may go on."""
        keys = self._keys(name, address)
        allowed, ttl, why, counter = self._reserve(
            keys=keys, args=[self.limit, self.window_s, address]
        )
        if allowed:
            return Attempt(True, counter=counter.decode())
        return Attempt(False, max(1, int(ttl)), why.decode(), counter.decode())

    def succeeded(self, name: str, address: str, attempt: Attempt) -> None:
        """The password was right: give the unit back, end the name's backoff, trust the address."""
        _address, _pair, *rest = self._keys(name, address)
        self._succeeded(keys=[attempt.counter, *rest], args=[address, TRUST_DAYS * 86400])


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"passwords need at least {MIN_PASSWORD} characters")


def generate_password() -> str:
    return secrets.token_urlsafe(12)
