"""Workers' names and numbers at the desk: the directory (imported by `onemap workers import`
or written by the simulator), names beside ids in an incident's detail, and `contact`: a number
in full only for duty officers, only inside the jurisdiction, every ask audited."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import pytest

from dashboard.views.contact import masked_name, masked_phone
from feeds.directory import Directory, WorkerCard, read_roster
from feeds.outage import Outage
from feeds.schema import decode_trusted
from feeds.sim import Model, SimConfig
from feeds.sim.names import card_of
from feeds.sim.run import _directory
from tests.factories import event_dict, line, position_dict
from tests.live import dashboard, run_cli, sign_in
from tests.test_actions import Client

pytestmark = pytest.mark.parallel

YINZHOU, YUYAO = "330212", "330281"


def test_names_and_numbers_are_masked_the_way_a_reader_expects():
    assert [masked_name(n) for n in ("王", "王伟", "欧阳娜娜", "张建国")] == [
        "王", "王*", "欧**娜", "张*国"
    ]  # fmt: skip
    assert masked_phone("13812345678") == "138****5678"
    assert masked_phone("0574-87654321") == "0574-****4321"


def test_a_roster_is_checked_line_by_line(tmp_path, redis_client, prefix):
    good = tmp_path / "roster.csv"
    good.write_text("\ufeffid,name,phone,grid\nW1,王伟,138 1234 5678,\nW2,李娜,0574-87654321,\n",
                    encoding="utf-8")  # fmt: skip
    cards = read_roster(good)
    assert [(c.id, c.phone) for c in cards] == [("W1", "13812345678"), ("W2", "0574-87654321")]
    directory = Directory(redis_client, prefix)
    assert directory.put(cards) == 2 and directory.get(["W2", "W9"]) == {"W2": cards[1]}
    for bad, why in [
        ("id,name,phone\nW 1,王伟,13812345678\n", "line 2"),  # an id with a space
        ("id,name,phone\nW1,,13812345678\n", "name"),
        ("id,name,phone\nW1,王伟,12345\n", "phone"),
    ]:
        path = tmp_path / "bad.csv"
        path.write_text(bad, encoding="utf-8")
        with pytest.raises(ValueError, match=why):
            read_roster(path)


@pytest.fixture
def server(redis_server, prefix, tmp_path):
    with dashboard(redis_server.url, prefix, tmp_path) as running:
        yield running


def _in(geo, county: str, start: int = 0) -> int:
    return next(i for i in range(start, 5000) if event_dict(geo, i)["area"]["county"] == county)


def test_the_desk_names_workers_and_calls_them_inside_its_jurisdiction(server, bus, geo, tmp_path):
    near, far = _in(geo, YINZHOU), _in(geo, YUYAO)
    reporter, colleague, stranger = f"W{near:06d}", f"W{near + 1:06d}", f"W{far:06d}"
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "id,name,phone,grid\n"
        f"{reporter},王建国,13812345678,{event_dict(geo, near)['area']['grid']}\n"
        f"{colleague},李娜,13987654321,\n"  # no grid: their last fix says where they are
        f"{stranger},赵敏,13711112222,{event_dict(geo, far)['area']['grid']}\n",
        encoding="utf-8",
    )
    imported = run_cli(["workers", "import", str(roster)], server.redis_url, server.prefix)
    assert imported.returncode == 0, imported.stderr
    assert b"3 workers imported" in imported.stdout
    incident = event_dict(geo, near, id="contact-1", reporter=reporter)
    bus.publish(decode_trusted(line(incident)))
    for worker in (reporter, colleague):  # both on duty in the incident's grid
        fix = position_dict(geo, near, worker=worker)
        bus.publish(decode_trusted(line(fix)))
    server.add_user("duty-yz", "duty", YINZHOU, cli=False)
    server.add_user("leader-yz", "leader", YINZHOU, cli=False)
    duty = Client(server.url, sign_in(server, "duty-yz"), YINZHOU)
    leader = Client(server.url, sign_in(server, "leader-yz"), YINZHOU)
    try:
        deadline = time.monotonic() + 10
        while True:
            detail = duty.client.call("incident", {"id": "contact-1"}, timeout=10)
            if detail["ok"] and len(detail["incident"]["nearby"]) >= 2:
                break
            assert time.monotonic() < deadline, detail
            time.sleep(0.1)
        shown = detail["incident"]
        assert shown["reporterName"] == "王建国"
        assert {w["worker"]: w["name"] for w in shown["nearby"]} == {
            reporter: "王建国", colleague: "李娜"
        }  # fmt: skip
        assert "13812345678" not in str(shown)  # numbers are asked for, never listed
        masked = leader.client.call("incident", {"id": "contact-1"}, timeout=10)["incident"]
        assert masked["reporterName"] == "王*国"

        ask = {"worker": reporter, "incident": "contact-1"}
        assert duty.client.call("contact", ask, timeout=10) == {
            "ok": True, "worker": reporter, "name": "王建国", "phone": "13812345678",
            "masked": False,
        }  # fmt: skip
        assert leader.client.call("contact", ask, timeout=10)["phone"] == "138****5678"
        by_fix = duty.client.call("contact", {"worker": colleague}, timeout=10)
        assert by_fix["phone"] == "13987654321"
        refused = [
            duty.client.call("contact", {"worker": stranger}, timeout=10),  # another county
            duty.client.call("contact", {"worker": "W-nobody"}, timeout=10),
        ]
        assert refused[0] == refused[1] == {"ok": False, "error": "worker not found"}

        looks = [e for e in server.store().audit_tail(100) if e.get("event") == "contact"]
        assert [(e["user"], e["worker"], e["outcome"], e["revealed"]) for e in looks[::-1]] == [
            ("duty-yz", reporter, "granted", "1"),
            ("leader-yz", reporter, "granted", "0"),
            ("duty-yz", colleague, "granted", "1"),
            ("duty-yz", stranger, "refused", "0"),
            ("duty-yz", "W-nobody", "refused", "0"),
        ]
    finally:
        duty.close()
        leader.close()


def test_the_simulator_writes_its_workers_to_the_directory(bus, geo):
    model = Model(geo, SimConfig(seed=5, workers=300), datetime.now(UTC), positions=False)
    _directory(bus, model, threading.Event(), Outage(logging.getLogger("test"), "test"))
    directory = Directory(bus.client, bus.prefix)
    assert directory.size() == 300
    first = model.roster.workers[0]
    card = directory.get([first.id])[first.id]
    assert card == card_of(first) and card.grid == first.grid
    assert isinstance(card, WorkerCard) and 2 <= len(card.name) <= 3
