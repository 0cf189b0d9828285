"""The duty desk's export (issue 20): a sheet an officer can file and hand on.

Real Redis (tests/conftest.py), the app built as the server builds it, signed in through the
real login form; the workbook read back with openpyxl, the CSV with the csv module.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from feeds.schema import CHINA_TZ, decode_trusted
from tests.factories import event_dict, line

# No promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

CITY = "330200"
PASSWORD = "a long enough test password"
PHONE = "13812345678"


def _signed_in(app, name: str):
    http = app.server.test_client()
    form = http.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    signed = http.post("/login", data={"csrf_token": token, "username": name, "password": PASSWORD})
    assert signed.status_code == 302
    return http


@pytest.fixture
def desk(redis_server, prefix, geo):
    from dashboard.config import Settings
    from onemap.app import create_app

    app = create_app(Settings(redis_url=redis_server.url, prefix=prefix, cookie_secure=False))
    app.access.store.add_user("duty1", "duty", CITY, PASSWORD, "值班员")
    app.access.store.add_user("lead1", "leader", CITY, PASSWORD, "领导")
    reported = datetime.now(UTC).astimezone(CHINA_TZ).replace(microsecond=0) - timedelta(hours=2)
    due = reported + timedelta(days=1)
    steps = [
        event_dict(geo, 1, id="OPEN-1", ts=reported.isoformat(), deadline=due.isoformat(),
                   detail=f"居民来电 {PHONE}，门口井盖缺失。"),
        event_dict(geo, 2, id="DONE-1", ts=reported.isoformat(), deadline=due.isoformat()),
        event_dict(geo, 2, id="DONE-1", seq=2, type="closed",
                   ts=(reported + timedelta(hours=1)).isoformat(), deadline=due.isoformat()),
    ]  # fmt: skip
    for step in steps:
        app.bus.publish(decode_trusted(line(step)))
    app.hub.bridge.rebuild()
    duty = _signed_in(app, "duty1")
    socket = app.socketio.test_client(app.server, flask_test_client=duty)
    for verb in ("supervise", "acknowledge"):
        reply = socket.emit("act", {"verb": verb, "incident": "OPEN-1"}, callback=True)
        assert reply["ok"], reply
    socket.disconnect()
    app.hub.bridge.rebuild()  # the bridge is not running: fold the actions as a restart does
    yield app, duty, _signed_in(app, "lead1"), reported, due


def test_the_sheet_has_dates_with_their_year_a_live_countdown_the_detail_and_the_marks(desk):
    _app, duty, _lead, reported, due = desk
    answer = duty.get("/api/duty/export.xlsx")
    assert answer.status_code == 200
    stamp = datetime.now(UTC).astimezone(CHINA_TZ).strftime("%Y%m%d-%H")
    assert f'filename="onemap-{stamp}' in answer.headers["Content-Disposition"]  # local time
    sheet = load_workbook(io.BytesIO(answer.get_data()))["事件"]
    assert sheet.freeze_panes == "A2"
    assert all(c.font.b for c in sheet[1])
    assert sheet.auto_filter.ref.startswith("A1:")
    assert sheet.column_dimensions["I"].width >= 40  # the detail has room
    header = [c.value for c in sheet[1]]
    rows = {r[0].value: dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2)}
    open_row, done_row = rows["OPEN-1"], rows["DONE-1"]
    # real dates, China time, with the year
    assert open_row["上报时间"].value == reported.replace(tzinfo=None)
    assert open_row["办理时限"].value == due.replace(tzinfo=None)
    assert open_row["上报时间"].number_format == "yyyy-mm-dd hh:mm"
    assert done_row["办结时间"].value == (reported + timedelta(hours=1)).replace(tzinfo=None)
    # hours left: worked out when the sheet is opened, on this row's deadline
    n = open_row["事件编号"].row
    assert open_row["剩余/超期"].value == f"=ROUND((K{n}-NOW())*24,1)"
    assert done_row["剩余/超期"].value in (None, "")
    assert PHONE in open_row["详情"].value
    assert (open_row["督办"].value, open_row["签收"].value) == ("是", "是")
    assert done_row["督办"].value in (None, "")


def test_a_role_that_may_not_read_personal_data_gets_the_detail_masked(desk):
    _app, _duty, lead, _reported, _due = desk
    answer = lead.get("/api/duty/export.csv")
    assert answer.status_code == 200
    table = list(csv.reader(io.StringIO(answer.get_data().decode("utf-8-sig"))))
    header, rows = table[0], {r[0]: r for r in table[1:]}
    detail = rows["OPEN-1"][header.index("详情")]
    assert "井盖缺失" in detail and PHONE not in detail and "138****5678" in detail
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", rows["OPEN-1"][header.index("上报时间")])
    assert any(h.startswith("剩余/超期（截至") for h in header)  # a CSV says when it counted
