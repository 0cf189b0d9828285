"""Personal data in free text: phone numbers, ID-card numbers and personal names, masked.

Walls and tablets are seen by anyone in the room, so everything they receive is masked; an
incident's full text goes only to a duty officer in scope, through the incident-detail request,
and every such request is audited (see ``dashboard/access/auth.py`` and ``docs/security.md``).

Names are found by context, not by a dictionary of people: a common surname right after a
word that introduces a person (居民, 联系人, 姓名: ...) or right before a reporting verb (反映,
投诉 ...).
A surname followed by an honorific (王先生, 李女士) or an already anonymous 某 is left alone: it
identifies no one. The rules err towards masking; what they cannot catch is listed in
docs/security.md.
"""

from __future__ import annotations

import re
from typing import Any

from dashboard.state import Incident
from feeds.catalogue import CATEGORIES, LEVELS, STEP_TYPES
from feeds.geo import Geography

_SURNAMES = (
    "欧阳|司马|诸葛|上官|东方|皇甫|尉迟|公孙|慕容|长孙|令狐|夏侯|司徒|"
    "王|李|张|刘|陈|杨|黄|赵|吴|周|徐|孙|马|朱|胡|郭|何|林|罗|郑|高|梁|谢|宋|唐|许|韩|冯|邓|"
    "曹|彭|曾|肖|萧|田|董|袁|潘|蒋|蔡|余|杜|叶|程|苏|魏|吕|丁|任|沈|姚|卢|姜|崔|钟|谭|陆|汪|"
    "范|金|石|廖|贾|夏|韦|付|傅|方|白|邹|孟|熊|秦|邱|江|尹|薛|闫|段|雷|侯|龙|史|陶|黎|贺|顾|"
    "毛|郝|龚|邵|万|钱|严|覃|武|戴|莫|孔|向|汤|应|柴|竺|虞|楼|俞|童|屠|邬|鲍|翁|胡|葛|施|洪"
)
_HAN = "\u4e00-\u9fff"
# Words that introduce a person in a report.
_CUES = (
    "居民|村民|市民|业主|住户|租户|户主|房东|房主|摊主|店主|车主|老人|群众|家属|"
    "当事人|联系人|反映人|投诉人|举报人|报告人|报警人|来电人|申请人|求助人|网格员|"
    r"姓名[:：]?\s*|名叫|叫做"
)
# Verbs that follow a person's name in a report.
_VERBS = "反映|投诉|来电|举报|报称|报警|求助|称|表示|说|家中|家门|家里"
_HONORIFICS = (
    "某", "先生", "女士", "小姐", "师傅", "阿姨", "大爷", "大妈", "大姐", "大哥", "老师", "同志",
    "医生", "书记", "主任", "老板", "经理",
)
# Characters that end a two-character given name early: particles and common verbs.
_STOPS = set("反投来举报求称表说家在于向和与及的了已到对因住等巡发叫")

_NAME_AFTER_CUE = re.compile(rf"(?:{_CUES})(?P<sur>{_SURNAMES})(?P<given>[{_HAN}]{{1,2}})")
_NAME_BEFORE_VERB = re.compile(
    rf"(?<![{_HAN}])(?P<sur>{_SURNAMES})(?P<given>[{_HAN}]{{1,2}}?)(?=(?:{_VERBS}))"
)
_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
    r"\d{3}[\dXx](?![0-9A-Za-z])"
)
_BANK_CARD = re.compile(r"(?<!\d)\d{16,19}(?!\d)")
_MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[-\s]?)?1[3-9]\d(?:[-\s]?\d){8}(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)0\d{2,3}[-\s]?\d{7,8}(?!\d)")
_AFTER_PHONE_WORD = re.compile(
    r"(?:电话|手机|座机|联系方式|号码|tel|TEL|Tel)[:：]?\s*(\d[\d\s-]{5,}\d)"
)


def mask_text(text: str) -> str:
    """``text`` with phone numbers, ID-card and bank-card numbers and personal names masked."""
    if not text:
        return text
    text = _ID_CARD.sub(lambda m: _keep(m.group(), 1, 1), text)
    text = _BANK_CARD.sub(lambda m: _keep(m.group(), 0, 4), text)
    text = _MOBILE.sub(_mask_mobile, text)
    text = _LANDLINE.sub(lambda m: _keep(m.group(), 4, 4), text)
    text = _AFTER_PHONE_WORD.sub(_mask_group, text)
    text = _NAME_AFTER_CUE.sub(_mask_name, text)
    return _NAME_BEFORE_VERB.sub(_mask_name, text)


def _keep(number: str, head: int, tail: int) -> str:
    """Digits in the middle become *, separators stay, so the shape still reads as a number."""
    digits = [i for i, c in enumerate(number) if c.isalnum()]
    hidden = set(digits[head : len(digits) - tail])
    return "".join("*" if i in hidden else c for i, c in enumerate(number))


def _mask_mobile(m: re.Match[str]) -> str:
    """138****5678, whatever country prefix or separators come with it."""
    digits = sum(c.isdigit() for c in m.group())
    return _keep(m.group(), digits - 11 + 3, 4)


def _mask_group(m: re.Match[str]) -> str:
    start, end = (i - m.start() for i in m.span(1))
    whole = m.group()
    return whole[:start] + _keep(m.group(1), 0, 4) + whole[end:]


def _mask_name(m: re.Match[str]) -> str:
    given = m.group("given")
    if given.startswith(_HONORIFICS):
        return m.group()
    if len(given) == 2 and given[1] in _STOPS:
        given = given[0]
    start = m.start("given") - m.start()
    whole = m.group()
    return whole[:start] + "*" * len(given) + whole[start + len(given) :]


def incident_detail(incident: Incident, geo: Geography, reveal: bool) -> dict[str, Any]:
    """One incident for a detail view; free text masked unless ``reveal`` (duty in scope)."""
    text = (lambda s: s) if reveal else mask_text
    category = CATEGORIES[incident.category]
    return {
        "id": incident.id,
        "title": text(incident.title),
        "detail": text(incident.detail),
        "masked": not reveal,
        "category": incident.category,
        "catName": category.name,
        "platform": category.platform,
        "county": incident.area.county,
        "town": incident.area.town,
        "place": geo.label(incident.area.grid or incident.area.town),
        "lon": round(incident.lon, 5),
        "lat": round(incident.lat, 5),
        "source": incident.source,
        "reporter": incident.reporter if reveal else None,
        "severity": incident.severity or "normal",
        "status": incident.status,
        "level": incident.level,
        "levelName": LEVELS[incident.level],
        "deadline": incident.deadline.isoformat(),
        "steps": [
            {"seq": s.seq, "type": s.type, "step": STEP_TYPES[s.type], "ts": s.ts.isoformat(),
             "level": s.level}
            for s in sorted(incident.steps.values(), key=lambda s: s.seq)
        ],
    }
