"""The dead-letter stream: every refused message kept with its reason, and counted.

Split from ``feeds.bus`` (whose ``Bus`` has it as a mixin) because refusals are their own job:
intake writes them, operators read them back (``onemap deadletters``), and nothing else in the
bus touches them. The Bus owns the client and the key names.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis

from feeds.log_reader import as_text, entries_of
from feeds.schema import Rejection

log = logging.getLogger("feeds.bus")  # the bus's logger: operators filter on it

DETAIL_KEPT = 500  # characters of a rejection's detail kept with the message
RAW_KEPT = 16_384  # bytes of the refused message kept: enough to see what went wrong


class DeadLetters:
    """The dead-letter half of ``feeds.bus.Bus``; the Bus sets these attributes."""

    client: redis.Redis
    keys: dict[str, str]
    deadletter_maxlen: int

    def dead_letter(self, raw: bytes, rejection: Rejection) -> str:
        """Keep a refused message with its reason, and count it."""
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(
            self.keys["deadletter"],
            {
                "reason": rejection.reason,
                "detail": rejection.detail[:DETAIL_KEPT],
                "raw": raw[:RAW_KEPT],
                "at": datetime.now(UTC).isoformat(),
            },
            maxlen=self.deadletter_maxlen,
            approximate=True,
        )
        pipe.hincrby(self.keys["stats"], f"rejected:{rejection.reason}", 1)
        sid = pipe.execute()[0]
        # repr: a detail quoting the message must not put raw escapes on an operator's terminal
        log.warning("rejected message: %s (%r)", rejection.reason, rejection.detail[:200])
        return as_text(sid)

    def dead_letters(self, count: int = 100) -> list[dict[str, str]]:
        """The newest ``count`` refusals, newest first: id, reason, detail, raw, at."""
        rows = entries_of(self.client.xrevrange(self.keys["deadletter"], count=count))
        return [
            {"sid": sid, **{as_text(k): as_text(v) for k, v in fields.items()}}
            for sid, fields in rows
        ]
