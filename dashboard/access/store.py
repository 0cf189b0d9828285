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
when none is configured). The sign-in throttle keeps its counters under ``<p>:login:*`` in the
same Redis (``dashboard.access.throttle``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from redis.typing import EncodableT, FieldT

ROLES = ("wall", "duty", "leader", "admin")
NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 10
_hasher = PasswordHasher()  # argon2id with the RFC 9106 low-memory parameters
ANONYMOUS_WINDOW_S = 60  # anonymous failures are counted per event and address in this window


@functools.cache
def _dummy_hash() -> str:
    """Verified against when a name is unknown, so a wrong name costs as long as a wrong
    password; made at the first sign-in (130 ms of argon2: at import, a tenth of a start)."""
    return _hasher.hash(secrets.token_urlsafe(16))


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


def _str(value: bytes | str) -> str:
    # redis-py types every reply as bytes or str (str with decode_responses); ours are bytes.
    return value.decode() if isinstance(value, bytes) else value


def _text(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {_str(k): _str(v) for k, v in raw.items()}


def _fields(fields: Mapping[str, str]) -> dict[FieldT, EncodableT]:
    """``fields`` as redis-py's hash and stream writers take them.

    Their parameter is a dict or mapping keyed by any encodable type, and a mapping's key type
    is invariant, so a ``dict[str, str]`` is not one: copied into a dict of the wider type."""
    return {k: v for k, v in fields.items()}


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
        self.client.hset(self._key("user", name), mapping=_fields(fields))
        return self._account(name, fields)

    def get_user(self, name: str) -> Account | None:
        raw = self.client.hgetall(self._key("user", name)) if NAME.match(name) else {}
        return self._account(name, _text(raw)) if raw else None

    def list_users(self) -> list[Account]:
        names = sorted(map(_str, self.client.smembers(self._key("users"))))
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
            _hasher.verify(raw.get("hash") or _dummy_hash(), password)
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
        pipe.hset(self._key("kiosk", kiosk_id), mapping=_fields(fields))
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
        ids = sorted(map(_str, self.client.smembers(self._key("kiosks"))))
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
            value = _str(value)
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
        secret = self.client.get(self._key("secret"))
        if secret is None:  # deleted between the two commands (a FLUSHALL): nothing to sign with
            raise redis.RedisError(f"{self._key('secret')} vanished as it was set")
        return _str(secret)

    def audit(self, maxlen: int = 1_000_000, **fields: str) -> None:
        """What a signed-in person or wall did (and what they were refused)."""
        entry = {"at": _now(), **{k: str(v) for k, v in fields.items()}}
        self.client.xadd(self._key("audit"), _fields(entry), maxlen=maxlen, approximate=True)

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
        self.client.xadd(
            self._key("audit", "anonymous"), _fields(entry), maxlen=maxlen, approximate=True
        )
        return True

    def audit_tail(self, count: int = 20) -> list[dict[str, str]]:
        """The latest entries of both audit streams, newest first."""
        rows: list[tuple[str, dict[str, str]]] = []
        for stream in (self._key("audit"), self._key("audit", "anonymous")):
            # redis-py's entry type allows a None id or body (XCLAIM's deleted entries); a range
            # read never has one, and would be one entry short rather than fail if it did.
            for sid, fields in self.client.xrevrange(stream, count=count) or []:
                if sid is not None and fields is not None:
                    rows.append((_str(sid), _text(fields)))
        rows.sort(key=lambda row: tuple(map(int, row[0].split("-"))), reverse=True)
        return [{"sid": sid, **fields} for sid, fields in rows[:count]]


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"passwords need at least {MIN_PASSWORD} characters")


def generate_password() -> str:
    return secrets.token_urlsafe(12)
