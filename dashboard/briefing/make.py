"""Gather, render and keep: one briefing, or the morning's set (the city and each county)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path

from dashboard.briefing.gather import Briefing, gather
from dashboard.briefing.page import render
from dashboard.briefing.pdf import CHROMIUM, print_pdf
from dashboard.briefing.sheet import workbook
from dashboard.briefing.store import Store
from dashboard.live.livestate import LiveState
from dashboard.views.trends import Trends
from feeds.archive import Archive
from feeds.schema import CHINA_TZ

log = logging.getLogger(__name__)


def yesterday(now: datetime) -> date:
    return now.astimezone(CHINA_TZ).date() - timedelta(days=1)


class Maker:
    def __init__(
        self, live: LiveState, archive: Archive | None, data_dir: str, chromium: str = CHROMIUM
    ) -> None:
        self.live = live
        self.trends = Trends(live, archive)
        self.store = Store(data_dir)
        self.chromium = chromium

    def areas(self) -> list[str]:
        """The morning's set: the city, then each county."""
        geo = self.live.geo
        return [geo.city.code, *sorted(geo.counties)]

    def briefing(self, day: date, area: str, now: datetime | None = None) -> Briefing:
        return gather(self.live, self.trends, self.store, area, day, now or datetime.now(CHINA_TZ))

    def make(self, day: date, area: str, now: datetime | None = None) -> list[Path]:
        """One briefing written: its figures (json), the workbook and the PDF."""
        started = time.perf_counter()
        b = self.briefing(day, area, now)
        figures = json.dumps(b.to_json(), ensure_ascii=False, indent=1).encode("utf-8")
        pdf = print_pdf(render(b), self.chromium)
        written = [
            self.store.write(day, area, "json", figures),
            self.store.write(day, area, "xlsx", workbook(b)),
            self.store.write(day, area, "pdf", pdf),
        ]
        log.info("daily briefing %s %s written in %.1fs", day, area, time.perf_counter() - started)
        return written

    def daily(self, day: date, areas: Iterable[str], now: datetime | None = None) -> list[Path]:
        """In order, the city first: a county's comparisons never read the city's."""
        written: list[Path] = []
        for area in areas:
            written += self.make(day, area, now)
        return written
