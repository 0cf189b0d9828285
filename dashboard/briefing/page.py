"""The briefing as one HTML page, laid out for A4 portrait: the PDF is this page printed.

Every text goes through ``html.escape``; the page has no script, and its charts are inline
SVG (``charts``). Figures are written by ``text``, the screens' rounding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from html import escape

from dashboard.briefing import charts
from dashboard.briefing import text as t
from dashboard.briefing.gather import KPIS, Briefing
from feeds.geo.codes import level_of

PDF_OVERDUE_ROWS = 30
CATEGORY_ROWS = 10
WEEKDAYS = "一二三四五六日"
COLOUR_NAMES = {"green": "绿", "yellow": "黄", "red": "红"}

STYLE = """
@page { size: A4 portrait; margin: 13mm 12mm 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", sans-serif; color: #222831;
  background: #fff; font-size: 10.5pt; line-height: 1.45; margin: 0; }
header { border-bottom: 2.5px solid #b3261e; padding-bottom: 6px; margin-bottom: 10px; }
h1 { font-size: 20pt; margin: 0; color: #b3261e; letter-spacing: 1px; }
.meta { color: #5b6470; font-size: 9pt; margin-top: 3px; }
.note { color: #8a5a00; background: #fff6e0; padding: 3px 6px; font-size: 9pt; margin-top: 4px; }
h2 { font-size: 13pt; margin: 14px 0 6px; padding-left: 7px; border-left: 4px solid #3b6fb6; }
section { break-inside: avoid; }
section.long { break-inside: auto; }
table { width: 100%; border-collapse: collapse; font-size: 9.5pt; }
th, td { border-bottom: 1px solid #e1e4e8; padding: 3px 6px; text-align: left;
  vertical-align: top; }
th { background: #f1f3f6; font-weight: 700; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.up { color: #b3261e; } .down { color: #2e7d32; }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 4px; }
.green { background: #4f9d5d; } .yellow { background: #e0a526; } .red { background: #d0453b; }
.foot { color: #6b7380; font-size: 8.5pt; margin-top: 4px; }
.score { font-size: 15pt; font-weight: 700; }
.why { color: #4a5260; font-size: 9pt; }
.chart { display: block; margin: 4px 0 2px; }
.title { max-width: 60mm; }
"""


def render(b: Briefing) -> str:
    sections = [
        _header(b),
        _kpis(b),
        _index(b),
        _trend(b),
        _categories(b),
        _areas(b),
        _overdue(b),
    ]
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(b.name)}日报 {b.day.isoformat()}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(sections)}</body></html>"
    )


def _when(moment: datetime) -> str:
    if moment.hour == 0 and moment.minute == 0:  # a day's end reads as its own 24:00
        return f"{(moment.date() - timedelta(days=1)).isoformat()} 24:00"
    return moment.strftime("%Y-%m-%d %H:%M")


def _header(b: Briefing) -> str:
    weekday = WEEKDAYS[b.day.weekday()]
    kind = "（当日截至生成时）" if b.today else ""
    note = ""
    if b.history:
        note = (
            f'<div class="note">历史数据始于 {escape(str(b.history.get("since", ""))[:16])}'
            f" · {int(b.history.get('partial') or 0):,} 件事件缺上报记录 · 统计自此时起</div>"
        )
    return (
        f"<header><h1>{escape(b.name)}基层治理日报</h1>"
        f'<div class="meta">{b.day.isoformat()}（星期{weekday}）{kind} · 数据截至 '
        f"{_when(b.moment)} · 生成于 {b.generated.strftime('%Y-%m-%d %H:%M')}（北京时间）"
        f"</div>{note}</header>"
    )


def _table(head: Sequence[tuple[str, bool]], rows: Iterable[Sequence[str]]) -> str:
    """``head``: (title, numeric); cells are already escaped HTML."""
    ths = "".join(
        f'<th class="n">{escape(h)}</th>' if n else f"<th>{escape(h)}</th>" for h, n in head
    )
    body = []
    for row in rows:
        tds = "".join(
            f'<td class="n">{c}</td>' if n else f"<td>{c}</td>"
            for c, (_h, n) in zip(row, head, strict=True)
        )
        body.append(f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{ths}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _change(kind: str, now: t.Number, before: t.Number, key: str) -> str:
    """Red when the change is for the worse, green for the better; a count that is neither
    (reports, what fell due) in ink."""
    text = t.change(kind, now, before)
    if text.startswith(("▲", "▼")) and key in BETTER_WHEN_UP:
        worse = text.startswith("▲") != BETTER_WHEN_UP[key]
        return f'<span class="{"up" if worse else "down"}">{escape(text)}</span>'
    return escape(text)


BETTER_WHEN_UP = {
    "overdue": False,
    "open": False,
    "closed": True,
    "disposal_rate": True,
    "on_time_rate": True,
    "self_closure_rate": True,
    "patrol_workers": True,
    "patrol_visits": True,
}


def _kpis(b: Briefing) -> str:
    rows = []
    for key, label, kind in KPIS:
        now, before = b.kpis.get(key), b.previous.get(key)
        mean = b.means.get(key)
        days = b.mean_days.get(key, 0)
        mean_text = t.rate(mean) if kind == "rate" else t.mean(mean)
        if mean is not None and days < 7:
            mean_text += f"（{days}日）"
        rows.append(
            [
                escape(label),
                escape(t.figure(kind, now)),
                escape(t.figure(kind, before)),
                _change(kind, now, before, key),
                escape(mean_text),
            ]
        )
    head = [
        ("指标", False),
        ("当日", True),
        (b.previous_label, True),
        ("增减", True),
        ("近7日均值", True),
    ]
    foot = (
        "处置率 = 应办结中已办结的比例；按期办结率 = 应办结中按期办结的比例；"
        "应办结 = 当日到期已办结 + 超期未结。网格自办结率以当日办结为分母。"
        "“—”：无可比数据（近7日均值的上报、办结取自趋势，其余取自已生成的日报）。"
    )
    table = _table(head, rows)
    return f'<section><h2>一、核心指标</h2>{table}<div class="foot">{foot}</div></section>'


def _index(b: Briefing) -> str:
    own = b.own
    colour = COLOUR_NAMES.get(own.colour or "", "")
    why = "；".join(own.why) or "各项均达到或优于参照"
    lead = (
        f'<p><span class="dot {escape(own.colour or "")}"></span>{escape(b.name)}治理指数 '
        f'<span class="score">{escape(t.score(own.score))}</span>（{colour}）'
        f" 较前日 {escape(t.score_change(own.score, own.score_before))} · "
        f'<span class="why">主要扣分：{escape(why)}</span></p>'
    )
    rows = []
    for area in sorted(b.areas, key=lambda a: (a.score is None, a.score or 0.0)):
        rows.append(
            [
                f'<span class="dot {escape(area.colour or "")}"></span>{escape(area.name)}',
                escape(t.score(area.score)),
                _change_score(area.score, area.score_before),
                f'<span class="why">{escape("；".join(area.why) or "达到或优于参照")}</span>',
            ]
        )
    head = [("区域", False), ("指数", True), ("较前日", True), ("主要扣分原因", False)]
    chart = charts.index_bars(
        [(a.name, a.score, a.colour) for a in sorted(b.areas, key=lambda a: -(a.score or 0))],
        "治理指数",
    )
    at = b.generated.strftime("%m-%d %H:%M")
    foot = f"指数为生成时（{at}）的三色治理指数；较前日对比前一日日报。"
    table = _table(head, rows) if rows else ""
    return (
        f"<section><h2>二、治理指数变化及原因</h2>{lead}</section>"
        f'<section>{chart if rows else ""}</section><section class="long">{table}'
        f'<div class="foot">{escape(foot)}</div></section>'
    )


def _change_score(now: float | None, before: float | None) -> str:
    text = t.score_change(now, before)
    if text.startswith(("▲", "▼")):
        return f'<span class="{"down" if text.startswith("▲") else "up"}">{escape(text)}</span>'
    return escape(text)


def _trend(b: Briefing) -> str:
    daily = charts.daily_bars(b.series, "近8日上报与办结")
    hours = charts.hour_bars(b.hours, "当日分时上报")
    return (
        f"<section><h2>三、近8日上报与办结</h2>{daily}"
        '<div class="foot">每日上报、办结事件数，同平板趋势'
        "（归档与日志；当日取核心指标）。</div></section>"
        f"<section><h2>当日分时上报</h2>{hours}</section>"
    )


def _categories(b: Briefing) -> str:
    total = sum(n for _c, _name, n in b.categories) or 1
    rows = [
        [str(n), escape(name), escape(t.count(count)), escape(t.rate(count / total))]
        for n, (_code, name, count) in enumerate(b.categories[:CATEGORY_ROWS], start=1)
    ]
    head = [("序", False), ("事件类别", False), ("上报", True), ("占比", True)]
    body = _table(head, rows) if rows else "<p>当日无上报事件。</p>"
    return f"<section><h2>四、上报事件类别前{CATEGORY_ROWS}位</h2>{body}</section>"


def _areas(b: Briefing) -> str:
    if not b.areas:
        return ""
    level = "区县" if level_of(b.area) == "city" else "街镇"
    rows = []
    ordered = sorted(b.areas, key=lambda a: -int(a.figures.get("reported") or 0))
    for area in ordered:
        f = area.figures
        rows.append(
            [
                escape(area.name),
                escape(t.count(f.get("reported"))),
                escape(t.count(f.get("closed"))),
                escape(t.count(f.get("open"))),
                escape(t.count(f.get("overdue"))),
                escape(t.rate(f.get("disposal_rate"))),
                escape(t.rate(f.get("on_time_rate"))),
            ]
        )
    head = [
        (level, False),
        ("上报", True),
        ("办结", True),
        ("在办", True),
        ("超期", True),
        ("处置率", True),
        ("按期办结率", True),
    ]
    table = _table(head, rows)
    return f'<section class="long"><h2>五、各{level}情况（按上报量）</h2>{table}</section>'


def _overdue(b: Briefing) -> str:
    shown = b.overdue[:PDF_OVERDUE_ROWS]
    rows = [
        [
            escape(r["id"]),
            escape(r["category"]),
            escape(f"{r['county']} {r['town']}"),
            f'<div class="title">{escape(r["title"])}</div>',
            escape(r["deadline"][5:16].replace("T", " ")),
            escape(f"{r['late_h']:,.1f} 小时"),
        ]
        for r in shown
    ]
    head = [
        ("事件编号", False),
        ("类别", False),
        ("地点", False),
        ("标题", False),
        ("办理时限", False),
        ("已超期", True),
    ]
    at = b.generated.strftime("%m-%d %H:%M")
    said = (
        f"截至 {at} 共 {b.overdue_total:,} 件超期未结"
        if b.overdue_total
        else f"截至 {at} 无超期未结事件"
    )
    if b.overdue_total > len(shown):
        said += f"，列出超期最久的 {len(shown)} 件（全部见 Excel）"
    body = _table(head, rows) if rows else ""
    return f'<section class="long"><h2>六、超期事件</h2><p>{escape(said)}。</p>{body}</section>'
