"""Personal data in free text is masked for walls and tablets and left whole for duty officers."""

from __future__ import annotations

import random
import re

from hypothesis import given
from hypothesis import strategies as st

from dashboard.access.privacy import incident_detail, mask_text
from dashboard.live.outbound import step_payload
from dashboard.state import State
from feeds.catalogue import CATEGORIES
from feeds.schema import decode_trusted
from feeds.sim import texts
from tests.factories import event_dict, line

HAN = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), max_size=12)
FILLER = st.text(st.sampled_from("，。：；、 的了在和路口村社区楼幢号"), max_size=6)


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    digits = "1" + draw(st.sampled_from("3456789")) + "".join(
        draw(st.lists(st.sampled_from("0123456789"), min_size=9, max_size=9))
    )
    style = draw(st.sampled_from(["plain", "dashes", "spaces", "+86"]))
    if style == "dashes":
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if style == "spaces":
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    return ("+86 " if style == "+86" else "") + digits


@st.composite
def id_cards(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["330212", "330203", "110101", "440305"]))
    year = draw(st.integers(1930, 2020))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, 28))
    serial = draw(st.integers(0, 999))
    check = draw(st.sampled_from("0123456789X"))
    return f"{region}{year}{month:02d}{day:02d}{serial:03d}{check}"


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


@given(before=HAN, between=FILLER, after=HAN, phone=mobiles())
def test_mobile_numbers_never_survive_masking(before, between, after, phone):
    masked = mask_text(f"{before}{between}{phone}{between}{after}")
    number = _digits(phone)[-11:]
    assert number not in _digits(masked)
    assert f"{number[:3]}****{number[-4:]}" in re.sub(r"[\s-]", "", masked)


@given(before=HAN, after=HAN, number=id_cards())
def test_id_card_numbers_never_survive_masking(before, after, number):
    masked = mask_text(f"{before}身份证{number}{after}")
    assert number not in masked
    assert number[1:-1] not in masked
    assert masked.startswith(before)
    assert masked.endswith(after)


def test_landlines_and_numbers_after_a_phone_word_are_masked():
    assert mask_text("座机0574-87654321") == "座机0574-****4321"
    assert mask_text("来电号码87654321，请回电") == "来电号码****4321，请回电"


def test_names_after_a_person_word_lose_their_given_name():
    assert mask_text("村民张建国反映楼道堆物") == "村民张**反映楼道堆物"
    assert mask_text("联系人：姓名：欧阳娜娜") == "联系人：姓名：欧阳**"
    assert mask_text("网格员李明巡查发现") == "网格员李*巡查发现"
    assert mask_text("居民张大伟家中漏水") == "居民张**家中漏水"


def test_names_before_a_reporting_verb_lose_their_given_name():
    assert mask_text("王建军反映：门口积水") == "王**反映：门口积水"
    assert mask_text("据陈丽称，噪音持续到深夜") == "据陈丽称，噪音持续到深夜"  # no boundary: kept
    assert mask_text("。陈丽称噪音持续") == "。陈*称噪音持续"


def test_surnames_with_honorifics_and_anonymous_names_are_left_alone():
    for text in ("联系人王先生，已回访", "居民李女士反映", "当事人张某某", "业主赵师傅"):
        assert mask_text(text) == text


def test_simulator_titles_and_details_change_only_where_a_phone_is(geo):
    """No false positives on realistic text: place names, roads and units stay readable."""
    rng = random.Random(7)
    grids = sorted(geo.grids)
    for _ in range(1500):
        g = rng.choice(grids)
        names = (
            geo.counties[g[:6]].name,
            geo.towns[g[:9]].name,
            geo.villages[g[:12]].name,
            geo.grids[g].name,
        )
        scene = texts.scene(rng, names, rng.choice(sorted(CATEGORIES)))
        title = texts.title(scene)
        assert mask_text(title) == title
        detail = texts.report_detail(rng, scene, "hotline_12345")
        masked = mask_text(detail)
        if "电话" not in detail:
            assert masked == detail
        else:
            assert not re.search(r"1[3-9]\d{9}", masked)


def test_wall_payload_masks_the_title_and_duty_detail_does_not(geo):
    title = "居民陈建华反映13812345678噪音"
    detail = "联系人陈建华，身份证330212199001011234，电话13812345678。"
    message = decode_trusted(line(event_dict(geo, 3, title=title, detail=detail)))
    state = State(geo)
    applied = state.apply_event("1-0", message)
    assert applied is not None
    wall = step_payload(applied, geo)
    assert wall["title"] == "居民陈**反映138****5678噪音"
    incident = state.incidents[message.id]
    masked = incident_detail(incident, geo, reveal=False)
    full = incident_detail(incident, geo, reveal=True)
    assert "13812345678" not in str(masked) and "330212199001011234" not in str(masked)
    assert masked["reporter"] is None and masked["masked"] is True
    assert full["title"] == title and full["detail"] == detail and full["masked"] is False
