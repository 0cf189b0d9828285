"""The duty desk's data: table blocks over Socket.IO (``duty_rows``) and CSV/Excel export.

The table asks block by block as it scrolls (AG Grid's infinite row model), with the filter
and sort it shows; the answer is computed here from the live state, inside the asker's
jurisdiction, with free text revealed only to roles that may see it. Exports are audited.
"""

from __future__ import annotations

import csv
import gc
import io
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request
from flask_socketio import SocketIO

from dashboard.access.auth import DETAIL_ROLES, Access, Principal, SocketGuard
from dashboard.live.actions import as_int
from dashboard.live.push import Pusher
from dashboard.views.search import (
    MAX_BLOCK,
    SETS,
    SORTABLE,
    Filter,
    Marks,
    SearchText,
    matching,
    newest,
    points,
    rows,
    sort,
)

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
    def __init__(self, access: Access, pusher: Pusher) -> None:
        self.access = access
        self.pusher = pusher
        self.search = {True: SearchText(reveal=True), False: SearchText(reveal=False)}

    def install(self, server: Flask, socketio: SocketIO, guard: SocketGuard) -> None:
        def on_rows(data: object = None, *_: object) -> dict[str, Any]:
            who = guard.principal(request.sid)  # type: ignore[attr-defined]
            if who is None or who.role not in DETAIL_ROLES:
                return {"ok": False, "error": "not allowed"}
            if not isinstance(data, dict):
                return {"ok": False, "error": "malformed request"}
            return self.rows(who, data)

        socketio.on_event("duty_rows", on_rows)
        server.add_url_rule("/api/duty/export.<fmt>", "duty_export", self._export)

    # -- queries ---------------------------------------------------------------------------
    def find(self, who: Principal, f: Filter) -> list[Any]:
        state = self.pusher.state
        with self.pusher.lock:  # a consistent list of incidents; filtering runs outside it
            incidents = list(state.incidents.values())
        now = datetime.now(UTC)
        city = state.geo.city.code
        search = self.search[who.sees_pii]
        if len(search.texts) > 2 * len(incidents) + 1000:  # incidents the state has let go
            search.texts = {i.id: search.texts[i.id] for i in incidents if i.id in search.texts}
        return matching(incidents, f, who.scope, city, now, self.marks(), search)

    def marks(self) -> Marks:
        book = self.pusher.actions
        return Marks(book.acknowledged, book.supervised)

    def rows(self, who: Principal, data: dict[str, Any]) -> dict[str, Any]:
        # A query makes ~100,000 short-lived objects (heap entries, lists) and no cycles; left
        # on, the collector would rescan the whole state several times per query (×3 slower).
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._rows(who, data)
        finally:
            if collecting:
                gc.enable()

    def _rows(self, who: Principal, data: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        f = Filter.parse(data.get("filter"))
        column = str(data.get("sort") or "reported")
        column = column if column in SORTABLE else "reported"
        descending = data.get("dir", "desc") != "asc"
        start = max(0, as_int(data.get("start"), 0))
        end = min(start + MAX_BLOCK, max(start, as_int(data.get("end"), start + 100)))
        found = self.find(who, f)
        now = datetime.now(UTC)
        state, marks = self.pusher.state, self.marks()
        wants_points = bool(data.get("points"))
        latest = newest(found) if wants_points else []  # the map draws the newest matches
        if wants_points and column == "reported" and descending and end <= len(latest):
            ordered = latest  # the default view: one pass serves the map and the table
        else:
            ordered = sort(found, column, descending, state.geo, limit=end)
        block, plain = rows(ordered[start:end], state.geo, now, marks, who.sees_pii)
        reply: dict[str, Any] = {
            "ok": True,
            "rows": block,
            "total": len(found),
            "filter": f.query(),
            "last": state.last_sid["events"],
        }
        if wants_points:
            reply["points"] = points(latest, now)
        if plain:
            reply["plain"] = plain  # rows given as plain text (incident_query.rows)
        if f.set:
            reply["set"] = {"key": f.set, "name": SETS[f.set][0]}
        reply["ms"] = round((time.perf_counter() - started) * 1000, 1)
        return reply

    # -- export ----------------------------------------------------------------------------
    def _export(self, fmt: str) -> Any:
        who = self.access.current()
        if who is None or who.role not in DETAIL_ROLES or fmt not in ("csv", "xlsx"):
            return jsonify(error="not found"), 404
        f = Filter.parse(request.args.to_dict())
        column = request.args.get("sort", "reported")
        found = sort(self.find(who, f), column, True, self.pusher.state.geo)[:EXPORT_MAX]
        now = datetime.now(UTC)
        state, marks = self.pusher.state, self.marks()
        table, plain = rows(found, state.geo, now, marks, who.sees_pii)
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
