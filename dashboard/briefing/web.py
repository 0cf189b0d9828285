"""The kept briefings over HTTP, inside the signed-in person's jurisdiction.

``GET /reports``                                    a plain page listing them (the desk's and
                                                    the tablet's 日报 link)
``GET /api/reports``                                the same list as JSON
``GET /api/reports/daily/<YYYY-MM-DD>/<area>.pdf``  one file (``.xlsx`` alike), audited

Roles that may open an incident's detail (duty, leader, admin) may read briefings; a city
account sees the city's and every county's, a county account its own. A briefing outside the
jurisdiction is answered as one that does not exist (404), so its existence is not told.
"""

from __future__ import annotations

from html import escape
from typing import Any

from flask import Flask, Response, jsonify, send_file
from flask.typing import ResponseReturnValue

from dashboard.access.auth import DETAIL_ROLES, Access
from dashboard.access.principal import Principal
from dashboard.briefing.store import Kept, Store
from feeds.geo import Geography, contains

MIME = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
LABEL = {"pdf": "PDF", "xlsx": "Excel"}

PAGE_STYLE = """
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", system-ui, sans-serif; margin: 0;
  background: #f5f6f8; color: #222831; }
main { max-width: 820px; margin: 0 auto; padding: 16px; }
h1 { font-size: 22px; margin: 4px 0 2px; }
p.scope { color: #5b6470; margin: 0 0 14px; }
nav a { color: #3b6fb6; margin-right: 14px; font-size: 15px; }
table { width: 100%; border-collapse: collapse; background: #fff; font-size: 15px; }
th, td { padding: 10px 8px; border-bottom: 1px solid #e1e4e8; text-align: left; }
th { background: #eef1f5; }
a.file { display: inline-block; padding: 6px 12px; margin-right: 6px; border-radius: 6px;
  background: #3b6fb6; color: #fff; text-decoration: none; }
a.file.xlsx { background: #2e7d32; }
"""


class Reports:
    def __init__(self, access: Access, store: Store, geo: Geography) -> None:
        self.access = access
        self.store = store
        self.geo = geo

    def install(self, server: Flask) -> None:
        server.add_url_rule("/reports", "briefing_page", self._page)
        server.add_url_rule("/api/reports", "briefing_list", self._list)
        server.add_url_rule(
            "/api/reports/daily/<day>/<area>.<kind>", "briefing_file", self._download
        )

    def _who(self) -> Principal | None:
        who = self.access.current()
        return who if who is not None and who.role in DETAIL_ROLES else None

    def _list(self) -> ResponseReturnValue:
        who = self._who()
        if who is None:
            return jsonify(error="not found"), 404
        return jsonify(
            scope=who.scope, reports=[self._row(k) for k in self.store.listing(who.scope)]
        )

    def _row(self, kept: Kept) -> dict[str, Any]:
        area = self.geo.area(kept.area)
        day = kept.day.isoformat()
        return {
            "kind": "daily",
            "day": day,
            "area": kept.area,
            "name": area.name if area is not None else kept.area,
            "written": kept.written.isoformat(timespec="seconds"),
            "files": {k: f"/api/reports/daily/{day}/{kept.area}.{k}" for k in kept.kinds},
            "sizes": kept.sizes,
        }

    def _download(self, day: str, area: str, kind: str) -> ResponseReturnValue:
        who = self._who()
        if who is None or not contains(who.scope, area):
            return jsonify(error="not found"), 404
        found = self.store.find(day, area, kind)
        if found is None:
            return jsonify(error="not found"), 404
        self.access.audit(
            "briefing",
            who.name,
            role=who.role,
            scope=who.scope,
            day=day,
            area=area,
            format=kind,
        )
        return send_file(
            found,
            mimetype=MIME[kind],
            as_attachment=True,
            download_name=f"onemap-daily-{day}-{area}.{kind}",
            max_age=0,
        )

    def _page(self) -> ResponseReturnValue:
        who = self._who()
        if who is None:
            return Response("not found", status=404, mimetype="text/plain")
        rows = [self._row(k) for k in self.store.listing(who.scope)]
        scope = self.geo.area(who.scope)
        lines = "".join(
            "<tr><td>{day}</td><td>{name}</td><td>{links}</td></tr>".format(
                day=escape(r["day"]),
                name=escape(r["name"]),
                links="".join(
                    f'<a class="file {k}" href="{escape(url)}">{LABEL[k]}</a>'
                    for k, url in r["files"].items()
                ),
            )
            for r in rows
        )
        table = (
            f"<table><thead><tr><th>日期</th><th>区域</th><th>下载</th></tr></thead>"
            f"<tbody>{lines}</tbody></table>"
            if rows
            else "<p>暂无日报。每日 07:00 自动生成，或运行 <code>onemap report daily</code>。</p>"
        )
        body = (
            '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>日报 · OneMap</title><style>{PAGE_STYLE}</style></head><body><main>"
            '<nav><a href="/duty">值班台</a><a href="/tablet">平板</a></nav>'
            f'<h1>日报</h1><p class="scope">{escape(scope.name if scope else who.scope)}'
            f" · {escape(who.display or who.name)}</p>{table}</main></body></html>"
        )
        return Response(body, mimetype="text/html")
