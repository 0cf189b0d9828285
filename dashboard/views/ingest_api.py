"""The ingest API: producers send messages over HTTP with a scoped key, never touching Redis.

``POST /api/v1/messages`` with ``Authorization: Bearer <key>`` takes a JSON array or NDJSON
(gzip allowed), checks each message with the same contract as ``onemap publish``
(``feeds.schema.validate``), then against the key's rights (``Producer.refusal``), and answers
one result per message, in order: accepted (its stream id), duplicate (the stream id it got
when first accepted: retries are safe, ``Bus.publish_once``) or rejected (a reason code). A
refused message is dead-lettered like any other. docs/api.md is the producer's version.

No session and no cookie is read here (the session gate lets these paths through,
``dashboard.access.auth.BEARER_PATHS``), so there is nothing for CSRF to forge; and nothing
is ever answered but what the request itself sent.
"""

from __future__ import annotations

import logging
import math
import zlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec
import redis
from flask import Flask, Response, request

from dashboard.access.auth import INGEST_PATH, OPENAPI_PATH, Access
from dashboard.access.producers import RIGHTS_REASONS, Producer, ProducerStore
from dashboard.config import Settings
from dashboard.views.ingest_openapi import openapi_document
from feeds.bus import Bus
from feeds.geo import Geography
from feeds.schema import Limits, Message, Rejection, validate

log = logging.getLogger(__name__)

MAX_SENT_BYTES = 4 * 2**20  # the body as sent (compressed, if it is)
MAX_BODY_BYTES = 8 * 2**20  # the body once decompressed
MAX_MESSAGES = 5000  # per request
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl"})


@dataclass(frozen=True, slots=True)
class Refusal:
    """A whole request refused before any message is looked at."""

    status: int
    error: str


def memory_s(settings: Settings) -> int:
    """How long a step's (id, seq) stays claimed: longer than any step validation lets in."""
    return settings.max_age_h * 3600 + settings.max_future_s + 60


def limits_of(settings: Settings) -> Limits:
    return Limits(timedelta(seconds=settings.max_future_s), timedelta(hours=settings.max_age_h))


class IngestApi:
    def __init__(
        self, producers: ProducerStore, bus: Bus, geo: Geography, access: Access, settings: Settings
    ) -> None:
        self.producers = producers
        self.bus = bus
        self.geo = geo
        self.access = access
        self.limits = limits_of(settings)
        # A step is remembered as long as validation could let the same step in again.
        self.memory_s = memory_s(settings)
        self._openapi = msgspec.json.encode(openapi_document())

    def install(self, server: Flask) -> None:
        server.add_url_rule(INGEST_PATH, "ingest_messages", self.messages, methods=["POST"])
        server.add_url_rule(OPENAPI_PATH, "ingest_openapi", self.openapi)

    # -- the endpoints ---------------------------------------------------------------------
    def messages(self) -> Response:
        try:
            return self._messages()
        except redis.RedisError as exc:  # what was appended stays; a retry gets its ids back
            log.warning("ingest API: redis unavailable: %s", exc)
            answer = _json({"error": "storage unavailable, retry later"}, 503)
            answer.headers["Retry-After"] = "5"
            return answer

    def openapi(self) -> Response:
        """The API's description, for a key holder or a signed-in person (nobody else)."""
        if self._producer() is None and self.access.current() is None:
            return _unauthorized()
        return Response(self._openapi, 200, mimetype="application/json")

    def _messages(self) -> Response:
        producer = self._producer()
        if producer is None:
            key = _bearer().partition(".")[0][:16]
            self.access.audit_anonymous("ingest_refused", key=key, status="401")
            return _unauthorized()
        raws = _split(request.mimetype, _read_body())
        if isinstance(raws, Refusal):
            self._refused(producer, raws.status, raws.error)
            return _json({"error": raws.error}, raws.status)
        wait = self.producers.take(producer, len(raws))
        if wait > 0:
            self._refused(producer, 429, "rate limited")
            answer = _json({"error": f"over {producer.rate:g} messages a second"}, 429)
            answer.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return answer
        results, counts = self._ingest(producer, raws)
        # Nothing in the request within the key's rights, and something outside them: the
        # key is the wrong one for this feed (a 403), though every message has its result.
        status = 403 if counts["accepted"] + counts["duplicate"] == 0 and counts["rights"] else 200
        self.access.audit(
            "ingest",
            f"producer:{producer.id}",
            producer=producer.id,
            status=str(status),
            messages=str(len(raws)),
            accepted=str(counts["accepted"]),
            duplicate=str(counts["duplicate"]),
            rejected=str(counts["rejected"]),
        )
        return _json(
            {**{k: v for k, v in counts.items() if k != "rights"}, "results": results}, status
        )

    # -- the work --------------------------------------------------------------------------
    def _ingest(
        self, producer: Producer, raws: list[bytes]
    ) -> tuple[list[dict[str, str]], dict[str, int]]:
        checked = [self._check(producer, raw) for raw in raws]
        fresh = [m for m in checked if not isinstance(m, Rejection)]
        published = iter(self.bus.publish_once(fresh, self.memory_s))
        results: list[dict[str, str]] = []
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "rights": 0}
        for raw, outcome in zip(raws, checked, strict=True):
            if isinstance(outcome, Rejection):
                self.bus.dead_letter(raw, outcome)
                counts["rejected"] += 1
                counts["rights"] += outcome.reason in RIGHTS_REASONS
                detail = outcome.detail if outcome.reason != "internal_error" else "kept for us"
                results.append({"status": "rejected", "reason": outcome.reason, "detail": detail})
                continue
            sid, appended = next(published)
            status = "accepted" if appended else "duplicate"
            counts[status] += 1
            results.append({"status": status, "sid": sid})
        return results, counts

    def _check(self, producer: Producer, raw: bytes) -> Message | Rejection:
        """The contract, then the key's rights; never raises (as ``Bus.ingest``)."""
        try:
            result = validate(raw, self.geo, self.limits)
            if isinstance(result, Rejection):
                return result
            return producer.refusal(result) or result
        except Exception as exc:  # a bug meeting input nobody foresaw: one message, not all
            log.exception("internal error checking a message; dead-lettered")
            return Rejection("internal_error", f"{type(exc).__name__}: {exc}")

    def _producer(self) -> Producer | None:
        key = _bearer()
        return self.producers.authenticate(key) if key else None

    def _refused(self, producer: Producer, status: int, error: str) -> None:
        # Into the anonymous trail, counted per address and minute: a client looping on a bad
        # request or its rate limit must not push the trail of real work out of the audit.
        self.access.audit_anonymous(
            "ingest_refused", producer=producer.id, status=str(status), error=error
        )


