"""The event catalogue: 22 categories, each owned by one of the four platforms with a time limit.

The seed system consolidated 33+1 event types into 22 categories and routes each to one of the
"four platforms" (基层治理四平台). Codes are stable identifiers that producers send; names are
what people read. A time limit is either a number of working days (routine problems: the
level-1 rule is one working day) or a number of clock hours for urgent safety matters, which are
handled around the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PLATFORMS: dict[str, str] = {
    "zz": "综治工作",
    "sc": "市场监管",
    "zf": "综合执法",
    "bm": "便民服务",
}

LimitUnit = Literal["hours", "working_days"]


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name: str
    platform: str  # a key of PLATFORMS
    limit: int
    unit: LimitUnit
    weight: float  # share of the daily mix, used by the simulator; sums to 1 over the catalogue
    colour: str  # marker colour on the maps


def _c(code: str, name: str, limit: int, unit: LimitUnit, weight: float, colour: str) -> Category:
    return Category(code, name, code[:2], limit, unit, weight, colour)


# Weights follow the usual shape of grid reports: environment, facilities and disputes dominate,
# drug safety and petitions are rare. They are simulator inputs, not measurements of Ningbo.
CATEGORIES: dict[str, Category] = {
    c.code: c
    for c in (
        _c("zz01", "矛盾纠纷", 1, "working_days", 0.085, "#f4a259"),
        _c("zz02", "治安隐患", 1, "working_days", 0.055, "#e76f51"),
        _c("zz03", "安全生产", 8, "hours", 0.060, "#ff5d5d"),
        _c("zz04", "消防安全", 4, "hours", 0.050, "#ff3b30"),
        _c("zz05", "特殊人群", 1, "working_days", 0.020, "#c77dff"),
        _c("zz06", "信访维稳", 3, "working_days", 0.015, "#9d4edd"),
        _c("zz07", "出租房屋与流动人口", 3, "working_days", 0.045, "#b5838d"),
        _c("sc01", "食品安全", 1, "working_days", 0.040, "#2ec4b6"),
        _c("sc02", "药品安全", 1, "working_days", 0.008, "#1b998b"),
        _c("sc03", "无证无照经营", 3, "working_days", 0.030, "#48cae4"),
        _c("sc04", "价格与计量", 3, "working_days", 0.012, "#00b4d8"),
        _c("sc05", "特种设备", 1, "working_days", 0.015, "#0096c7"),
        _c("zf01", "违法建筑", 5, "working_days", 0.045, "#ffd166"),
        _c("zf02", "市容环境", 1, "working_days", 0.140, "#f9c74f"),
        _c("zf03", "占道经营", 1, "working_days", 0.070, "#f8961e"),
        _c("zf04", "环境污染", 1, "working_days", 0.045, "#90be6d"),
        _c("zf05", "渣土运输", 1, "working_days", 0.020, "#c9a227"),
        _c("zf06", "河道水域", 1, "working_days", 0.035, "#43aa8b"),
        _c("bm01", "市政设施", 1, "working_days", 0.110, "#4d96ff"),
        _c("bm02", "民生服务", 3, "working_days", 0.045, "#6c8cff"),
        _c("bm03", "交通出行", 1, "working_days", 0.030, "#5e60ce"),
        _c("bm04", "物业管理", 3, "working_days", 0.025, "#7b8cde"),
    )
}

LEVELS: dict[int, str] = {1: "网格", 2: "村社", 3: "镇街", 4: "区县", 5: "市级"}

SOURCES: dict[str, str] = {
    "grid_worker": "网格员上报",
    "hotline_12345": "12345热线",
    "app": "群众APP",
    "wechat": "微信群",
    "inspection": "巡查发现",
}

STEP_TYPES: dict[str, str] = {
    "reported": "上报",
    "dispatched": "分派",
    "accepted": "受理",
    "escalated": "上报上级",
    "handled": "处置",
    "feedback": "反馈",
    "closed": "办结",
    "reopened": "重新打开",
}

SEVERITIES: dict[str, str] = {"normal": "一般", "major": "较大", "urgent": "紧急"}

WORKER_STATUSES: dict[str, str] = {
    "patrolling": "巡查中",
    "handling": "处置中",
    "idle": "空闲",
    "offline": "离线",
}
