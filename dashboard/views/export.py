"""The duty desk's export: every incident the filter matches, as a spreadsheet an officer can
file, sort and hand on (docs/duty.md "Export").

One sheet (``.xlsx``) or one CSV with the same columns: times are real dates with their year,
in China time; the detail is there (masked for roles that may not read personal data, as on
the desk), with the 督办 and 签收 marks. In the sheet the header is bold, frozen and filtered,
the columns sized, and 剩余/超期 is a formula on the deadline and the time the sheet is opened,
so it is never the export's moment frozen; a CSV has no formulas, so its column says when it
was worked out. Field text is never a formula in either (``cell``, ``csv_cell``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dashboard.access.privacy import mask_text
from dashboard.state import CLOSED, Incident
from dashboard.views.search import reported_at
from feeds.schema import CHINA_TZ

# (header, width in characters)
COLUMNS = (
    ("事件编号", 24), ("上报时间", 17), ("类别", 12), ("平台", 10), ("当前层级", 9),
    ("地点", 30), ("来源", 10), ("标题", 36), ("详情", 60), ("状态", 8), ("办理时限", 17),
    ("办结时间", 17), ("剩余/超期", 14), ("督办", 6), ("签收", 6),
)  # fmt: skip
TIME = "yyyy-mm-dd hh:mm"
# hours left, a negative count in red as 超 (overdue)
HOURS = '0.0" 小时";[Red]"超 "0.0" 小时"'
_DEADLINE_COLUMN = "K"  # 办理时限, which the 剩余/超期 formula reads


@dataclass(frozen=True)
class Line:
    """One incident as the export writes it."""

    row: Mapping[str, Any]  # the desk's row (``table.row``): the texts the desk shows
    reported: datetime | None
    deadline: datetime | None
    closed_at: datetime | None
    detail: str


def lines(
    found: Iterable[Incident], table: list[dict[str, Any]], details: Mapping[str, str],
    reveal: bool,
) -> list[Line]:  # fmt: skip
    """The export's lines for ``found`` and its desk rows ``table`` (same order); ``details``:
    the detail of those the archive holds (memory's incidents carry theirs)."""
    out = []
    for incident, row in zip(found, table, strict=True):
        detail = incident.detail or details.get(incident.id, "")
        latest = incident.latest
        closed = latest.ts if latest is not None and incident.status == CLOSED else None
        out.append(
            Line(
                row,
                _local(reported_at(incident)),
                _local(incident.deadline),
                _local(closed),
                detail if reveal else mask_text(detail),
            )
        )
    return out


def xlsx(found: list[Line]) -> bytes:
    from openpyxl import Workbook  # only exports need it
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet("事件")
    for n, (_name, width) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(n)].width = width
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{len(found) + 1}"
    bold = Font(bold=True)
    sheet.append([_styled(cell(sheet, name), font=bold) for name, _width in COLUMNS])
    for n, line in enumerate(found, start=2):
        r = line.row
        sheet.append(
            [
                cell(sheet, r["id"]),
                _time(sheet, line.reported),
                cell(sheet, r["category"]),
                cell(sheet, r["platform"]),
                cell(sheet, r["level"]),
                cell(sheet, r["place"]),
                cell(sheet, r["source"]),
                cell(sheet, r["title"]),
                cell(sheet, line.detail),
                cell(sheet, r["status"]),
                _time(sheet, line.deadline),
                _time(sheet, line.closed_at),
                _left(sheet, n, line),
                cell(sheet, "是" if r.get("supervised") else ""),
                cell(sheet, "是" if r.get("acknowledged") else ""),
            ]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_body(found: list[Line], now: datetime) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    at = now.astimezone(CHINA_TZ).strftime("%m-%d %H:%M")
    header = [name for name, _width in COLUMNS]
    header[header.index("剩余/超期")] = f"剩余/超期（截至{at}）"  # a CSV cannot count on
    writer.writerow(header)
    for line in found:
        r = line.row
        writer.writerow(
            [
                csv_cell(v)
                for v in (
                    r["id"], _text(line.reported), r["category"], r["platform"], r["level"],
                    r["place"], r["source"], r["title"], line.detail, r["status"],
                    _text(line.deadline), _text(line.closed_at), r["left"],
                    "是" if r.get("supervised") else "", "是" if r.get("acknowledged") else "",
                )
            ]
        )  # fmt: skip
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM: Excel then reads UTF-8


def csv_cell(value: object) -> str:
    """Field text cannot become a formula when a spreadsheet opens the CSV (CSV injection):
    a CSV has no types, so a leading quote is the only way to say "text"."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def cell(sheet: Any, value: object) -> Any:
    """A text cell, typed as one: shown as it is (no added quote), never read as a formula.

    openpyxl makes a string that starts with ``=`` a formula; the explicit type makes it an
    inline string, which Excel shows and never evaluates. Characters XML cannot hold (C0
    controls a log written before the contract refused them may still carry) become U+FFFD.
    """
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    text = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("\ufffd", str(value)))
    text.data_type = "s"
    return text


def _time(sheet: Any, moment: datetime | None) -> Any:
    """A date cell (China time, without a zone: Excel has none); a time Excel cannot hold
    (before 1900, after 9998: a log written before the contract bounded it) as its text."""
    from openpyxl.cell import WriteOnlyCell

    if moment is None:
        return cell(sheet, "")
    if not 1900 <= moment.year <= 9998:
        return cell(sheet, _text(moment))
    return _styled(WriteOnlyCell(sheet, value=moment.replace(tzinfo=None)), number_format=TIME)


def _left(sheet: Any, n: int, line: Line) -> Any:
    """Hours left to the deadline as the sheet is opened (our formula, on this row's
    deadline cell only); nothing for a closed incident or a deadline Excel cannot hold."""
    from openpyxl.cell import WriteOnlyCell

    due = line.deadline
    if line.closed_at is not None or due is None or not 1900 <= due.year <= 9998:
        return cell(sheet, "")
    formula = f"=ROUND(({_DEADLINE_COLUMN}{n}-NOW())*24,1)"
    return _styled(WriteOnlyCell(sheet, value=formula), number_format=HOURS)


def _styled(target: Any, **style: Any) -> Any:
    for key, value in style.items():
        setattr(target, key, value)
    return target


def _local(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    try:
        return moment.astimezone(CHINA_TZ)
    except (OverflowError, ValueError):  # at datetime's ends: kept as it came
        return moment


def _text(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M")