def _bearer() -> str:
    scheme, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def _read_body() -> bytes | Refusal:
    """The body, decompressed, each size capped (413) before more is read or inflated."""
    if (request.content_length or 0) > MAX_SENT_BYTES:
        return Refusal(413, f"body over {MAX_SENT_BYTES} bytes")
    sent = request.stream.read(MAX_SENT_BYTES + 1)
    if len(sent) > MAX_SENT_BYTES:
        return Refusal(413, f"body over {MAX_SENT_BYTES} bytes")
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return sent
    if encoding != "gzip":
        return Refusal(415, "Content-Encoding must be gzip or none")
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = inflate.decompress(sent, MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        return Refusal(400, f"not gzip: {exc}")
    if len(body) > MAX_BODY_BYTES:
        return Refusal(413, f"body over {MAX_BODY_BYTES} bytes once decompressed")
    if not inflate.eof or inflate.unused_data:
        return Refusal(400, "gzip stream truncated, or more than one member")
    return body


def _split(mimetype: str, body: bytes | Refusal) -> list[bytes] | Refusal:
    """Each message's own bytes, as sent: a JSON array's elements or NDJSON's non-blank lines."""
    if isinstance(body, Refusal):
        return body
    if mimetype == "application/json":
        try:
            raws = [bytes(r) for r in msgspec.json.decode(body, type=list[msgspec.Raw])]
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
            return Refusal(400, f"not a JSON array: {exc}"[:300])
    elif mimetype in NDJSON_TYPES:
        raws = [line.rstrip(b"\r") for line in body.split(b"\n") if line.strip()]
    else:
        return Refusal(415, "Content-Type must be application/json or application/x-ndjson")
    if len(raws) > MAX_MESSAGES:
        return Refusal(413, f"over {MAX_MESSAGES} messages in one request")
    return raws


def _unauthorized() -> Response:
    answer = _json({"error": "a valid producer key is required (Authorization: Bearer)"}, 401)
    answer.headers["WWW-Authenticate"] = 'Bearer realm="onemap"'
    return answer


def _json(payload: dict[str, Any], status: int) -> Response:
    return Response(msgspec.json.encode(payload), status, mimetype="application/json")
