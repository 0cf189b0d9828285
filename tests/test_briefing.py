"""The daily briefing (日报, issue 20): its figures are the live ones, its PDF reads in Chinese,
it is kept inside each account's jurisdiction, and the command writes it.

Real Redis (tests/conftest.py) and the app built as the server builds it, signed in through
the real login form; the PDF printed by Debian's chromium and read back with pdftotext.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from dashboard.briefing import text
from dashboard.briefing.gather import KPIS
from dashboard.briefing.make import Maker
from dashboard.briefing.morning import Morning, parse_at
from dashboard.state import State
from dashboard.views.kpis import headline
from feeds.schema import CHINA_TZ, decode_trusted
from tests.factories import a_grid, event_dict, line

# No promise about time (a fold, a browser print): side by side with the fault tests.
pytestmark = pytest.mark.parallel

CITY, YINZHOU, HAISHU = "330200", "330212", "330203"
PASSWORD = "a long enough test password"
ROOT = Path(__file__).resolve().parent.parent
KIND = {key: kind for key, _label, kind in KPIS}


def _steps(geo, now: datetime, county: str = YINZHOU, tag: str = "") -> list[dict]:
    """Two days and a bit of incidents in 鄞州 and 海曙, with a known story at yesterday's end:
    closed on time at the grid, overdue and still open, open then closed today, due
    yesterday and closed late today; the log reaches back far enough for every figure."""
    y0 = now.astimezone(CHINA_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    y0 -= timedelta(days=1)
    today = y0 + timedelta(days=1)
    half = today + (now - today) / 2  # some time today, whatever the hour the test runs

    def life(n, id_, start, deadline, closes=(), category=None):
        grid = n
        extra = {"category": category} if category else {}
        out = [event_dict(geo, grid, id=id_, ts=start.isoformat(), deadline=deadline.isoformat(),
                          **extra)]  # fmt: skip
        for seq, (at, level) in enumerate(closes, start=2):
            closing = {"seq": seq, "type": "closed", "level": level, "ts": at.isoformat()}
            out.append(event_dict(geo, grid, id=id_, deadline=deadline.isoformat(),
                                  **closing, **extra))  # fmt: skip
        return out

    h = timedelta(hours=1)
    g = _grid_index(geo, county)
    return [
        *life(g, tag + "Z", y0 - 24 * h + timedelta(minutes=5), y0 - 20 * h, [(y0 - 23 * h, 1)]),
        *life(g, tag + "A", y0 + 8 * h, y0 + 9.5 * h, [(y0 + 8.8 * h, 1)], "sc01"),
        *life(g, tag + "B", y0 + 8.5 * h, y0 + 9 * h),
        *life(g, tag + "C", y0 + 10 * h, y0 + 40 * h, [(y0 + 11 * h, 2)], "sc01"),
        *life(g, tag + "D", y0 + 7 * h, y0 + 20 * h, [(half, 2)], "zf02"),
        *life(g, tag + "E", y0 + 9 * h, today + 30 * h, [(half, 1)]),
        *life(g, tag + "F", y0 + 12 * h, y0 + 13 * h, [(y0 + 14 * h, 3)]),
        *life(g, tag + "L", y0 + 23.9 * h, today + 30 * h),  # in the day's last 10 minutes
        *life(g, tag + "T", today + (now - today) / 4, today + 30 * h),
    ]


def _grid_index(geo, county: str) -> int:
    return next(n for n in range(len(geo.grids)) if geo.county_of(a_grid(geo, n)) == county)


def _signed_in(app, name: str):
    http = app.server.test_client()
    form = http.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    signed = http.post("/login", data={"csrf_token": token, "username": name, "password": PASSWORD})
    assert signed.status_code == 302
    return http


@pytest.fixture
def server(redis_server, prefix, geo, tmp_path):
    from dashboard.config import Settings
    from onemap.app import create_app

    settings = Settings(redis_url=redis_server.url, prefix=prefix, cookie_secure=False,
                        data_dir=str(tmp_path), briefing_at="")  # fmt: skip
    app = create_app(settings)
    for name, role, scope in (("city1", "leader", CITY), ("yz1", "duty", YINZHOU),
                              ("hs1", "leader", HAISHU), ("wall1", "wall", CITY)):  # fmt: skip
        app.access.store.add_user(name, role, scope, PASSWORD, name)
    now = datetime.now(UTC)
    steps = _steps(geo, now) + _steps(geo, now, HAISHU, "H-")
    for step in steps:
        app.bus.publish(decode_trusted(line(step)))
    app.hub.bridge.rebuild()
    from dashboard.briefing.make import Maker

    maker = Maker(app.hub.live, app.hub.archive, settings.data_dir)
    yield app, maker, steps, now


def _shown(kind: str, value) -> str:
    return text.figure(kind, value)


def test_yesterdays_briefing_says_what_the_wall_showed_at_midnight(server, geo):
    app, maker, steps, now = server
    day = now.astimezone(CHINA_TZ).date() - timedelta(days=1)
    midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), CHINA_TZ)
    # the wall at 23:59:59.999999: a state that had seen only the steps before midnight
    before = State(geo)
    for n, step in enumerate(s for s in steps if datetime.fromisoformat(s["ts"]) < midnight):
        before.apply_event(f"{n + 1}-0", decode_trusted(line(step)))
    for area in (CITY, YINZHOU):
        wall = headline(before, area, midnight - timedelta(microseconds=1))
        made = maker.briefing(day, area, now)
        compared = [k for k in KIND if k in made.kpis]
        assert set(compared) >= {"reported", "closed", "open", "overdue", "due",
                                 "disposal_rate", "on_time_rate", "self_closure_rate"}  # fmt: skip
        for key in compared:
            assert made.kpis[key] == wall[key], (area, key)
            assert _shown(KIND[key], made.kpis[key]) == _shown(KIND[key], wall[key])
    city = maker.briefing(day, CITY, now).kpis
    # the story, in each county: B and D overdue at midnight (D closed late today), E and L
    # open (L reported at 23:54);
    # due were A (on time), F (late) and the overdue B and D
    assert (city["overdue"], city["open"], city["reported"], city["due"]) == (4, 8, 14, 8)
    assert [_shown("rate", city[k]) for k in ("disposal_rate", "on_time_rate")] == [
        "50.0%", "25.0%"]  # fmt: skip


def test_todays_briefing_is_the_servers_kpi_payload_and_trends(server):
    app, maker, _steps_, now = server
    day = now.astimezone(CHINA_TZ).date()
    http = _signed_in(app, "city1")
    socket = app.socketio.test_client(app.server, flask_test_client=http)
    for area in (CITY, YINZHOU):
        with app.hub.live.read():
            payload = app.hub.figures.kpis(area, now)
        made = maker.briefing(day, area, now)
        for key, _label, kind in KPIS:
            assert made.kpis.get(key) == payload["kpis"].get(key), key
            assert made.previous.get(key) == payload["yesterday"].get(key), key
            assert _shown(kind, made.kpis.get(key)) == _shown(kind, payload["kpis"].get(key))
        reply = socket.emit("trends", {"scope": area, "days": 7}, callback=True)
        assert reply["ok"], reply
        days = reply["days"]
        assert [r["day"] for r in made.series[-7:]] == [r["day"] for r in days]
        assert made.series[-7:-1] == days[:-1]  # the days before: the tablet's counts
        # today's point is the live KPIs, as the tablet draws it
        assert (made.series[-1]["reported"], made.series[-1]["closed"]) == (
            payload["kpis"]["reported"], payload["kpis"]["closed"])  # fmt: skip
    socket.disconnect()


def test_the_pdf_reads_in_chinese_and_the_sheet_holds_typed_figures(server, tmp_path):
    _app, maker, _steps_, now = server
    day = now.astimezone(CHINA_TZ).date() - timedelta(days=1)
    pdf, xlsx = (maker.store.path(day, CITY, k) for k in ("pdf", "xlsx"))
    maker.make(day, CITY, now)
    said = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          check=True, timeout=60).stdout.decode()  # fmt: skip
    for heading in ("宁波市基层治理日报", "核心指标", "处置率", "按期办结率", "治理指数变化及原因",
                    "近8日上报与办结", "上报事件类别", "各区县情况", "超期事件"):  # fmt: skip
        assert heading in said, heading
    made = maker.briefing(day, CITY, now)
    assert text.rate(made.kpis["disposal_rate"]) in said
    book = load_workbook(io.BytesIO(xlsx.read_bytes()))
    sheet = book["核心指标"]
    assert sheet.freeze_panes == "A2" and all(c.font.b for c in sheet[1])
    rows = {r[0].value: r for r in sheet.iter_rows(min_row=2)}
    assert rows["上报事件"][1].value == made.kpis["reported"]
    rate = rows["处置率"][1]
    assert rate.value == pytest.approx(made.kpis["disposal_rate"])
    assert rate.number_format == "0.0%"
    overdue = book["超期事件"]
    assert overdue.max_row - 1 == made.overdue_total
    assert isinstance(overdue["H2"].value, datetime)  # 办理时限: a real date


def test_a_county_account_sees_and_downloads_only_its_county(server):
    app, maker, _steps_, now = server
    day = now.astimezone(CHINA_TZ).date() - timedelta(days=1)
    for area in (CITY, YINZHOU, HAISHU):
        maker.make(day, area, now)
    yz, city, wall = _signed_in(app, "yz1"), _signed_in(app, "city1"), _signed_in(app, "wall1")
    listed = {r["area"] for r in yz.get("/api/reports").get_json()["reports"]}
    assert listed == {YINZHOU}
    assert {r["area"] for r in city.get("/api/reports").get_json()["reports"]} == {
        CITY, YINZHOU, HAISHU}  # fmt: skip
    page = yz.get("/reports").get_data(as_text=True)
    assert "鄞州区" in page and "海曙区" not in page and f"{HAISHU}.pdf" not in page
    base = f"/api/reports/daily/{day.isoformat()}"
    for kind in ("pdf", "xlsx"):
        assert yz.get(f"{base}/{HAISHU}.{kind}").status_code == 404
        assert yz.get(f"{base}/{CITY}.{kind}").status_code == 404
    assert wall.get(f"{base}/{CITY}.pdf").status_code == 404  # a wall is not a reader
    assert wall.get("/api/reports").status_code == 404
    assert app.server.test_client().get(f"{base}/{CITY}.pdf").status_code == 401
    for kind, magic in (("pdf", b"%PDF"), ("xlsx", b"PK")):
        got = yz.get(f"{base}/{YINZHOU}.{kind}")
        assert got.status_code == 200 and got.data.startswith(magic)
        got.close()  # a sent file stays open until its response is
    trail = [e for e in app.access.store.audit_tail(50) if e.get("event") == "briefing"]
    assert {(e["user"], e["area"], e["format"]) for e in trail} == {
        ("yz1", YINZHOU, "pdf"), ("yz1", YINZHOU, "xlsx")}  # fmt: skip


def test_report_daily_writes_the_city_and_county_files(server, redis_server, prefix, tmp_path):
    _app, _maker, _steps_, now = server
    out = tmp_path / "cli"
    env = dict(os.environ, ONEMAP_REDIS_URL=redis_server.url, ONEMAP_PREFIX=prefix,
               ONEMAP_DATA_DIR=str(out))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "onemap.cli", "report", "daily", "--area", CITY, "--area", YINZHOU],
        cwd=ROOT, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    day = (now.astimezone(CHINA_TZ) - timedelta(days=1)).date().isoformat()
    for area in (CITY, YINZHOU):
        for kind in ("pdf", "xlsx", "json"):
            path = out / "reports" / "daily" / day / f"{area}.{kind}"
            assert path.is_file() and path.stat().st_size > 0, path
            assert str(path) in done.stdout.decode()
    refused = subprocess.run(
        [sys.executable, "-m", "onemap.cli", "report", "daily", "--date", "2001-01-01"],
        cwd=ROOT, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 2 and b"not held" in refused.stderr


class _OneCounty(Maker):
    """The morning's set cut to one county (eleven Chromium prints prove no more than one)."""

    def areas(self) -> list[str]:
        return [YINZHOU]


