"""Open311 GeoReport v2 (wiki.open311.org/GeoReport_v2), the API FixMyStreet and city 311
systems speak, over OneMap's producer keys.

``GET /open311/v2/services.{json,xml}`` lists the catalogue; ``POST requests.{json,xml}``
(form-encoded) makes a ``reported`` step (``dashboard.views.open311_intake``) through the same
contract and rights as ``POST /api/v1/messages`` and ``Bus.publish_once``; ``GET
requests.{json,xml}`` and ``requests/<id>.{json,xml}`` read requests back from the live state
(one by id also from the archive), mapped from their lifecycle (``open311_format``).

Every endpoint wants a producer key as ``api_key`` (a form field, a query parameter or
``Authorization: Bearer``) and answers in the spec's error format otherwise: 403 for a missing
or invalid key, as the spec's examples do. A key sees only requests made through Open311 in its
own scope. The session gate lets ``/open311/v2/`` through (``dashboard.access.auth``); no
cookie is read here. docs/api.md is the client's version.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from dashboard.access.auth import OPEN311_PATH, Access
from dashboard.access.producers import RIGHTS_REASONS, Producer, ProducerStore
from dashboard.cold.store import ColdStore
from dashboard.config import Settings
from dashboard.incident import Incident
from dashboard.live.livestate import LiveState
from dashboard.views.ingest_api import limits_of
from feeds.bus import Bus
from feeds.geo import contains
from feeds.schema import EventMessage, Rejection, encode, validate

from .open311_format import document, error, notice, request_row, services
from .open311_intake import ID_PREFIX, MAX_TOKEN, Fault, Locator, report
from .open311_search import Query, parse_query, requested_at

log = logging.getLogger(__name__)

FORMATS = ("json", "xml")
MAX_FORM_BYTES = 64 * 1024
MAX_IDS = 100  # service_request_id values in one GET
MAX_RESULTS = 1000  # the spec's suggested cap on a search
DEFAULT_WINDOW = timedelta(days=90)  # the spec's default span when no dates are given
_ID = re.compile(r"^o311-[0-9a-f]{24}$")
_Work = Callable[[Producer], Response]


class Open311:
    def __init__(
        self,
        producers: ProducerStore,
        bus: Bus,
        access: Access,
        live: LiveState,
        cold: ColdStore | None,
        settings: Settings,
    ) -> None:
        self.producers, self.bus, self.access = producers, bus, access
        self.live, self.cold = live, cold
        self.locator = Locator(live.geo)
        self.limits = limits_of(settings)
        self.memory_s = settings.max_age_h * 3600 + settings.max_future_s + 60

    def install(self, server: Flask) -> None:
        base = OPEN311_PATH.rstrip("/")
        rules: list[tuple[str, str, Callable[..., Response], list[str]]] = [
            ("services.<fmt>", "services", self.services, ["GET"]),
            ("requests.<fmt>", "requests", self.requests, ["GET", "POST"]),
            ("requests/<request_id>.<fmt>", "request", self.one, ["GET"]),
            ("<path:rest>", "unknown", self.unknown, ["GET", "POST"]),
        ]
        for path, name, view, methods in rules:
            server.add_url_rule(f"{base}/{path}", f"open311_{name}", view, methods=methods)

    # -- the endpoints ---------------------------------------------------------------------
    def services(self, fmt: str) -> Response:
        return self._answer(fmt, lambda p: document(services(), "service", fmt))

    def requests(self, fmt: str) -> Response:
        if request.method == "POST":
            return self._answer(fmt, lambda p: self._create(p, fmt))
        return self._answer(fmt, lambda p: self._search(p, fmt))

    def one(self, request_id: str, fmt: str) -> Response:
        def find(producer: Producer) -> Response:
            if not self.live.ready.is_set():
                return _not_ready(fmt)
            rows = self._by_ids(producer, [request_id])
            if not rows:
                return error(404, f"service_request_id {request_id[:40]!r} not found", fmt)
            self._audit(producer, status="200", results="1")
            return document(rows, "request", fmt)

        return self._answer(fmt, find)

    def unknown(self, rest: str) -> Response:
        fmt = rest.rpartition(".")[2]
        return self._answer(fmt, lambda p: error(404, "no such Open311 resource", fmt))

    # -- around every endpoint: the key, the format, the rate, the audit -------------------
    def _answer(self, fmt: str, work: _Work) -> Response:
        request.max_content_length = MAX_FORM_BYTES  # form parsing stops there, with a 413
        try:
            producer = self.producers.authenticate(_api_key())
            if producer is None:
                self.access.audit_anonymous("open311_refused", status="403", path=request.path)
                return error(403, "a valid api_key is required", fmt)
            if fmt not in FORMATS:
                return self._refused(producer, error(404, "format must be .json or .xml", fmt))
            wait = self.producers.take(producer, 1)
            if wait > 0:
                answer = error(429, f"over {producer.rate:g} requests a second", fmt)
                answer.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                return self._refused(producer, answer)
            answer = work(producer)
            if answer.status_code >= 400:
                return self._refused(producer, answer)
            return answer
        except HTTPException as exc:  # a body too big or unreadable, found while parsing it
            return error(exc.code or 400, exc.description or exc.name, fmt)
        except redis.RedisError as exc:
            log.warning("open311: redis unavailable: %s", exc)
            answer = error(503, "storage unavailable, retry later", fmt)
            answer.headers["Retry-After"] = "5"
            return answer

    def _refused(self, producer: Producer, answer: Response) -> Response:
        self.access.audit_anonymous(
            "open311_refused", producer=producer.id, status=str(answer.status_code),
            path=request.path,
        )  # fmt: skip
        return answer

    def _audit(self, producer: Producer, **fields: str) -> None:
        self.access.audit(
            "open311", f"producer:{producer.id}", producer=producer.id, method=request.method,
            path=request.path, **fields,
        )  # fmt: skip

    # -- POST requests ---------------------------------------------------------------------
    def _create(self, producer: Producer, fmt: str) -> Response:
        token = request.headers.get("Idempotency-Key", "").strip()
        if len(token) > MAX_TOKEN:
            return error(400, f"Idempotency-Key over {MAX_TOKEN} characters", fmt)
        built = report(request.form, producer.id, token, self.locator)
        if isinstance(built, Fault):
            return error(built.status, built.description, fmt)
        raw = encode(built)
        checked = validate(raw, self.live.geo, self.limits)
        checked = checked if isinstance(checked, Rejection) else producer.refusal(checked) or built
        if isinstance(checked, Rejection):
            self.bus.dead_letter(raw, checked)
            status = 403 if checked.reason in RIGHTS_REASONS else 400
            return error(status, f"{checked.reason}: {checked.detail}"[:300], fmt)
        assert isinstance(checked, EventMessage)
        _sid, appended = self.bus.publish_once([checked], self.memory_s)[0]
        self._audit(producer, status="200", incident=built.id, appended="1" if appended else "0")
        row = {
            "service_request_id": built.id,
            "service_notice": notice(built.area.finest, built.deadline, self.live.geo),
            "account_id": None,
        }
        return document([row], "request", fmt)

    # -- GET requests ----------------------------------------------------------------------
    def _search(self, producer: Producer, fmt: str) -> Response:
        if not self.live.ready.is_set():
            return _not_ready(fmt)
        asked = request.args.get("service_request_id", "")
        ids = [i.strip() for i in asked.split(",") if i.strip()]
        if len(ids) > MAX_IDS:
            return error(400, f"over {MAX_IDS} service_request_id values", fmt)
        if ids:  # the spec: a list of ids overrides every other argument
            rows = self._by_ids(producer, ids)
        else:
            query = parse_query(request.args)
            if isinstance(query, Fault):
                return error(query.status, query.description, fmt)
            rows = self._matching(producer, query)
        self._audit(producer, status="200", results=str(len(rows)))
        return document(rows, "request", fmt)

    def _by_ids(self, producer: Producer, ids: list[str]) -> list[dict[str, object]]:
        wanted = [i for i in dict.fromkeys(ids) if _ID.match(i)]
        found: dict[str, Incident] = {}
        now = datetime.now(UTC)
        with self.live.read() as state:
            for request_id in wanted:
                incident = state.incidents.get(request_id)
                if incident is not None:
                    found[request_id] = incident
        missing = set(wanted) - found.keys()
        if missing and self.cold is not None:  # left memory: the archive, outside the lock
            found.update(self.cold.recall_or_none(missing))
        rows = []
        with self.live.read():  # the bridge adds steps to incidents under its lock
            for request_id in wanted:
                incident = found.get(request_id)
                if incident is not None and _visible(producer, incident):
                    rows.append(request_row(incident, self.live.geo, now))
        return rows

    def _matching(self, producer: Producer, query: Query) -> list[dict[str, object]]:
        now = datetime.now(UTC)
        start = query.start or now - DEFAULT_WINDOW
        with self.live.read() as state:
            chosen = [
                i for i in state.incidents.values()
                if i.id.startswith(ID_PREFIX) and _visible(producer, i) and query.wants(i, start)
            ]  # fmt: skip
            chosen.sort(key=requested_at, reverse=True)
            return [request_row(i, self.live.geo, now) for i in chosen[:MAX_RESULTS]]


def _visible(producer: Producer, incident: Incident) -> bool:
    return incident.id.startswith(ID_PREFIX) and contains(producer.scope, incident.area.finest)


def _not_ready(fmt: str) -> Response:
    answer = error(503, "starting: the live state is not ready yet, retry later", fmt)
    answer.headers["Retry-After"] = "5"
    return answer


def _api_key() -> str:
    key = request.form.get("api_key") if request.method == "POST" else None
    key = key or request.args.get("api_key", "")
    if not key:
        scheme, _, bearer = request.headers.get("Authorization", "").strip().partition(" ")
        key = bearer.strip() if scheme.lower() == "bearer" else ""
    return key.strip()
