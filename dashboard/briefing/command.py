"""``onemap report daily``: the daily briefings on demand, written where the server keeps them.

The command folds the log itself (as a server does at its start, recalling from the archive
what memory would have let go), so it needs no running server, only Redis and the data dir.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date, datetime
from typing import Any

from feeds.schema import CHINA_TZ

log = logging.getLogger("onemap.report")


def add_report_commands(sub: Any) -> None:
    report = sub.add_parser("report", help="briefings (日报): PDF and Excel under the data dir")
    kinds = report.add_subparsers(required=True, metavar="KIND")
    daily = kinds.add_parser("daily", help="the daily briefing of the city and each county")
    daily.add_argument("--date", help="YYYY-MM-DD or 'today' (default: yesterday, China time)")
    daily.add_argument(
        "--area",
        action="append",
        help="the city's or a county's code, repeatable (default: the city and each county)",
    )
    daily.set_defaults(func=daily_command)


def daily_command(args: argparse.Namespace) -> int:
    from dashboard.briefing.gather import NotHeld
    from dashboard.briefing.make import Maker, yesterday
    from dashboard.briefing.pdf import PrintFailed

    now = datetime.now(CHINA_TZ)
    try:
        day = _day(args.date, now)
    except ValueError:
        log.error("--date must be YYYY-MM-DD or 'today', not %r", args.date)
        return 2
    live, archive, settings = _folded()
    maker = Maker(live, archive, settings.data_dir)
    areas = args.area or maker.areas()
    wrong = [a for a in areas if a not in maker.areas()]
    if wrong:
        log.error("not the city or a county: %s", ", ".join(wrong))
        return 2
    try:
        written = maker.daily(day or yesterday(now), areas, now)
    except NotHeld as exc:
        log.error("%s", exc)
        return 2
    except PrintFailed as exc:
        log.error("the PDF could not be printed: %s", exc)
        return 1
    for path in written:
        print(path, flush=True)
    return 0


def _day(text: str | None, now: datetime) -> date | None:
    if not text:
        return None
    return now.astimezone(CHINA_TZ).date() if text == "today" else date.fromisoformat(text)


def _folded() -> Any:
    from dashboard.cold.store import ColdStore
    from dashboard.config import Settings
    from dashboard.live.livestate import LiveState
    from dashboard.live.rebuild import rebuild
    from dashboard.state import State
    from feeds.archive import Archive
    from feeds.bus import Bus
    from feeds.geo import load_geography
    from feeds.outage import connect
    from feeds.redis_server import missing_url_message

    settings = Settings.from_env()
    if not settings.redis_url:
        sys.exit(missing_url_message(settings.redis_dir))
    bus = Bus(connect(settings.redis_url, "onemap-report"), prefix=settings.prefix)
    state = State(load_geography(), recent_size=max(500, settings.ticker_size))
    archive = Archive(settings.archive_dir)
    state.recall = ColdStore(archive).recall_or_none
    live = LiveState(state)
    rebuild(bus, state, live.actions)
    live.ready.set()
    return live, archive, settings
