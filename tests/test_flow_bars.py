"""The wall's charts read at 5 m: 办结层级流向's bars and numbers, and no chart text under 18 px
(docs/operations.md, "Wall shapes")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard.state import State
from dashboard.views import flow_bars, panels
from dashboard.views.chart_theme import WALL_TEMPLATE
from feeds.schema import decode_trusted
from tests.factories import event_dict, line

MIN_TEXT_PX = 18


def test_flow_segment_is_never_thinner_than_a_sliver_and_never_widened_more():
    rows, axis = flow_bars.layout_rows([[640, 1490, 130], [2, 6, 5], [0, 1, 0], [0, 0, 0]])
    per_px = axis / flow_bars.PLOT_PX
    for row in rows:
        for count, width in zip(row.counts, row.widths, strict=True):
            if count == 0:
                assert width == 0
            else:  # at least a sliver; wider than the count only up to a sliver
                assert width / per_px >= flow_bars.SLIVER_PX - 1e-9
                assert width == max(count, flow_bars.SLIVER_PX * per_px)
    assert rows[0].widths == [640, 1490, 130]  # a large row is drawn to scale


def test_flow_number_goes_inside_only_where_it_fits_else_after_the_row():
    rows, axis = flow_bars.layout_rows([[640, 1490, 13], [2, 6, 5], [0, 1, 0]])
    per_px = axis / flow_bars.PLOT_PX
    for row in rows:
        for i, count in enumerate(row.counts):
            text = flow_bars.label(count)
            room = row.widths[i] / per_px
            if row.inside[i]:
                assert row.inside[i] == text
                assert room >= flow_bars.text_px(text) + flow_bars.PAD_PX
            elif count:
                assert i in row.outside  # written after the bar, not lost
    assert rows[0].inside == ["640", "1,490", ""] and rows[0].outside == [2]
    assert rows[1].outside == [0, 1, 2] and rows[2].outside == [1]


def test_flow_axis_leaves_room_for_the_numbers_after_the_longest_row():
    rows, axis = flow_bars.layout_rows([[5000, 12, 3]])
    end_px = (rows[0].end / axis) * flow_bars.PLOT_PX
    after = flow_bars.GAP_PX + sum(flow_bars.text_px(flow_bars.label(c)) for c in (12, 3))
    assert end_px + after + flow_bars.SEPARATOR_PX <= flow_bars.PLOT_PX + 1


def test_flow_of_no_incidents_draws_nothing_and_fails_not():
    rows, axis = flow_bars.layout_rows([[0, 0, 0]] * 5)
    assert axis == 1 and all(row.end == 0 and not row.outside for row in rows)


def _figures(geo) -> dict[str, Any]:
    state = State(geo)
    now = datetime.now(UTC)
    for n in range(60):  # a few escalated, some closed
        at = now - timedelta(minutes=n + 1)
        base = event_dict(geo, n, id=f"F-{n}", ts=at.isoformat())
        state.apply_event(f"1-{n}", decode_trusted(line(base)))
        if n % 4 == 0:
            up = {**base, "seq": 2, "type": "escalated", "level": 2}
            state.apply_event(f"2-{n}", decode_trusted(line(up)))
        if n % 3 == 0:
            closed = {**base, "seq": 3, "type": "closed", "level": 2 if n % 4 == 0 else 1}
            state.apply_event(f"3-{n}", decode_trusted(line(closed)))
        elif n == 4:  # one at the town level: a number too wide for its segment
            up = {**base, "seq": 3, "type": "escalated", "level": 3}
            state.apply_event(f"3-{n}", decode_trusted(line(up)))
    built = panels.build(state, geo.city.code, now)
    return {name: built[name] for name in ("trend", "categories", "flow")}


def _text_sizes(node: Any, inherited: float, key: str = "") -> list[float]:
    """Every font size in a figure, a missing one taking the template's (18)."""
    if isinstance(node, list):
        return [size for item in node for size in _text_sizes(item, inherited, key)]
    if not isinstance(node, dict):
        return []
    found = []
    if key.endswith("font") or key == "font":
        found.append(node.get("size", inherited))
    for name, value in node.items():
        found += _text_sizes(value, inherited, name)
    return found


def test_wall_charts_write_nothing_under_the_minimum(geo):
    base = WALL_TEMPLATE["layout"]["font"]["size"]
    assert base >= MIN_TEXT_PX
    assert min(_text_sizes(WALL_TEMPLATE, base)) >= MIN_TEXT_PX
    for name, figure in [*_figures(geo).items(), ("none yet", panels.nothing_yet())]:
        sizes = _text_sizes(figure, base)
        assert sizes and min(sizes) >= MIN_TEXT_PX, name


def test_flow_numbers_are_level(geo):
    flow = _figures(geo)["flow"]
    for trace in flow["data"]:
        assert trace["textangle"] == 0 and trace["constraintext"] == "none"
    assert any(a["text"] for a in flow["layout"]["annotations"])  # small counts after a row
