"""The duty desk's endpoints: table blocks over Socket.IO (``duty_rows``), CSV/Excel export.

Blocks are answered by ``DutyQuery`` (dashboard.views.duty_query) from the live state, inside
the asker's jurisdiction, with free text revealed only to roles that may see it. Exports run
the same query without the block limit and are audited.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue

from dashboard.access.auth import DETAIL_ROLES, Access
from dashboard.cold.store import ColdStore
from dashboard.live.inbound import Caller, DutyRowsAsk, Reply, SocketApi
from dashboard.live.livestate import LiveState
from dashboard.views.duty_query import DutyQuery
from dashboard.views.search import Filter
from dashboard.views.table import rows

EXPORT_MAX = 100_000
EXPORT_COLUMNS = [
    ("id", "事件编号"),
    ("reported", "上报时间"),
    ("category", "类别"),
    ("platform", "平台"),
    ("level", "当前层级"),
    ("place", "地点"),
    ("source", "来源"),
    ("title", "标题"),
    ("status", "状态"),
    ("deadline", "办理时限"),
    ("left", "剩余/超期"),
]


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
        column = request.args.get("sort", "reported")
        geo = self.live.geo
        _total, found = self.query.ordered(who, f, column, True, EXPORT_MAX)
        now = datetime.now(UTC)
        table, plain = rows(found, geo, now, self.query.marks(), who.sees_pii)
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
        stamp = now.strftime("%Y%m%d-%H%M")
        if fmt == "csv":
            body = _csv(table)
            mime = "text/csv; charset=utf-8"
        else:
            body = _xlsx(table)
            mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(
            body,
            mimetype=mime,
            headers={"Content-Disposition": f'attachment; filename="onemap-{stamp}.{fmt}"'},
        )


def _csv(table: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([name for _key, name in EXPORT_COLUMNS])
    for r in table:
        writer.writerow([_csv_cell(r[key]) for key, _name in EXPORT_COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM: Excel then reads UTF-8


def _xlsx(table: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook  # only exports need it

    book = Workbook(write_only=True)
    sheet = book.create_sheet("事件")
    sheet.append([name for _key, name in EXPORT_COLUMNS])
    for r in table:
        sheet.append([_xlsx_cell(sheet, r[key]) for key, _name in EXPORT_COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _csv_cell(value: object) -> str:
    """Field text cannot become a formula when a spreadsheet opens the CSV (CSV injection):
    a CSV has no types, so a leading quote is the only way to say "text"."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _xlsx_cell(sheet: Any, value: object) -> Any:
    """A text cell, typed as one: shown as it is (no added quote), never read as a formula.

    openpyxl makes a string that starts with ``=`` a formula; the explicit type makes it an
    inline string, which Excel shows and never evaluates. Characters XML cannot hold (C0
    controls a log written before the contract refused them may still carry) become U+FFFD.
    """
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("\ufffd", str(value)))
    cell.data_type = "s"
    return cell
