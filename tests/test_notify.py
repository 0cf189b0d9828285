"""Notifications (docs/notifications.md) against real receivers: HTTP servers these tests start
on free ports, a real notifier (`onemap notify run`) and, for acknowledgement, the real server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dashboard.notify.channels import build, send
from dashboard.notify.deliver import Deliverer, Tuning
from dashboard.notify.model import Alert, Job, Subscription, chain_id
from dashboard.notify.store import NotifyStore
from feeds.schema import CHINA_TZ, ActionMessage, validate
from tests.factories import event_dict, line
from tests.live import ROOT, dashboard, fetch, run_cli, sign_in

PHONE, NAME = "13812345678", "王小明"
MASKED_TITLE = f"居民{NAME}反映门口电话{PHONE}占道"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP receiver: ``answer(n)`` says what the n-th request (from 1) gets: a status,
    or None to never answer (held until the receiver stops)."""

    answer: Callable[[int], int | None] = lambda n: 200
    reply: bytes = b'{"errcode": 0, "errmsg": "ok"}'
    got: list[Received] = field(default_factory=list)
    url: str = ""
    release: threading.Event = field(default_factory=threading.Event)

    def wait(self, count: int, timeout: float = 15) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.got) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.got) >= count, f"{len(self.got)} of {count} requests arrived"
        return self.got


@contextmanager
def receiver(**options) -> Iterator[Receiver]:
    rec = Receiver(**options)

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            rec.got.append(Received(self.path, headers, body, time.time()))
            status = rec.answer(len(rec.got))
            if status is None:
                rec.release.wait(60)
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(rec.reply)

        do_GET = do_POST = _any

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.url = f"http://127.0.0.1:{server.server_port}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        rec.release.set()
        server.shutdown()
        server.server_close()


FAST = {
    "ONEMAP_NOTIFY_BACKOFF_S": "0.2",
    "ONEMAP_NOTIFY_TIMEOUT_S": "1",
    "ONEMAP_NOTIFY_TRIES": "5",
    "ONEMAP_NOTIFY_MINUTE_S": "1",
}


@contextmanager
def notifier(redis_url: str, prefix: str, tmp: Path, name: str = "n1", **env: str):
    log_path = tmp / f"notifier-{name}-{secrets.token_hex(3)}.log"
    environ = {
        **os.environ,
        "ONEMAP_REDIS_URL": redis_url,
        "ONEMAP_PREFIX": prefix,
        "PYTHONUNBUFFERED": "1",
        **FAST,
        **env,
    }
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "onemap.cli", "notify", "run", "--name", name],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(lambda: "notifier watching" in log_path.read_text(), 30, process, log_path)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(ok: Callable[[], bool], timeout: float, process=None, log_path=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"exited early:\n{log_path.read_text()}")
        time.sleep(0.05)
    raise AssertionError("not within the time")


def subscribe(store: NotifyStore, name: str, url: str, **fields) -> Subscription:
    values = {
        "who": "值班组",
        "scope": "330200",
        "kinds": ("supervise",),
        "channel": "webhook",
        "target": url,
        **fields,
    }
    sub = Subscription(name=name, **values)
    store.put(sub)
    return sub


def publish_event(bus, geo, index: int, **overrides) -> dict:
    message = event_dict(geo, index, **overrides)
    accepted = validate(line(message), geo)
    bus.publish(accepted)
    return message


def act(bus, verb: str, incident: str, area: str, text: str = "") -> ActionMessage:
    action = ActionMessage(
        id=secrets.token_hex(8),
        ts=datetime.now(UTC),
        verb=verb,
        actor="leader1",
        role="leader",
        area=area,
        incident=incident,
        text=text,
    )
    bus.publish_action(action)
    return action


def verify(secret: str, got: Received) -> bool:
    stamp = got.headers["x-onemap-timestamp"]
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + got.body, hashlib.sha256)
    return hmac.compare_digest(got.headers["x-onemap-signature"], "sha256=" + mac.hexdigest())


def test_webhook_is_signed_masked_and_delivered_once_after_three_failures(
    redis_server, bus, geo, prefix, tmp_path
):
    store = NotifyStore(bus)
    with receiver(answer=lambda n: 500 if n <= 3 else 200) as hook:
        subscribe(store, "desk", hook.url, secret="s3cret")
        with notifier(redis_server.url, prefix, tmp_path):
            event = publish_event(bus, geo, 1, title=MASKED_TITLE)
            act(bus, "supervise", event["id"], event["area"]["town"], text=f"请联系{PHONE}")
            got = hook.wait(4)
            time.sleep(1.5)  # nothing more comes: delivered once
        assert len(got) == 4
        assert all(verify("s3cret", g) for g in got)
        assert not verify("other", got[-1])
        assert len({g.headers["x-onemap-delivery"] for g in got}) == 1  # one delivery, retried
        gaps = [b.at - a.at for a, b in zip(got, got[1:], strict=False)]
        assert all(gap >= 0.15 for gap in gaps), gaps  # backed off: 0.2, 0.4, 0.8 s
        body = got[-1].json()
        assert body["kind"] == "supervise" and body["incident"] == event["id"]
        text = got[-1].body.decode()
        assert PHONE not in text and NAME not in text and "138****5678" in text
    outcomes = [h["outcome"] for h in store.history()]
    assert outcomes == ["retry", "retry", "retry", "sent"]


