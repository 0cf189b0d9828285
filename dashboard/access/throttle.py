"""The sign-in throttle: slows password guessing without letting anyone lock a person out.

Its counters live in the accounts' Redis under ``<p>:login:*`` (``<p>`` is the key prefix), so
every dashboard process counts the same tries; see ``LoginThrottle`` for the rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import limits
import redis

TRUST_DAYS = 30  # an address stays trusted for a name this long after a sign-in as it


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
