"""Figures that do not mislead: how a rate is shown (never 100 % or 0 % unless it is), one
formatter for every page, and what each tile says it counts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from dashboard.analytics import explain
from dashboard.analytics.percent import percent
from dashboard.state import State
from dashboard.views.kpis import CAPTIONS
from feeds.schema import CHINA_TZ

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"

# (rate, as shown): the edges, and a tie that Python's format and JavaScript's toFixed round
# apart unless the formatter rounds as toFixed does
EDGES = [
    (1, "100.0"),
    (1.0, "100.0"),
    (0.99969, "99.97"),  # an overdue incident among 3,200: not "100.0"
    (0.9995, "99.95"),
    (0.99999, "99.99"),  # two decimals still round to 100: the nearest figure short of it
    (0.9994, "99.9"),
    (0.00031, "0.03"),
    (0.000001, "0.01"),
    (0.0005, "0.1"),
    (0, "0.0"),
    (0.0, "0.0"),
    (None, "—"),
    (0.5, "50.0"),
    (0.1225, "12.3"),  # 12.25 exactly: a tie, rounded away from zero as toFixed does
    (0.8099025141097999, "81.0"),
]


@pytest.mark.parametrize(("rate", "shown"), EDGES, ids=[str(r) for r, _ in EDGES])
def test_a_rate_reads_100_or_0_only_when_it_is_exactly_that(rate, shown):
    assert percent(rate) == shown
    if rate not in (None, 0, 1):
        assert float(percent(rate)) not in (0.0, 100.0)


def test_no_rate_between_the_edges_reads_as_an_edge():
    for n in range(1, 100_000):
        for rate in (1 - n / 1e7, n / 1e7):
            assert float(percent(rate)) not in (0.0, 100.0), rate


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page's script")
def test_the_pages_formatter_writes_exactly_what_the_server_writes():
    rates = [r for r, _ in EDGES] + [n / 997 for n in range(998)] + [1 - 10**-k for k in range(9)]
    script = (
        "global.window = {location: {search: ''}};"
        f"require({json.dumps(str(ASSETS / 'onemap-10-core.js'))});"
        f"console.log(JSON.stringify({json.dumps(rates)}.map(window.onemap.percent)));"
    )
    shown = json.loads(
        subprocess.run(["node", "-e", script], capture_output=True, check=True).stdout
    )
    assert shown == [percent(r) for r in rates]


def test_every_page_formats_rates_with_the_one_formatter():
    """The wall, the tablet and the desk show rates with ``onemap.percent``; a rate written
    with ``(value * 100).toFixed(1)`` would read "100.0" at 0.99969."""
    by_hand = re.compile(r"\*\s*100\)?\.toFixed\(")
    for script in sorted(ASSETS.glob("onemap-*.js")):
        if script.name == "onemap-10-core.js":  # where onemap.percent itself lives
            continue
        assert not by_hand.search(script.read_text(encoding="utf-8")), script.name
    for page in ("onemap-40-panels.js", "onemap-55-duty.js", "onemap-60-tablet.js"):
        assert "onemap.percent(" in (ASSETS / page).read_text(encoding="utf-8"), page


def test_the_index_explains_with_the_same_rounding():
    entry = {
        "score": 80.0,
        "colour": "yellow",
        "components": {
            "on_time_rate": {
                "label": "按期办结率",
                "value": 0.99969,
                "reference": 0.99999,
                "adjusted": 0.9997,
                "normalised": 90.0,
                "weight": 0.25,
                "better": "higher",
                "lost": 2.5,
            }
        },
    }
    assert explain(entry) == ["按期办结率 99.97%（参照 99.99%）扣 2.5 分"]


def test_each_rate_tile_says_what_it_is_over(geo):
    figures = State(geo).metrics.figures(geo.city.code, datetime(2026, 3, 10, tzinfo=CHINA_TZ))
    for rate, (caption, base) in CAPTIONS.items():
        assert rate in figures and base in figures, rate
        assert caption and base in ("due", "closed")
    assert CAPTIONS["disposal_rate"] == CAPTIONS["on_time_rate"]  # one population for both