def test_a_receiver_that_never_answers_is_dead_lettered_and_holds_up_nothing_else(
    redis_server, bus, geo, prefix, tmp_path
):
    store = NotifyStore(bus)
    with receiver(answer=lambda n: None) as hole, receiver() as good:
        subscribe(store, "hole", hole.url, kinds=("instruct",))
        subscribe(store, "good", good.url, kinds=("instruct",))
        env = {"ONEMAP_NOTIFY_TRIES": "2", "ONEMAP_NOTIFY_TIMEOUT_S": "2"}
        with notifier(redis_server.url, prefix, tmp_path, **env):
            event = publish_event(bus, geo, 2)
            act(bus, "instruct", event["id"], event["area"]["town"], text="请尽快处置")
            good.wait(1)
            # not behind the hanging try: sent while that try still waited for its answer
            # (the notifier's own log, in order: no clock)
            _wait_for(lambda: any(h["sub"] == "hole" for h in store.history()), 20)
            told = [(h["sub"], h["outcome"]) for h in store.history()]
            assert told.index(("good", "sent")) < told.index(("hole", "retry")), told
            act(bus, "instruct", event["id"], event["area"]["town"], text="再次批示")
            good.wait(2)
            assert len(hole.got) >= 1 and not store.dead_letters()  # still trying meanwhile
            _wait_for(lambda: len(store.dead_letters()) == 2, 20)
        dead = store.dead_letters()
        assert {job.sub for job, _ in dead} == {"hole"}
        assert all(job.attempt == 2 and "timed out" in error for job, error in dead)
        assert len(good.got) == 2
    shown = run_cli(["notify", "deadletter"], redis_server.url, prefix)
    assert shown.returncode == 0 and shown.stdout.decode().count("hole\taction:") == 2


def test_dingtalk_and_wecom_robots_get_their_markdown_formats(redis_client, prefix):
    alert = Alert(
        source="action:1",
        kind="instruct",
        area="330212",
        place="鄞州区",
        title=MASKED_TITLE,
        ts="2026-11-20T22:00:00+08:00",
        detail="请处置",
        incident="INC1",
        level=3,
        actor="leader1",
    )
    job = Job(alert, "robot", chain_id("robot", alert.source), root="robot")
    with receiver() as robot:
        ding = Subscription(
            "robot",
            "组",
            "330200",
            ("instruct",),
            "dingtalk",
            robot.url + "?access_token=abc",
            secret="SEC123",
        )
        assert send(build(ding, job, "https://onemap.example/notify/ack/x"), "dingtalk", 5) is None
        wecom = Subscription("robot", "组", "330200", ("instruct",), "wecom", robot.url + "?key=k")
        assert send(build(wecom, job, ""), "wecom", 5) is None
        first, second = robot.wait(2)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(first.path).query)
    stamp = query["timestamp"][0]
    expected = hmac.new(b"SEC123", f"{stamp}\nSEC123".encode(), hashlib.sha256).digest()
    assert query["sign"][0] == base64.b64encode(expected).decode()
    assert query["access_token"] == ["abc"] and abs(int(stamp) / 1000 - time.time()) < 60
    ding_body = first.json()
    assert ding_body["msgtype"] == "markdown" and set(ding_body["markdown"]) == {"title", "text"}
    assert "【批示】鄞州区" in ding_body["markdown"]["title"]
    assert "[确认收到](https://onemap.example/notify/ack/x)" in ding_body["markdown"]["text"]
    wecom_body = second.json()
    assert wecom_body["msgtype"] == "markdown" and set(wecom_body["markdown"]) == {"content"}
    for got in (first, second):
        assert PHONE not in got.body.decode() and NAME not in got.body.decode()
    with receiver(reply=b'{"errcode": 310000, "errmsg": "sign not match"}') as refusing:
        ding = Subscription("robot", "组", "330200", ("instruct",), "dingtalk", refusing.url)
        assert send(build(ding, job, ""), "dingtalk", 5) == "robot errcode 310000"


