"""The duty desk's endpoints: table blocks over Socket.IO (``duty_rows``), CSV/Excel export.

Blocks are answered by ``DutyQuery`` (dashboard.views.duty_query) from the live state, inside
the asker's jurisdiction, with free text revealed only to roles that may see it. Exports run
the same query without the block limit and are audited.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue

from dashboard.access.auth import DETAIL_ROLES, Access
from dashboard.cold.store import ColdStore
from dashboard.live.inbound import Caller, DutyRowsAsk, Reply, SocketApi
from dashboard.live.livestate import LiveState
from dashboard.views.duty_query import DutyQuery, sort_of
from dashboard.views.export import csv_body, lines, xlsx
from dashboard.views.search import Filter
from dashboard.views.table import rows
from feeds.schema import CHINA_TZ

EXPORT_MAX = 100_000


class DutyDesk:
    def __init__(
        self, access: Access, live: LiveState, cold: ColdStore | None = None, hot_days: int = 3
    ) -> None:
        self.access = access
        self.live = live
        self.query = DutyQuery(live, cold, hot_days)

    def install(self, server: Flask, api: SocketApi) -> None:
        api.on("duty_rows", DutyRowsAsk, roles=DETAIL_ROLES)(self.on_rows)
        server.add_url_rule("/api/duty/export.<fmt>", "duty_export", self._export)

    def on_rows(self, caller: Caller, asked: DutyRowsAsk) -> Reply:
        return self.query.rows(caller.who, asked)

    # -- export ----------------------------------------------------------------------------
    def _export(self, fmt: str) -> ResponseReturnValue:
        who = self.access.current()
        if who is None or who.role not in DETAIL_ROLES or fmt not in ("csv", "xlsx"):
            return jsonify(error="not found"), 404
        f = Filter.parse(request.args.to_dict())
        column, descending = sort_of(request.args.get("sort"), request.args.get("dir"))
        geo = self.live.geo
        _total, found = self.query.ordered(who, f, column, descending, EXPORT_MAX)
        now = datetime.now(UTC)
        table, plain = rows(found, geo, now, self.query.marks(), who.sees_pii)
        cold = self.query.cold
        archived = {i.id for i in found if not i.detail}
        details = cold.details(archived) if cold is not None and archived else {}
        found_lines = lines(found, table, details, who.sees_pii)
        self.access.audit(
            "export",
            who.name,
            role=who.role,
            scope=who.scope,
            rows=str(len(table)),
            plain=str(plain),
            filter=request.query_string.decode(errors="replace")[:500],
            format=fmt,
        )
        stamp = now.astimezone(CHINA_TZ).strftime("%Y%m%d-%H%M")  # the officer's time
        if fmt == "csv":
            body = csv_body(found_lines, now)
            mime = "text/csv; charset=utf-8"
        else:
            body = xlsx(found_lines)
            mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(
            body,
            mimetype=mime,
            headers={"Content-Disposition": f'attachment; filename="onemap-{stamp}.{fmt}"'},
        )
