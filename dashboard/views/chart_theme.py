"""The wall's Plotly look: dark, large type, no chrome; one template for every chart.

Sizes are pixels at 1080p (the page scales them with its root font, assets/onemap-40-panels.js);
no text is under 18, the wall's minimum (docs/operations.md, "Wall shapes").
"""

from __future__ import annotations

from typing import Any

FONT = "Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif"
TEXT = "#e6f1ff"
MUTED = "#8aa4c8"
GRID = "rgba(95, 179, 255, 0.12)"
PLATFORM_COLOURS = {"zz": "#ff7a45", "sc": "#20c997", "zf": "#f7c948", "bm": "#4d96ff"}
LEVEL_COLOURS = ["#2bd67b", "#38c6ff", "#4d96ff", "#ffb020", "#ff3b3b"]

WALL_TEMPLATE: dict[str, Any] = {
    "layout": {
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": FONT, "color": TEXT, "size": 18},
        "margin": {"l": 52, "r": 12, "t": 8, "b": 34},
        "colorway": ["#38c6ff", "#8aa4c8", "#2bd67b", "#ffb020", "#ff7a45", "#c77dff"],
        "xaxis": {
            "gridcolor": GRID,
            "zeroline": False,
            "linecolor": GRID,
            "tickfont": {"color": MUTED},
        },
        "yaxis": {
            "gridcolor": GRID,
            "zeroline": False,
            "linecolor": GRID,
            "tickfont": {"color": MUTED},
        },
        "legend": {
            "orientation": "h",
            "x": 0,
            "y": 1.12,
            "font": {"color": MUTED, "size": 18},
            "itemwidth": 30,  # Plotly's default, written out for the page to scale it
            "bgcolor": "rgba(0,0,0,0)",
        },
        "hoverlabel": {"font": {"family": FONT}},
    }
}


def empty_figure() -> dict[str, Any]:
    return {
        "data": [],
        "layout": {
            "template": WALL_TEMPLATE,
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
        },
    }