def test_sms_gateway_templates_are_filled_and_escaped():
    alert = Alert(
        source="s",
        kind="overdue",
        area="330212",
        place="鄞州区",
        title='门口"堆放" & 占道',
        ts="2026-11-20T22:00:00+08:00",
    )
    job = Job(alert, "sms", "c", root="sms")
    sub = Subscription(
        "sms",
        "张",
        "330200",
        ("overdue",),
        "sms",
        "http://127.0.0.1:1/send?to={phone}&msg={text}",
        phone="13900000000",
        body='{"mobile": "{phone}", "content": "{text}"}',
    )
    request = build(sub, job, "")
    assert "to=13900000000" in request.url and "%E3%80%90" in request.url  # 【 encoded
    body = json.loads(request.body)
    assert body["mobile"] == "13900000000" and '"堆放" & 占道' in body["content"]


@pytest.mark.parallel  # its own notifier, receiver and prefix; no promise about time
def test_sms_gateway_gets_the_filled_masked_text_retried_until_it_takes_it(
    redis_server, bus, geo, prefix, tmp_path
):
    store = NotifyStore(bus)
    with receiver(answer=lambda n: 503 if n <= 2 else 200) as gateway:
        subscribe(
            store,
            "sms",
            gateway.url + "?to={phone}&sign=OneMap",
            channel="sms",
            phone="13900000000",
            body="mobile={phone}&content={text}&type={kind}",
        )
        with notifier(redis_server.url, prefix, tmp_path):
            event = publish_event(bus, geo, 4, title=MASKED_TITLE)
            act(bus, "supervise", event["id"], event["area"]["town"])
            got = gateway.wait(3)
            _wait_for(lambda: [h["outcome"] for h in store.history()][-1:] == ["sent"], 15)
    assert [h["outcome"] for h in store.history()] == ["retry", "retry", "sent"]
    forms = [urllib.parse.parse_qs(g.body.decode(), strict_parsing=True) for g in got]
    # the same SMS each try (only its link's expiry is signed afresh)
    unlinked = {
        (g.path, f["content"][0].partition(" 确认：")[0]) for g, f in zip(got, forms, strict=True)
    }
    assert len(got) == 3 and len(unlinked) == 1
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(got[-1].path).query)
    assert query == {"to": ["13900000000"], "sign": ["OneMap"]}
    assert got[-1].headers["content-type"].startswith("application/x-www-form-urlencoded")
    form = forms[-1]
    assert set(form) == {"mobile", "content", "type"}
    assert form["mobile"] == ["13900000000"] and form["type"] == ["督办"]
    [content] = form["content"]
    assert content.startswith("【督办】") and "138****5678" in content and "/notify/ack/" in content
    assert PHONE not in got[-1].body.decode() and NAME not in content


def test_quiet_hours_hold_routine_messages_and_let_urgent_ones_through(redis_client, bus):
    store = NotifyStore(bus)
    store.ensure_group()
    local = datetime.now(CHINA_TZ)
    quiet = f"{(local - timedelta(hours=1)):%H:%M}-{(local + timedelta(hours=1)):%H:%M}"
    with receiver() as hook:
        subscribe(store, "night", hook.url, kinds=("supervise", "instruct"), quiet=quiet)
        deliverer = Deliverer(store, Tuning(timeout_s=2), b"k")
        for kind in ("supervise", "instruct"):
            alert = Alert(
                source=f"a-{kind}",
                kind=kind,
                area="330212",
                place="鄞州区",
                title="t",
                ts=local.isoformat(),
            )
            store.queue_once(Job(alert, "night", chain_id("night", alert.source), root="night"))
        outcomes = [
            deliverer.handle(sid, job)
            for _ in range(2)
            for sid, job in store.take("w", 100, 60_000)
        ]
        assert outcomes == ["held", "sent"]
        assert [g.json()["kind"] for g in hook.got] == ["instruct"]
        held = redis_client.zrange(store.key("later"), 0, -1, withscores=True)
        assert len(held) == 1
        due = datetime.fromtimestamp(held[0][1], CHINA_TZ)
        assert f"{due:%H:%M}" == quiet[-5:]  # released when quiet hours end


def test_notifiers_side_by_side_and_restarted_tell_each_cause_once(
    redis_server, bus, geo, prefix, tmp_path
):
    store = NotifyStore(bus)
    with receiver() as hook:
        subscribe(store, "desk", hook.url)
        with (
            notifier(redis_server.url, prefix, tmp_path, "a"),
            notifier(redis_server.url, prefix, tmp_path, "b"),
        ):
            event = publish_event(bus, geo, 3)
            before = bus.client.xrevrange(bus.keys["actions"], count=1)
            for _ in range(3):
                act(bus, "supervise", event["id"], event["area"]["town"])
            hook.wait(3)
            time.sleep(1.0)
        assert len(hook.got) == 3
        # a crash before the cursor moved: the restarted notifier reads the same actions again
        start = before[0][0].decode() if before else "0-0"
        bus.client.hset(store.key("cursor"), "actions", start)
        with notifier(redis_server.url, prefix, tmp_path, "a"):
            act(bus, "supervise", event["id"], event["area"]["town"])
            hook.wait(4)
            time.sleep(1.5)
        deliveries = [g.headers["x-onemap-delivery"] for g in hook.got]
        assert len(deliveries) == 4 == len(set(deliveries))