def test_the_morning_run_writes_yesterdays_briefing_once_across_replicas(server):
    app, maker, _steps_, now = server
    live, bus = app.hub.live, app.bus
    data_dir = maker.store.root.parent.parent
    at = parse_at("07:00")
    assert at is not None and parse_at("") is None
    first = Morning(
        _OneCounty(live, app.hub.archive, str(data_dir)),
        bus.client,
        app.settings.prefix,
        at,
        live.ready,
    )
    second = Morning(
        _OneCounty(live, app.hub.archive, str(data_dir)),
        bus.client,
        app.settings.prefix,
        at,
        live.ready,
    )
    local = now.astimezone(CHINA_TZ)
    day = (local - timedelta(days=1)).date()
    early = local.replace(hour=6, minute=59)
    assert not first.check(early)  # before its time
    assert not maker.store.path(day, YINZHOU, "pdf").exists()
    later = local.replace(hour=7, minute=1)
    assert first.check(later)
    assert not second.check(later)  # another replica: the marker says it is done
    assert not first.check(later.replace(hour=9))  # once a day
    for kind in ("pdf", "xlsx", "json"):
        assert maker.store.path(day, YINZHOU, kind).stat().st_size > 0, kind
    assert not maker.store.path(day, CITY, "pdf").exists()
