"""The wall on screens of every shape, in a real Chromium (docs/operations.md, "Wall shapes").

One server for the module, fed a fixed day of incidents before it starts (its first snapshot
has them all); each test opens the wall in a browser window of its own size. What is measured
is what a reader 5 m away gets: the map's share of the screen, every block on the screen and
apart from the others, the date, the smallest text, labels apart, the legend off the areas,
the ticker's pins shown once and its rows whole.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from feeds.bus import Bus
from feeds.catalogue import CATEGORIES
from feeds.geo import Geography
from feeds.schema import CHINA_TZ, EventMessage, decode_trusted
from tests.conftest import sized_page
from tests.factories import event_dict, line
from tests.live import Dashboard, dashboard, sign_in_wall

pytestmark = [pytest.mark.browser, pytest.mark.parallel]

MIN_TEXT_PX = 18  # at 1080 px of height (docs/operations.md, "Wall shapes")
MAP_SHARE = 0.40  # of the screen's area, at every tested shape
# (width, height, arrangement): 16:9, 4K, a 3x3 grid of 1080p screens, 32:9, 48:9
SHAPES = [
    (1920, 1080, "standard"),
    (3840, 2160, "standard"),
    (5760, 3240, "standard"),
    (3840, 1080, "wide"),
    (5760, 1080, "wide"),
]
OVERDUE_TITLE = "化工厂废水直排河道"
CATEGORY_CODES = list(CATEGORIES)


def _day(geo: Geography) -> list[EventMessage]:
    """240 incidents over the last hours: most closed or open at the grid level, some passed
    up one to four levels, one overdue (pinned), one urgent (pinned)."""
    now = datetime.now(UTC).astimezone(CHINA_TZ)
    steps = []
    for i in range(240):
        at = now - timedelta(minutes=2 * i + 3)
        base = event_dict(
            geo,
            i,
            id=f"SH-{i}",
            seq=1,
            ts=at.isoformat(),
            category=CATEGORY_CODES[i * 7 % len(CATEGORY_CODES)],
            title=f"路边垃圾堆放未清理 {i}",
        )
        steps.append(base)
        top = 1 + (i % 5 == 0) + (i % 15 == 0) + (i % 45 == 0) + (i % 90 == 0)
        for level in range(2, top + 1):
            steps.append(
                {
                    **base,
                    "seq": level,
                    "type": "escalated",
                    "level": level,
                    "ts": (at + timedelta(seconds=level)).isoformat(),
                }
            )
        if i % 3 == 1:
            steps.append(
                {
                    **base,
                    "seq": top + 1,
                    "type": "closed",
                    "level": top,
                    "ts": (at + timedelta(seconds=30)).isoformat(),
                }
            )
    overdue = event_dict(
        geo,
        7,
        id="SH-OVERDUE",
        title=OVERDUE_TITLE,
        ts=(now - timedelta(hours=30)).isoformat(),
        deadline=(now - timedelta(hours=6)).isoformat(),
    )
    steps.append(overdue)  # overdue from its next step on
    steps.append(
        {**overdue, "seq": 2, "type": "dispatched", "ts": (now - timedelta(minutes=5)).isoformat()}
    )
    steps.append(event_dict(geo, 8, id="SH-URGENT", title="燃气管道泄漏", severity="urgent"))
    return [decode_trusted(line(step)) for step in steps]


@pytest.fixture(scope="module")
def shapes_server(redis_server, geo, tmp_path_factory) -> Iterator[Dashboard]:
    prefix = f"shapes{uuid.uuid4().hex[:8]}"
    client = redis_server.client()
    try:
        Bus(client, prefix=prefix).publish_many(_day(geo))
    finally:
        client.close()
    with dashboard(redis_server.url, prefix, tmp_path_factory.mktemp("shapes")) as server:
        yield server


@pytest.fixture
def window(browser, request) -> Iterator:
    """A page in a window of the size the test is parametrised with."""
    width, height = request.param
    with sized_page(browser, width, height) as page:
        yield page


def _open(page, server: Dashboard, query: str = "") -> None:
    sign_in_wall(page, server)
    page.goto(f"{server.url}/wall{query}")
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)
    # drawn: the charts' first figures, the labels placed, the city's pinned incidents in
    page.wait_for_function(FIGURES_DRAWN, timeout=30_000)
    page.wait_for_function(LABELS_PLACED, timeout=30_000)
    if not query:
        page.locator(".pinned .pinned-item", has_text=OVERDUE_TITLE).wait_for(timeout=10_000)
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => setTimeout(done)))")


FIGURES_DRAWN = """() => ['wall-trend', 'wall-categories', 'wall-flow'].every((id) =>
  document.querySelectorAll('#' + id + ' .main-svg .trace').length > 0)"""
LABELS_PLACED = """() => { const m = window.onemap.wall.map;
  return m.labels.length > 0 && !m.declutterQueued
    && Object.keys(m.index).length > 0; }"""

# Every block a reader sees: header, tiles, panels, map; as [name, left, top, right, bottom].
BLOCKS = """() => [...document.querySelectorAll(
    '.wall-header, .wall-kpis .kpi, .wall .panel, .wall-map-panel')].map((el) => {
  const r = el.getBoundingClientRect();
  return [el.className, r.left, r.top, r.right, r.bottom];
})"""

# The smallest font of any text on show: text nodes (HTML and the charts' SVG) whose element
# is rendered, visible, and on the screen; [size px, the text, its element's class].
SMALLEST_TEXT = """() => {
  const root = document.getElementById('wall-root');
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  let smallest = [Infinity, '', ''];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim(), el = node.parentElement;
    if (!text || !el) continue;
    const style = getComputedStyle(el);
    if (style.visibility !== 'visible' || Number(style.opacity) === 0) continue;
    const rects = [...el.getClientRects()].filter((r) => r.width > 0 && r.height > 0);
    const shown = rects.some((r) => r.right > 0 && r.bottom > 0
      && r.left < innerWidth && r.top < innerHeight);
    if (!shown || el.closest('[hidden]')) continue;
    const size = parseFloat(style.fontSize);
    const name = String(el.className.baseVal ?? el.className);
    if (size < smallest[0]) smallest = [size, text.slice(0, 30), name];
  }
  return smallest;
}"""


def _today() -> str:
    day = datetime.now(CHINA_TZ)
    return f"{day.year}年{day.month}月{day.day}日 星期{'一二三四五六日'[day.weekday()]}"


def _overlap(a: list, b: list) -> float:
    width = min(a[3], b[3]) - max(a[1], b[1])
    height = min(a[4], b[4]) - max(a[2], b[2])
    return max(0.0, width) * max(0.0, height)


@pytest.mark.parametrize(
    "window, shape",
    [((w, h), shape) for w, h, shape in SHAPES],
    indirect=["window"],
    ids=[f"{w}x{h}" for w, h, _ in SHAPES],
)
def test_wall_shape_keeps_the_map_large_and_every_block_on_screen_apart(
    window, shape, shapes_server
):
    page = window
    _open(page, shapes_server)
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    assert page.locator("#wall-root").get_attribute("data-shape") == shape
    blocks = page.evaluate(BLOCKS)
    assert len(blocks) == 1 + 8 + 6 + 1
    for name, left, top, right, bottom in blocks:
        assert left >= -0.5 and top >= -0.5, f"{name} starts off the screen"
        assert right <= width + 0.5 and bottom <= height + 0.5, f"{name} ends off the screen"
        assert right - left > 50 and bottom - top > 30, f"{name} is squeezed"
    for i, a in enumerate(blocks):
        for b in blocks[i + 1 :]:
            assert _overlap(a, b) < 1, f"{a[0]} overlaps {b[0]}"
    map_block = next(b for b in blocks if "wall-map-panel" in b[0])
    share = (map_block[3] - map_block[1]) * (map_block[4] - map_block[2]) / (width * height)
    assert share >= MAP_SHARE, f"the map has {share:.1%} of the screen"
    assert page.js_errors == []


@pytest.mark.parametrize(
    "window", [(w, h) for w, h, _ in SHAPES], indirect=True, ids=[f"{w}x{h}" for w, h, _ in SHAPES]
)
def test_wall_text_is_never_below_the_minimum_and_the_date_is_shown(window, shapes_server):
    page = window
    _open(page, shapes_server)
    height = page.viewport_size["height"]
    size, text, where = page.evaluate(SMALLEST_TEXT)
    assert size >= MIN_TEXT_PX * height / 1080 - 0.01, f"{text!r} ({where}) is {size:.1f} px"
    date = page.locator("#wall-date")
    assert date.is_visible()
    before = _today()
    shown = date.inner_text()
    assert shown in (before, _today())  # midnight may pass between the two


@pytest.mark.parametrize(
    "window, query, shape",
    [((1920, 1080), "&layout=wide", "wide"), ((5760, 1080), "&layout=standard", "standard")],
    indirect=["window"],
    ids=["wide-on-16:9", "standard-on-48:9"],
)
def test_wall_kiosk_link_forces_its_arrangement(window, query, shape, shapes_server):
    page = window
    page.goto(shapes_server.url + shapes_server.wall_link() + query)
    page.wait_for_url(re.compile(r"/wall\?layout=\w+$"))
    page.wait_for_selector("#wall-root[data-live='1']", timeout=30_000)
    assert page.locator("#wall-root").get_attribute("data-shape") == shape
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    for name, left, top, right, bottom in page.evaluate(BLOCKS):
        assert left >= -0.5 and top >= -0.5, f"{name} starts off the screen"
        assert right <= width + 0.5 and bottom <= height + 0.5, f"{name} ends off the screen"


# Leaflet has taken the map's new size (and so fitted the area again) and placed the labels.
REFITTED = """() => { const m = window.onemap.wall.map, c = m.map.getContainer();
  return m.map.getSize().x === c.clientWidth && !m.declutterQueued; }"""


@pytest.mark.parametrize("window", [(1920, 1080)], indirect=True, ids=["1920x1080"])
def test_wall_rearranges_itself_when_its_window_changes_shape(window, shapes_server):
    page = window
    _open(page, shapes_server)
    page.set_viewport_size({"width": 5760, "height": 1080})
    page.wait_for_function("() => document.getElementById('wall-root').dataset.shape === 'wide'")
    page.wait_for_function(REFITTED)
    map_block = next(b for b in page.evaluate(BLOCKS) if "wall-map-panel" in b[0])
    assert (map_block[3] - map_block[1]) * (map_block[4] - map_block[2]) / (5760 * 1080) >= 0.4
    assert page.evaluate(AREAS_UNDER_LEGEND) == 0  # fitted again beside the legend


# Labels on show, as [code, left, top, right, bottom], and how many are hidden.
LABELS = """() => {
  const m = window.onemap.wall.map, shown = [];
  let hidden = 0;
  for (const label of m.labels) {
    const element = label.tip.getElement();
    if (element.style.visibility === 'hidden') { hidden += 1; continue; }
    const r = label.text.getBoundingClientRect();
    shown.push([label.code, r.left, r.top, r.right, r.bottom]);
  }
  return [shown, hidden];
}"""


@pytest.mark.parametrize(
    "window, area",
    [
        ((1920, 1080), ""),
        ((1920, 1080), "?area=330203"),
        ((1920, 1080), "?area=330212"),
        ((3840, 1080), "?area=330212"),
    ],
    indirect=["window"],
    ids=["city", "haishu", "yinzhou", "yinzhou-32:9"],
)
def test_wall_area_labels_never_overlap(window, area, shapes_server, geo):
    page = window
    _open(page, shapes_server, area)
    shown, hidden = page.evaluate(LABELS)
    for i, a in enumerate(shown):
        for b in shown[i + 1 :]:
            assert _overlap(a, b) < 1, f"the labels of {a[0]} and {b[0]} overlap"
    if not area:  # the city's ten counties all keep their names
        assert hidden == 0 and len(shown) == 10
    else:
        assert len(shown) >= len(geo.children(area[-6:])) * 0.6, f"{hidden} of the labels hidden"


AREAS_UNDER_LEGEND = """() => {
  const legend = document.querySelector('.wall-legend').getBoundingClientRect();
  return [...document.querySelectorAll('.wall-map path.leaflet-interactive')].filter((path) => {
    const r = path.getBoundingClientRect();
    return r.left < legend.right && legend.left < r.right && r.top < legend.bottom
      && legend.top < r.bottom;
  }).length;
}"""


@pytest.mark.parametrize(
    "window, area",
    [
        ((1920, 1080), ""),
        ((1920, 1080), "?area=330213"),
        ((1920, 1080), "?area=330225"),
        ((5760, 1080), ""),
    ],
    indirect=["window"],
    ids=["city", "fenghua", "xiangshan", "city-48:9"],
)
def test_wall_legend_covers_no_area(window, area, shapes_server):
    page = window
    _open(page, shapes_server, area)
    assert page.locator(".wall-legend").is_visible()
    assert page.evaluate(AREAS_UNDER_LEGEND) == 0


# The ticker's items against its body's box once nothing slides: [in full, cut, below].
TICKER_ROWS = """() => {
  const body = document.querySelector('.panel-ticker .panel-body').getBoundingClientRect();
  const counts = [0, 0, 0];
  for (const item of document.querySelectorAll('.ticker .ticker-item')) {
    const r = item.getBoundingClientRect();
    counts[r.bottom <= body.bottom + 0.5 ? 0 : r.top >= body.bottom - 0.5 ? 2 : 1] += 1;
  }
  return counts;
}"""
TICKER_STILL = """() => {
  const t = window.onemap.wall.ticker;
  return t.queue.length === 0 && !t.timer
    && document.querySelector('.ticker').getAnimations({subtree: true}).length === 0;
}"""


@pytest.mark.parametrize(
    "window", [(1920, 1080), (3840, 1080)], indirect=True, ids=["1920x1080", "3840x1080"]
)
def test_wall_pinned_incidents_show_once_and_ticker_rows_are_whole(window, shapes_server):
    page = window
    _open(page, shapes_server)
    page.wait_for_function(TICKER_STILL, timeout=30_000)
    for incident in ("SH-OVERDUE", "SH-URGENT"):
        assert page.locator(f'.pinned [data-incident="{incident}"]').count() == 1
        assert page.locator(f'.ticker [data-incident="{incident}"]').count() == 0
    whole, cut, below = page.evaluate(TICKER_ROWS)
    assert cut == 0, "a ticker row is cut at the panel's foot"
    assert whole >= 2


# Every run of text on the wall outside the map, as [text, left, top, right, bottom] of its
# glyphs (a Range: a cell may be wider than what it holds), as much of it as its block shows.
TEXT_RUNS = """() => {
  const root = document.getElementById('wall-root'), map = root.querySelector('.wall-map-panel');
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT), runs = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim(), el = node.parentElement;
    if (!text || !el || map.contains(el) || el.closest('[hidden]')) continue;
    if (getComputedStyle(el).visibility !== 'visible') continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    // what shows of it: its block clips it (a ticker's rows below the panel's foot are hidden)
    const r = range.getBoundingClientRect(), block = el.closest('.panel, .kpi, .wall-header');
    const c = block ? block.getBoundingClientRect() : r;
    const left = Math.max(r.left, c.left), right = Math.min(r.right, c.right);
    const top = Math.max(r.top, c.top), bottom = Math.min(r.bottom, c.bottom);
    if (right > left && bottom > top) runs.push([text.slice(0, 20), left, top, right, bottom]);
  }
  return runs;
}"""


@pytest.mark.parametrize(
    "window, seams",
    [((3840, 2160), "2x2"), ((5760, 3240), "3x3")],
    indirect=["window"],
    ids=["2x2-of-1080p", "3x3-of-1080p"],
)
def test_wall_on_a_grid_of_screens_keeps_tiles_panels_and_text_off_the_seams(
    window, seams, shapes_server
):
    """?seams= on a spliced grid: no tile, side panel, banner or run of text straddles a seam
    between two screens (only the map crosses them); the blocks stay on the screen and apart,
    the map keeps its share, the ladder's five rows are whole and no text is below the
    minimum."""
    page = window
    _open(page, shapes_server, f"?seams={seams}")
    assert page.locator("#wall-root").get_attribute("data-seams") == seams
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    columns, rows = (int(n) for n in seams.split("x"))
    xs = [width * n / columns for n in range(1, columns)]
    ys = [height * n / rows for n in range(1, rows)]

    def straddles(left: float, top: float, right: float, bottom: float) -> list[str]:
        cut = [f"x={x:.0f}" for x in xs if left < x - 0.5 and right > x + 0.5]
        return cut + [f"y={y:.0f}" for y in ys if top < y - 0.5 and bottom > y + 0.5]

    blocks = page.evaluate(BLOCKS)
    assert len(blocks) == 1 + 8 + 6 + 1
    for name, left, top, right, bottom in blocks:
        assert left >= -0.5 and top >= -0.5 and right <= width + 0.5 and bottom <= height + 0.5
        if "wall-map-panel" in name or "wall-header" in name:
            continue  # the map crosses seams; the header's text is checked run by run below
        assert not straddles(left, top, right, bottom), f"{name} on a seam"
    for i, a in enumerate(blocks):
        for b in blocks[i + 1 :]:
            assert _overlap(a, b) < 1, f"{a[0]} overlaps {b[0]}"
    # this module's data stopped minutes ago: the wall is stale, its banner up, and in one screen
    banner = page.locator(".wall-outage")
    banner.wait_for(state="visible", timeout=30_000)
    box = banner.bounding_box()
    assert not straddles(box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"])
    runs = page.evaluate(TEXT_RUNS)
    assert len(runs) > 50
    on_seams = [(text, straddles(*box)) for text, *box in runs if straddles(*box)]
    assert not on_seams, on_seams
    map_block = next(b for b in blocks if "wall-map-panel" in b[0])
    share = (map_block[3] - map_block[1]) * (map_block[4] - map_block[2]) / (width * height)
    assert share >= MAP_SHARE, f"the map has {share:.1%} of the screen"
    ladder = page.locator(".panel-ladder .panel-body").bounding_box()
    last = page.locator(".ladder .ladder-row").last.bounding_box()
    assert page.locator(".ladder .ladder-row").count() == 5
    assert last["y"] + last["height"] <= ladder["y"] + ladder["height"] + 0.5, "ladder cut"
    # the pinned incidents on show are whole inside the ticker (one on a 3x3's short panel,
    # the other counted below it)
    page.locator(".pinned .pinned-item").first.wait_for(timeout=10_000)
    body = page.locator(".panel-ticker .panel-body").bounding_box()
    shown = [p for p in page.locator(".pinned .pinned-item").all() if p.is_visible()]
    assert shown and all(
        (b := p.bounding_box())["y"] + b["height"] <= body["y"] + body["height"] + 0.5
        for p in shown
    ), "a pinned incident is cut at the ticker's foot"
    pinned = page.locator(".pinned .pinned-item").count()
    more = page.locator(".pinned").get_attribute("data-more") or "0"
    assert len(shown) + int(more) == pinned
    cut = page.evaluate(CUT_TILE_TEXT)
    assert not cut, f"tile text cut short: {cut}"  # "今日办结 4,…" would hide the figure
    size, text, where = page.evaluate(SMALLEST_TEXT)
    assert size >= MIN_TEXT_PX * height / 1080 - 0.01, f"{text!r} ({where}) is {size:.1f} px"
    assert page.js_errors == []


# The tiles at the widest figures of an ordinary city day (four-digit counts, every worker
# patrolling, a rate's two decimals, changes of hundreds or of points), written in and
# measured in one task (no push between): the texts their box cuts short (an ellipsis), as
# [tile, class, text, by how much].
CUT_TILE_TEXT = """() => {
  const widest = {reported: '9,999', patrol_workers: '10,000', open: '9,999', overdue: '999',
    online: '10,000'};
  for (const tile of document.querySelectorAll('.wall-kpis .kpi')) {
    const key = tile.className.replace(/.*kpi-/, ''), rate = /rate$/.test(key);
    tile.querySelector('.kpi-value').textContent = rate ? '99.97' : widest[key];
    const caption = tile.querySelector('.kpi-caption');
    if (caption) caption.textContent = caption.getAttribute('data-text') + ' 9,999';
    const delta = tile.querySelector('.kpi-delta');  // online has none: no day-old positions
    const change = rate ? '9.9个百分点' : '999';
    if (delta && key !== 'online') delta.textContent = '较昨日同时 ▼ ' + change;
  }
  return [...document.querySelectorAll(
      '.kpi .kpi-label, .kpi .kpi-caption, .kpi .kpi-delta, .kpi .kpi-figure')]
    .filter((el) => el.scrollWidth > el.clientWidth + 1)
    .map((el) => [el.closest('.kpi').className, el.className, el.textContent,
      `${el.scrollWidth - el.clientWidth}px short`]);
}"""
