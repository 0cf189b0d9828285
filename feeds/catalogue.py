"""The event catalogue: 22 categories, each owned by one of the four platforms with a time limit.

The seed system consolidated 33+1 event types into 22 categories and routes each to one of the
"four platforms" (基层治理四平台). Codes are stable identifiers that producers send; names are
what people read.

Each category's time limit runs on one of two clocks (docs/time-limits.md has the table and the
reasons). Safety matters run on the **natural** clock: N hours, day and night, weekends and
holidays included, because an open manhole or a fire hazard is as dangerous on a Saturday. Routine
problems run on the **working** clock: N working days (the level-1 rule is one working day). A
report marked 紧急 (severity ``urgent``) of any category is due ``urgent_hours`` natural hours
after it, which is never later than its category's own limit.
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

LimitUnit = Literal["hours", "working_days"]  # natural hours, or working days
Clock = Literal["natural", "working"]


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name: str
    platform: str  # a key of PLATFORMS
    limit: int  # in ``unit``
    unit: LimitUnit
    urgent_hours: int  # the limit, in natural hours, of a report marked 紧急
    weight: float  # share of the daily mix, used by the simulator; sums to 1 over the catalogue
    colour: str  # marker colour on the maps
    basis: str  # why this clock and this limit, in one line (docs/time-limits.md)

    @property
    def clock(self) -> Clock:
        """``natural`` (hours, day and night) or ``working`` (working days)."""
        return "natural" if self.unit == "hours" else "working"


def _c(
    code: str, name: str, limit: int, unit: LimitUnit, urgent_hours: int, weight: float,
    colour: str, basis: str,
) -> Category:  # fmt: skip
    return Category(code, name, code[:2], limit, unit, urgent_hours, weight, colour, basis)


_H: LimitUnit = "hours"  # natural hours, day and night
_WD: LimitUnit = "working_days"

# Weights follow the usual shape of grid reports: environment, facilities and disputes dominate,
# drug safety and petitions are rare. They are simulator inputs, not measurements of Ningbo.
# Limits: reasoning, not a published Ningbo table (docs/time-limits.md says where they come from).
# fmt: off
CATEGORIES: dict[str, Category] = {
    c.code: c
    for c in (
        # code, name, limit, unit, urgent_hours, weight, colour, then the basis of the limit
        _c("zz01", "矛盾纠纷", 1, _WD, 2, 0.085, "#f4a259",
           "mediation needs both parties and a mediator, in office hours; a fight is 紧急 or 110"),
        _c("zz02", "治安隐患", 1, _WD, 2, 0.055, "#e76f51",
           "broken lights and cameras, patrol requests: arranged by day; crime in progress is 110"),
        _c("zz03", "安全生产", 8, _H, 2, 0.060, "#ff5d5d",
           "open pits, flammables, gas cylinders, unsafe scaffolds and buildings kill at any hour"),
        _c("zz04", "消防安全", 4, _H, 1, 0.050, "#ff3b30",
           "fire hazards and smoke; the fire service and the town's duty room never close"),
        _c("zz05", "特殊人群", 24, _H, 2, 0.020, "#c77dff",
           "a check on a person at risk (elderly living alone, a patient) cannot wait a weekend"),
        _c("zz06", "信访维稳", 3, _WD, 2, 0.015, "#9d4edd",
           "petitions need departments' answers, given in office hours; a gathering is 紧急"),
        _c("zz07", "出租房屋与流动人口", 3, _WD, 2, 0.045, "#b5838d",
           "registration and landlord interviews happen in office hours"),
        _c("sc01", "食品安全", 1, _WD, 2, 0.040, "#2ec4b6",
           "inspection and sampling run by day; a suspected poisoning is reported 紧急"),
        _c("sc02", "药品安全", 1, _WD, 2, 0.008, "#1b998b",
           "pharmacy and clinic inspections run by day"),
        _c("sc03", "无证无照经营", 3, _WD, 2, 0.030, "#48cae4",
           "licensing and closure are administrative steps taken in office hours"),
        _c("sc04", "价格与计量", 3, _WD, 2, 0.012, "#00b4d8",
           "price and scale checks are administrative, in office hours"),
        _c("sc05", "特种设备", 24, _H, 1, 0.015, "#0096c7",
           "lifts, boilers, rides: safety equipment whose maintainers keep a 24-hour duty line"),
        _c("zf01", "违法建筑", 5, _WD, 2, 0.045, "#ffd166",
           "notices and demolition follow legal steps over days"),
        _c("zf02", "市容环境", 1, _WD, 2, 0.140, "#f9c74f",
           "litter, posters, rubbish: sanitation crews clear them on the next working day"),
        _c("zf03", "占道经营", 1, _WD, 2, 0.070, "#f8961e",
           "street stalls are moved on by the enforcement team's patrols"),
        _c("zf04", "环境污染", 1, _WD, 2, 0.045, "#90be6d",
           "inspection and sampling by day; a discharge or toxic smell going on now is 紧急"),
        _c("zf05", "渣土运输", 1, _WD, 2, 0.020, "#c9a227",
           "spilled soil and dumping are cleared and fined through the day's enforcement"),
        _c("zf06", "河道水域", 1, _WD, 2, 0.035, "#43aa8b",
           "river cleaning and bank repair are scheduled; flood-season danger is reported 紧急"),
        _c("bm01", "市政设施", 8, _H, 2, 0.110, "#4d96ff",
           "open manholes, road collapse, flooded drains hurt passers-by at once: same shift"),
        _c("bm02", "民生服务", 3, _WD, 2, 0.045, "#6c8cff",
           "applications and services are handled by offices in office hours"),
        _c("bm03", "交通出行", 12, _H, 2, 0.030, "#5e60ce",
           "a dark signal or a fallen bus shelter is a traffic hazard; traffic police never close"),
        _c("bm04", "物业管理", 3, _WD, 2, 0.025, "#7b8cde",
           "property companies and owners' committees answer in office hours"),
    )
}
# fmt: on

LEVELS: dict[int, str] = {1: "网格", 2: "村社", 3: "镇街", 4: "区县", 5: "市级"}

SOURCES: dict[str, str] = {
    "grid_worker": "网格员上报",
    "hotline_12345": "12345热线",
    "app": "群众APP",
    "wechat": "微信群",
    "inspection": "巡查发现",
    "command_center": "指挥中心",
}
DESK_SOURCE = "command_center"  # steps taken at OneMap's duty desk; never a producer's
PRODUCER_SOURCES: dict[str, str] = {k: v for k, v in SOURCES.items() if k != DESK_SOURCE}

STEP_TYPES: dict[str, str] = {
    "reported": "上报",
    "dispatched": "分派",
    "accepted": "受理",
    "escalated": "上报上级",
    "handled": "处置",
    "feedback": "反馈",
    "closed": "办结",
    "reopened": "重新打开",
    "transferred": "转办",
    "returned": "退回",
}

# Departments an incident can be dispatched or transferred to (派单, 转办), by platform: the
# usual offices of a town's four platforms and the county bureaus behind them. Codes are what a
# step's ``assignee`` holds; a deployment with its own list replaces this table.
# fmt: off
DEPARTMENTS: dict[str, tuple[str, str]] = {  # code: (name, platform)
    "zz-zhzx": ("镇街综治中心", "zz"),
    "zz-pcs": ("派出所", "zz"),
    "zz-sfs": ("司法所", "zz"),
    "zz-xfb": ("信访办", "zz"),
    "sc-scjgs": ("市场监管所", "sc"),
    "sc-tzsb": ("特种设备检验站", "sc"),
    "zf-zfzd": ("综合行政执法中队", "zf"),
    "zf-sthj": ("生态环境分局", "zf"),
    "zf-slz": ("水利站", "zf"),
    "bm-bmzx": ("便民服务中心", "bm"),
    "bm-szs": ("市政所", "bm"),
    "bm-jtys": ("交通运输所", "bm"),
    "bm-wygl": ("物业管理科", "bm"),
}
# fmt: on

SEVERITIES: dict[str, str] = {"normal": "一般", "major": "较大", "urgent": "紧急"}

WORKER_STATUSES: dict[str, str] = {
    "patrolling": "巡查中",
    "handling": "处置中",
    "idle": "空闲",
    "offline": "离线",
}
