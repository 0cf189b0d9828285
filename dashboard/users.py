"""Accounts, kiosk tokens and the audit stream, kept in Redis under the key prefix.

Why Redis and not SQLite: every dashboard process and the CLI already share one Redis, so an
account removed or a token revoked anywhere is seen by every process's next revocation check
(once a second) with no second database to deploy, back up or keep in step across hosts; a
SQLite file would be per host and would make a multi-process deployment disagree about who is
signed in. The price: Redis must persist (AOF) and be reachable only by OneMap, which it
already must be, since whoever can write to it can also forge the feed.

Keys (``<p>`` is the prefix): ``<p>:users`` (set of names), ``<p>:user:<name>`` (hash),
``<p>:kiosks`` (set of ids), ``<p>:kiosk:<id>`` (hash), ``<p>:audit`` (stream),
``<p>:ended:<session id>`` (signed-out sessions, until they would have expired),
``<p>:secret`` (the session-signing key when none is configured), ``<p>:ratelimit*``
(flask-limiter's counters).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ROLES = ("wall", "duty", "leader", "admin")
NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 10
_hasher = PasswordHasher()  # argon2id with the RFC 9106 low-memory parameters
# Verified against when a name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


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
        entry = {"at": _now(), **{k: str(v) for k, v in fields.items()}}
        self.client.xadd(self._key("audit"), entry, maxlen=maxlen, approximate=True)  # type: ignore[arg-type]

    def audit_tail(self, count: int = 20) -> list[dict[str, str]]:
        rows = self.client.xrevrange(self._key("audit"), count=count)
        return [{"sid": sid.decode(), **_text(fields)} for sid, fields in rows]


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"passwords need at least {MIN_PASSWORD} characters")


def generate_password() -> str:
    return secrets.token_urlsafe(12)
