"""The briefing's figures as an Excel workbook, in the style of the desk's export
(``dashboard.views.export``): one sheet per table, a bold frozen header, sized columns, real
numbers and dates (China time, without a zone: Excel has none), rates as percent cells shown
with the decimals the screens show them with."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from dashboard.analytics.percent import percent
from dashboard.briefing.gather import KPIS, Briefing
from dashboard.views.export import TIME, cell

COUNT = "#,##0"
MEAN = "#,##0.0"
SCORE = "0.0"
HOURS = '0.0" 小时"'
DAY = "yyyy-mm-dd"
AREA_COUNTS = ("reported", "closed", "open", "overdue", "due")
AREA_RATES = ("disposal_rate", "on_time_rate", "self_closure_rate")
COLOUR_NAMES = {"green": "绿", "yellow": "黄", "red": "红"}

Column = tuple[str, int]  # (header, width in characters)


def workbook(b: Briefing) -> bytes:
    from openpyxl import Workbook  # only briefings and exports need it

    book = Workbook(write_only=True)
    _kpis(book, b)
    _areas(book, b)
    _categories(book, b)
    _trend(book, b)
    _overdue(book, b)
    _about(book, b)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet(book: Any, title: str, columns: Sequence[Column]) -> Any:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(title)
    for n, (_name, width) in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(n)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name, _width in columns:
        head = cell(sheet, name)
        head.font = bold
        header.append(head)
    sheet.append(header)
    return sheet


def _number(sheet: Any, value: float | int | None, style: str) -> Any:
    from openpyxl.cell import WriteOnlyCell

    if value is None:
        return cell(sheet, "—")
    target = WriteOnlyCell(sheet, value=value)
    target.number_format = style
    return target


def rate_format(value: float | None) -> str:
    """The percent format that shows ``value`` with the decimals ``percent`` gives it."""
    text = percent(value)
    decimals = len(text.partition(".")[2]) if "." in text else 1
    return "0." + "0" * decimals + "%"


def _rate(sheet: Any, value: float | int | None) -> Any:
    return _number(sheet, value, rate_format(None if value is None else float(value)))


def _moment(sheet: Any, value: datetime | date | None, style: str = TIME) -> Any:
    from openpyxl.cell import WriteOnlyCell

    if value is None:
        return cell(sheet, "")
    naive = value.replace(tzinfo=None) if isinstance(value, datetime) else value
    target = WriteOnlyCell(sheet, value=naive)
    target.number_format = style
    return target


def _kpis(book: Any, b: Briefing) -> None:
    sheet = _sheet(
        book,
        "核心指标",
        [
            ("指标", 16),
            ("当日", 12),
            (b.previous_label, 12),
            ("增减", 12),
            ("近7日均值", 12),
            ("均值天数", 10),
        ],
    )
    for key, label, kind in KPIS:
        now, before, mean = b.kpis.get(key), b.previous.get(key), b.means.get(key)
        diff = None if now is None or before is None else now - before
        if kind == "rate":
            cells = [
                _rate(sheet, now),
                _rate(sheet, before),
                _number(sheet, diff, "+0.00%;-0.00%;0.00%"),
                _rate(sheet, mean),
            ]
        else:
            cells = [
                _number(sheet, now, COUNT),
                _number(sheet, before, COUNT),
                _number(sheet, diff, "+#,##0;-#,##0;0"),
                _number(sheet, mean, MEAN),
            ]
        sheet.append([cell(sheet, label), *cells, _number(sheet, b.mean_days.get(key, 0), "0")])


def _areas(book: Any, b: Briefing) -> None:
    columns = [
        ("区域", 18),
        ("代码", 11),
        ("上报", 9),
        ("办结", 9),
        ("在办", 9),
        ("超期", 8),
        ("应办结", 9),
        ("处置率", 10),
        ("按期办结率", 11),
        ("网格自办结率", 12),
        ("治理指数", 10),
        ("颜色", 6),
        ("较前日", 9),
        ("主要扣分原因", 70),
    ]
    sheet = _sheet(book, "区域", columns)
    for area in [b.own, *b.areas]:
        f = b.kpis if area is b.own else area.figures
        change = None
        if area.score is not None and area.score_before is not None:
            change = round(area.score - area.score_before, 1)
        sheet.append(
            [
                cell(sheet, area.name),
                cell(sheet, area.code),
                *[
                    _number(sheet, f.get(k), COUNT)
                    for k in ("reported", "closed", "open", "overdue", "due")
                ],
                *[
                    _rate(sheet, f.get(k))
                    for k in ("disposal_rate", "on_time_rate", "self_closure_rate")
                ],
                _number(sheet, area.score, SCORE),
                cell(sheet, COLOUR_NAMES.get(area.colour or "", "")),
                _number(sheet, change, "+0.0;-0.0;0.0"),
                cell(sheet, "；".join(area.why)),
            ]
        )


def _categories(book: Any, b: Briefing) -> None:
    sheet = _sheet(book, "事件类别", [("事件类别", 18), ("代码", 8), ("上报", 9), ("占比", 9)])
    total = sum(n for _c, _name, n in b.categories)
    for code, name, n in b.categories:
        sheet.append(
            [
                cell(sheet, name),
                cell(sheet, code),
                _number(sheet, n, COUNT),
                _rate(sheet, n / total if total else None),
            ]
        )


def _trend(book: Any, b: Briefing) -> None:
    sheet = _sheet(book, "近8日趋势", [("日期", 12), ("上报", 9), ("办结", 9), ("来源", 9)])
    for row in b.series:
        sheet.append(
            [
                _moment(sheet, date.fromisoformat(str(row["day"])), DAY),
                _number(sheet, row.get("reported"), COUNT),
                _number(sheet, row.get("closed"), COUNT),
                cell(sheet, {"archive": "归档", "log": "日志"}.get(str(row.get("source")), "无")),
            ]
        )
    hours = _sheet(book, "当日分时", [("小时", 8), ("上报", 9)])
    for hour, n in enumerate(b.hours):
        hours.append([_number(hours, hour, "0"), _number(hours, n, COUNT)])


def _overdue(book: Any, b: Briefing) -> None:
    columns = [
        ("事件编号", 24),
        ("类别", 12),
        ("区县", 10),
        ("街镇", 14),
        ("标题", 40),
        ("层级", 6),
        ("上报时间", 17),
        ("办理时限", 17),
        ("已超期", 12),
    ]
    sheet = _sheet(book, "超期事件", columns)
    for r in b.overdue:
        sheet.append(
            [
                cell(sheet, r["id"]),
                cell(sheet, r["category"]),
                cell(sheet, r["county"]),
                cell(sheet, r["town"]),
                cell(sheet, r["title"]),
                _number(sheet, r["level"], "0"),
                _moment(sheet, datetime.fromisoformat(r["reported"])),
                _moment(sheet, datetime.fromisoformat(r["deadline"])),
                _number(sheet, r["late_h"], HOURS),
            ]
        )


def _about(book: Any, b: Briefing) -> None:
    sheet = _sheet(book, "说明", [("项目", 14), ("内容", 60)])
    for name, value in (
        ("区域", cell(sheet, f"{b.name}（{b.area}）")),
        ("日期", _moment(sheet, b.day, DAY)),
        ("数据截至", _moment(sheet, b.moment)),
        ("生成于", _moment(sheet, b.generated)),
        ("超期事件", _number(sheet, b.overdue_total, COUNT)),
        ("口径", cell(sheet, "见 docs/briefing.md 与 docs/metrics.md；时间均为北京时间")),
    ):
        sheet.append([cell(sheet, name), value])
