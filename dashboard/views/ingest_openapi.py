"""The ingest API's OpenAPI 3 description, served at ``GET /api/v1/openapi.json``.

Written by hand from the same constants the endpoint uses, so the limits it states are the
ones enforced. The message schemas are the contract's outline; docs/feeds.md has every rule.
"""

from __future__ import annotations

from typing import Any

from dashboard.access.producers import RIGHTS_REASONS
from feeds.catalogue import (
    CATEGORIES,
    PRODUCER_SOURCES,
    SEVERITIES,
    STEP_TYPES,
    WORKER_STATUSES,
)
from feeds.schema import MAX_MESSAGE_BYTES, REJECTION_REASONS

_ID = {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"}
_TIME = {"type": "string", "format": "date-time", "description": "ISO 8601 with an offset"}


def _event() -> dict[str, Any]:
    area = {
        "type": "object",
        "additionalProperties": False,
        "required": ["county", "town"],
        "properties": {
            "county": {"type": "string", "pattern": "^[0-9]{6}$"},
            "town": {"type": "string", "pattern": "^[0-9]{9}$"},
            "village": {"type": ["string", "null"], "pattern": "^[0-9]{12}$"},
            "grid": {"type": ["string", "null"], "pattern": "^[0-9]{15}$"},
        },
    }
    required = ["kind", "id", "seq", "type", "ts", "category", "level", "area", "lon", "lat",
                "source", "title", "deadline"]  # fmt: skip
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": {
            "kind": {"const": "event"},
            "id": _ID,
            "seq": {"type": "integer", "minimum": 1, "maximum": 10000},
            "type": {"enum": list(STEP_TYPES)},
            "ts": _TIME,
            "category": {"enum": sorted(CATEGORIES)},
            "level": {"type": "integer", "minimum": 1, "maximum": 5},
            "area": area,
            "lon": {"type": "number", "description": "WGS84"},
            "lat": {"type": "number", "description": "WGS84"},
            "source": {"enum": list(PRODUCER_SOURCES)},
            "reporter": {**_ID, "type": ["string", "null"]},
            "title": {"type": "string", "minLength": 1, "maxLength": 100},
            "detail": {"type": "string", "maxLength": 2000},
            "deadline": _TIME,
            "severity": {"enum": [*SEVERITIES, None]},
        },
    }


def _position() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "worker", "ts", "lon", "lat", "grid", "status"],
        "properties": {
            "kind": {"const": "position"},
            "worker": _ID,
            "ts": _TIME,
            "lon": {"type": "number"},
            "lat": {"type": "number"},
            "grid": {"type": "string", "pattern": "^[0-9]{15}$"},
            "status": {"enum": list(WORKER_STATUSES)},
            "battery": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
            "accuracy": {"type": ["number", "null"], "minimum": 0, "maximum": 10000},
        },
    }


def _result() -> dict[str, Any]:
    reasons = sorted({*REJECTION_REASONS, *RIGHTS_REASONS, "internal_error"})
    return {
        "oneOf": [
            {
                "type": "object",
                "required": ["status", "sid"],
                "properties": {
                    "status": {"enum": ["accepted", "duplicate"]},
                    "sid": {
                        "type": "string",
                        "description": "stream id in the log; for a "
                        "duplicate, the one it got when first accepted",
                    },
                },
            },
            {
                "type": "object",
                "required": ["status", "reason", "detail"],
                "properties": {
                    "status": {"const": "rejected"},
                    "reason": {"enum": reasons},
                    "detail": {"type": "string"},
                },
            },
        ]
    }


def _answer(description: str, schema: str = "Error", **headers: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if headers:
        answer["headers"] = {h: {"schema": {"type": t}} for h, t in headers.items()}
    return answer


def openapi_document() -> dict[str, Any]:
    from dashboard.views.ingest_api import MAX_BODY_BYTES, MAX_MESSAGES, MAX_SENT_BYTES

    message = {"$ref": "#/components/schemas/Message"}
    batch = {"type": "array", "maxItems": MAX_MESSAGES, "items": message}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OneMap ingest API",
            "version": "1",
            "description": (
                "Send incident steps and worker positions to OneMap with a producer key "
                "(`onemap producer add`). Every message is checked by the feed contract "
                "(docs/feeds.md), then against the key's scope, sources and right to send "
                f"positions. Up to {MAX_MESSAGES} messages and {MAX_SENT_BYTES} bytes as sent "
                f"({MAX_BODY_BYTES} decompressed) per request; each message at most "
                f"{MAX_MESSAGE_BYTES} bytes. Retrying is safe: a step accepted before (same "
                "id and seq) answers `duplicate` with its first stream id."
            ),
        },
        "components": {
            "securitySchemes": {"producerKey": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Event": _event(),
                "Position": _position(),
                "Message": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Event"},
                        {"$ref": "#/components/schemas/Position"},
                    ]
                },
                "Result": _result(),
                "Results": {
                    "type": "object",
                    "required": ["accepted", "duplicate", "rejected", "results"],
                    "properties": {
                        "accepted": {"type": "integer"},
                        "duplicate": {"type": "integer"},
                        "rejected": {"type": "integer"},
                        "results": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Result"},
                        },
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
            },
        },
        "security": [{"producerKey": []}],
        "paths": {
            "/api/v1/messages": {
                "post": {
                    "summary": "Send a batch of messages",
                    "operationId": "sendMessages",
                    "parameters": [
                        {
                            "name": "Content-Encoding",
                            "in": "header",
                            "required": False,
                            "schema": {"enum": ["gzip", "identity"]},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": batch},
                            "application/x-ndjson": {
                                "schema": {"type": "string", "description": "one message per line"},
                            },
                        },
                    },
                    "responses": {
                        "200": _answer("one result per message, in order", "Results"),
                        "400": _answer("the body is not a JSON array, or not gzip"),
                        "401": _answer(
                            "no key, or a key unknown or revoked", **{"WWW-Authenticate": "string"}
                        ),
                        "403": _answer(
                            "no message of the request lies within the key's rights (and "
                            "one at least lies outside them); every message still has its "
                            "result",
                            "Results",
                        ),
                        "413": _answer("too many messages, or a body too big"),
                        "415": _answer("another Content-Type or Content-Encoding"),
                        "429": _answer("over the key's rate", **{"Retry-After": "integer"}),
                        "503": _answer(
                            "storage unavailable: retry (it is safe)", **{"Retry-After": "integer"}
                        ),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document (for a key holder or a signed-in person)",
                    "operationId": "openapi",
                    "responses": {
                        "200": {"description": "OpenAPI 3.1"},
                        "401": _answer("no valid key and no session"),
                    },
                }
            },
        },
    }