def test_unacknowledged_alerts_escalate_and_acknowledgement_stops_it(
    redis_server, bus, geo, prefix, tmp_path
):
    store = NotifyStore(bus)
    with (
        receiver() as first,
        receiver() as second,
        dashboard(redis_server.url, prefix, tmp_path, ONEMAP_COOKIE_SECURE="0") as server,
    ):
        subscribe(store, "grid", first.url, kinds=("overdue",), escalate_after=3, then="chief")
        subscribe(store, "chief", second.url, kinds=())
        server.add_user("duty1", "duty", "330200")
        cookie = sign_in(server, "duty1")
        issued = fetch(f"{server.url}/api/csrf", cookie=cookie)
        cookie, csrf = issued.cookie, json.loads(issued.body)["token"]
        with notifier(redis_server.url, prefix, tmp_path, ONEMAP_PUBLIC_URL=server.url):
            soon = datetime.now(CHINA_TZ) + timedelta(seconds=1.5)
            events = [
                publish_event(bus, geo, 10 + i, id=f"OD-{i}", deadline=soon.isoformat())
                for i in range(4)
            ]
            got = first.wait(4)
            by_incident = {g.json()["incident"]: g for g in got}
            # 0: nobody acknowledges; 1: the signed link; 2: the desk's 签收; 3: the desk API
            link = by_incident["OD-1"].json()["ack_url"]
            assert link.startswith(server.url + "/notify/ack/")
            page = fetch(link)
            assert page.status == 200 and "确认收到" in page.body and PHONE not in page.body
            assert fetch(link, data=b"").status == 200
            act(bus, "acknowledge", "OD-2", events[2]["area"]["town"])
            chain = by_incident["OD-3"].json()["alert"]
            asked = json.dumps({"alert": chain}).encode()
            answer = fetch(
                f"{server.url}/api/duty/notify/ack",
                asked,
                cookie,
                **{"Content-Type": "application/json", "X-CSRFToken": csrf},
            )
            assert answer.status == 200, answer.body
            escalated = second.wait(1)
            time.sleep(3)
        assert [g.json()["incident"] for g in second.got] == ["OD-0"]
        assert escalated[0].json()["escalation"] == 1
        delay = escalated[0].at - by_incident["OD-0"].at
        assert delay >= 2.9, delay  # not before its time (3 s); no bound after: no clock
        forged = link.rsplit(".", 1)[0] + ".AAAA"
        assert fetch(forged).status == 403
    acks = {h["chain"]: h for h in store.history() if h["outcome"] == "acked"}
    assert not acks  # stopped before the step was queued, not dropped after
    assert re.search(
        r"^grid", run_cli(["notify", "list"], redis_server.url, prefix).stdout.decode(), re.M
    )


def test_notify_cli_adds_lists_tests_and_removes_a_subscription(redis_server, prefix):
    def cli(*args: str):
        return run_cli(["notify", *args], redis_server.url, prefix)

    with receiver() as hook:
        bad = cli(
            "add",
            "x",
            "--who",
            "w",
            "--scope",
            "330212",
            "--kinds",
            "nonsense",
            "--channel",
            "webhook",
            "--target",
            hook.url,
        )
        assert bad.returncode != 0 and b"unknown kinds" in bad.stderr
        added = cli(
            "add",
            "desk",
            "--who",
            "值班室",
            "--scope",
            "330212",
            "--kinds",
            "overdue,instruct",
            "--channel",
            "webhook",
            "--target",
            hook.url + "?t=tok",
            "--secret",
            "generate",
            "--quiet",
            "22:00-07:00",
        )
        assert added.returncode == 0, added.stderr
        secret = re.search(r"secret \(shown once\): (\S+)", added.stdout.decode()).group(1)
        listed = cli("list").stdout.decode()
        assert "desk\t值班室\t330212\toverdue,instruct\twebhook" in listed
        assert "tok" not in listed and secret not in listed
        tested = cli("test", "desk")
        assert tested.returncode == 0 and b"delivered" in tested.stdout
        assert verify(secret, hook.got[0]) and "测试" in hook.got[0].json()["title"]
    assert cli("test", "desk").returncode == 1  # the receiver is gone: said, exit 1
    assert cli("remove", "desk").returncode == 0
    assert cli("list").stdout == b"" and cli("remove", "desk").returncode == 1
