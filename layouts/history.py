"""The note every view shows when its server's history starts mid-incident (a trimmed log).

Hidden until the server says so (``history`` in the KPIs; assets/onemap-10-core.js fills it):
the figures then cover only what the log still holds, and the page says from when.
"""

from __future__ import annotations

from dash import html


def history_note(view: str) -> html.Div:
    return html.Div(
        className=f"history-note {view}-history",
        hidden=True,
        title="事件日志已截断：统计只含此时之后的记录",
    )
