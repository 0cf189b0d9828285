"""Screens for fault tests: pages without a browser that follow the wall's live protocol exactly,
misbehaving sockets, a steady publisher, and the comparison of what each screen applied with
the log.

A :class:`Screen` speaks Engine.IO v4 / Socket.IO v5 by hand over one websocket, with one thread
that reads, answers pings and applies, in the order the server sent them. (python-socketio's
client hands every Engine.IO message to a new thread, engineio/client.py ``_receive_packet``,
so two ``steps`` frames could be applied out of order: fine for a benchmark, not for counting
losses.) Like ``assets/onemap-10-core.js`` it:

* says ``hello`` {scope, after: the last applied stream id or null} on every (re)connect;
* buffers the ``steps`` that arrive while a hello is pending and applies them after the reply
  (the server may emit live steps outside its lock, so they can overtake the reply);
* on a ``snapshot`` reply starts afresh from the snapshot's ``last``; on a ``catchup`` applies
  the missed steps, then takes ``last`` if it is newer;
* applies a step only if its id is newer than the last applied one (older ones are dropped);
* reconnects with a capped, jittered backoff (0.5 s doubling to 5 s, as the page's 5 s cap).

What a screen applied is kept as segments: one per snapshot, starting at the snapshot's ``last``.
:func:`problems` compares them with the log: each segment must be, in order and without a gap,
every first occurrence of an (id, seq) pair in scope after its start; the last one all of them.

Run as a module, it is the misbehaving clients the tests start as subprocesses:
``python -m tests.screens stalled URL COOKIE SCOPE`` (says hello, prints ``ready``, then waits
to be stopped with SIGSTOP: a reader that never reads) and ``python -m tests.screens replay URL
COOKIE SCOPE AFTER`` (asks for a catch-up from AFTER again and again, printing each answer).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import msgspec
import psutil
import websocket

from feeds.bus import EVENTS, Bus
from feeds.geo import Geography
from feeds.log_reader import sid_key
from feeds.schema import EventMessage, decode_trusted
from tests.factories import event_dict, line

ROOT = Path(__file__).resolve().parent.parent
CITY = "330200"
TYPES = ["reported", "dispatched", "accepted", "handled", "feedback", "closed"]


def newer(a: str, b: str | None) -> bool:
    return b is None or sid_key(a) > sid_key(b)


# -- a page without a browser ---------------------------------------------------------------
@dataclass
class Segment:
    start: str  # the snapshot's ``last``: what the page had, without ids
    sids: list[str] = field(default_factory=list)


class _SocketThread:
    """One websocket served by one thread of its own: started, then closed by the test."""

    _ws: websocket.WebSocket | None
    _stop: threading.Event
    _thread: threading.Thread

    def _serve(self, name: str) -> None:
        self._ws = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        _shut(self._ws)
        self._thread.join(10)


class Screen(_SocketThread):
    """One live page: scope, websocket, hello, catch-up; see the module's docstring."""

    def __init__(self, url: str, cookie: str, scope: str, name: str = "") -> None:
        self.url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.cookie = cookie
        self.scope = scope
        self.name = name or f"screen-{scope}"
        self.lock = threading.Lock()
        self.last: str | None = None
        self.segments: list[Segment] = []
        self.applied_at: dict[str, float] = {}  # sid → when it was applied (time.time())
        self.connects = 0
        self.hellos = 0
        self.catchups = 0
        self.dropped = 0  # steps with an id not newer than the last applied (as the page counts)
        self.refused: list[str] = []  # hello replies with ok false, connect errors
        self.errors: list[str] = []
        self._pending: int | None = None  # the ack id of the hello in flight
        self._buffer: list[dict[str, Any]] = []
        self._acks = 0
        self._serve(self.name)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        """Connected, and its last hello was answered."""
        return self._ws is not None and self._pending is None and bool(self.segments)

    def wait_live(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.live:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not live in {timeout}s: {self.errors[-3:]}")
            time.sleep(0.1)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if self._session():
                    backoff = 0.5
            except Exception as exc:  # a dropped or refused connection: reconnect, as a page does
                self.errors.append(f"{time.time():.1f} {type(exc).__name__}: {exc}"[:300])
            self._ws = None
            self._pending = None
            self._buffer = []
            if self._stop.wait(backoff * random.uniform(0.5, 1.5)):
                return
            backoff = min(backoff * 2, 5.0)

    def _session(self) -> bool:
        """One connection, from the handshake until it closes; True if it got connected."""
        ws = websocket.create_connection(
            self.url, header=[f"Cookie: {self.cookie}"], timeout=10, skip_utf8_validation=True
        )
        self._ws = ws
        try:
            return self._talk(ws)
        finally:
            _shut(ws)

    def _talk(self, ws: websocket.WebSocket) -> bool:
        if self._stop.is_set():
            return False
        opened = json.loads(_expect(ws, "0")[1:])
        # The page closes a connection that saw no ping for pingInterval + pingTimeout.
        ws.settimeout((opened["pingInterval"] + opened["pingTimeout"]) / 1000)
        ws.send("40")
        connected = _expect(ws, "4")
        if not connected.startswith("40"):
            self.refused.append(connected[:200])
            return False
        self.connects += 1
        self._hello(ws)
        while True:
            frame = ws.recv()
            if not frame:
                return True
            if frame == "2":
                ws.send("3")
            elif frame.startswith('42["steps"'):
                data = json.loads(frame[2:])[1]
                if self._pending is not None:
                    self._buffer.extend(data["steps"])
                else:
                    self._apply(data["steps"])
            elif frame.startswith("43"):
                self._ack(frame)
            elif frame == "1" or frame.startswith("41"):
                return True  # closed by the server; the page reconnects (or reloads)

    def _hello(self, ws: websocket.WebSocket) -> None:
        self._acks += 1
        self._pending = self._acks
        self.hellos += 1
        payload = json.dumps(["hello", {"scope": self.scope, "after": self.last, "home": None}])
        ws.send(f"42{self._acks}{payload}")

    def _ack(self, frame: str) -> None:
        number, _, body = frame[2:].partition("[")
        if self._pending is None or int(number) != self._pending:
            return
        reply = json.loads("[" + body)[0]
        with self.lock:
            if not reply or not reply.get("ok"):
                # Refused; "retry": the server is still starting, ask again (as the page does).
                self.refused.append(json.dumps(reply)[:200])
                self._pending, self._buffer = None, []
                if reply and reply.get("retry"):
                    self._hello_later(float(reply["retry"]))
                return
            if reply.get("mode") == "snapshot":
                self.last = reply.get("last") or None
                self.segments.append(Segment(reply.get("last") or "0-0"))
            else:
                self.catchups += 1
                self._apply_locked(reply.get("steps") or [])
                last = reply.get("last")
                if last and newer(last, self.last):
                    self.last = last
            self._pending = None
            buffered, self._buffer = self._buffer, []
            self._apply_locked(buffered)

    def _hello_later(self, seconds: float) -> None:
        ws = self._ws

        def again() -> None:
            if ws is self._ws and not self._stop.is_set():
                try:
                    self._hello(ws)
                except Exception as exc:  # closed meanwhile: the reconnect says hello
                    self.errors.append(f"hello retry: {exc}"[:200])

        timer = threading.Timer(seconds, again)
        timer.daemon = True
        timer.start()

    def _apply(self, steps: list[dict[str, Any]]) -> None:
        with self.lock:
            self._apply_locked(steps)

    def _apply_locked(self, steps: list[dict[str, Any]]) -> None:
        now = time.time()
        for step in steps:
            sid = step["sid"]
            if not newer(sid, self.last) or not self.segments:
                self.dropped += 1
                continue
            self.last = sid
            self.segments[-1].sids.append(sid)
            self.applied_at.setdefault(sid, now)

    def record(self) -> list[Segment]:
        with self.lock:
            return [Segment(s.start, list(s.sids)) for s in self.segments]

    def describe(self) -> str:
        return (
            f"{self.name}: connects {self.connects}, hellos {self.hellos}, catch-ups "
            f"{self.catchups}, snapshots {len(self.segments)}, dropped {self.dropped}, "
            f"refused {self.refused[-2:]}, errors {self.errors[-2:]}"
        )


def _expect(ws: websocket.WebSocket, prefix: str) -> str:
    while True:
        frame = ws.recv()
        if frame == "2":
            ws.send("3")
        elif frame.startswith(prefix):
            return str(frame)


def _shut(ws: websocket.WebSocket | None) -> None:
    """Unblock a reader and close (from another thread)."""
    if ws is None:
        return
    try:
        if ws.sock is not None:
            ws.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        ws.close(timeout=0.5)
    except Exception:  # noqa: S110 - closing a dead socket
        pass
    ws.shutdown()  # close() leaves the socket open when the peer had closed already


def open_screens(url: str, cookie: str, scopes: Iterable[str], timeout: float = 90) -> list[Screen]:
    screens = [
        Screen(url, cookie, scope, f"screen{n}-{scope}").start() for n, scope in enumerate(scopes)
    ]
    for screen in screens:
        screen.wait_live(timeout)
    return screens


def kiosk_cookie(url: str, link: str) -> str:
    """The session cookie a wall link sets (``link``: ``/wall?kiosk=...``)."""
    from tests.live import fetch

    answer = fetch(url + link, Accept="text/html")
    if answer.status != 302 or not answer.cookie:
        raise RuntimeError(f"kiosk sign-in failed: HTTP {answer.status}")
    return answer.cookie


# -- a socket that reads but never answers pings ---------------------------------------------
class Deaf(_SocketThread):
    """A laptop gone to sleep with a page open: the handshake with the session cookie, a hello,
    then it reads everything and never answers a ping. When the server closes it (after
    pingInterval + pingTimeout) it comes back and does the same again, until closed."""

    def __init__(self, url: str, cookie: str, scope: str) -> None:
        self.url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.cookie = cookie
        self.scope = scope
        self.hellos = 0  # hellos answered
        self.closed_by_server = 0
        self.frames = 0
        self.errors: list[str] = []
        self._serve("deaf")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._session()
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            if self._stop.wait(1.0):
                return

    def _session(self) -> None:
        ws = self._ws = websocket.create_connection(
            self.url, header=[f"Cookie: {self.cookie}"], timeout=10, skip_utf8_validation=True
        )
        try:
            self._listen(ws)
        finally:
            _shut(ws)

    def _listen(self, ws: websocket.WebSocket) -> None:
        frame = ws.recv()
        assert frame.startswith("0"), frame[:100]
        ws.send("40")
        while not ws.recv().startswith("40"):
            pass
        ws.send('421["hello",' + json.dumps({"scope": self.scope, "after": None}) + "]")
        ws.settimeout(None)  # wait as long as it takes: the server decides when it is over
        while True:
            frame = ws.recv()
            if not frame or frame == "1":
                self.closed_by_server += 1
                return
            self.frames += 1
            if frame.startswith("431"):
                self.hellos += 1


# -- a socket that never reads (a subprocess stopped with SIGSTOP) --------------------------------
class Stalled:
    """A python-socketio client in its own process; after its hello it is stopped (SIGSTOP),
    so it neither reads nor answers pings while the server keeps sending to its room."""

    def __init__(self, url: str, cookie: str, scope: str, log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.screens", "stalled", url, cookie, scope],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=log,
            )

    def stop_after_hello(self, timeout: float = 60) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        line_ = b""
        while b"ready" not in line_ and time.monotonic() < deadline:
            line_ = self.process.stdout.readline()
            if not line_ and self.process.poll() is not None:
                raise RuntimeError(f"stalled client died: {self.log_path.read_text()[-1000:]}")
        if b"ready" not in line_:
            raise RuntimeError("stalled client never said hello")
        os.kill(self.process.pid, signal.SIGSTOP)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # SIGKILL ends a stopped process too
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


# -- a client replaying the log by hello, in its own process ---------------------------------
class Replayer:
    """``python -m tests.screens replay``: hello with ``after`` = ``after``, again and again."""

    def __init__(self, url: str, cookie: str, scope: str, after: str, log_path: Path) -> None:
        self.answers: list[tuple[str, float]] = []  # (mode, seconds the hello took)
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.screens", "replay", url, cookie, scope, after],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            parts = raw.decode().split()
            if len(parts) == 3 and parts[0] == "reply":
                self.answers.append((parts[1], float(parts[2])))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._thread.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _main_stalled(url: str, cookie: str, scope: str) -> None:
    import socketio

    client = socketio.Client(reconnection=False)
    client.connect(url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=30)
    reply = client.call("hello", {"scope": scope}, timeout=60)
    if not reply or not reply.get("ok"):
        raise SystemExit(f"hello refused: {reply!r}")
    print("ready", flush=True)
    while True:
        time.sleep(3600)  # SIGSTOP comes first


def _main_replay(url: str, cookie: str, scope: str, after: str) -> None:
    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    ack = 0
    while True:
        try:
            ws = websocket.create_connection(
                ws_url, header=[f"Cookie: {cookie}"], timeout=120, skip_utf8_validation=True
            )
            _expect(ws, "0")
            ws.send("40")
            _expect(ws, "40")
            while True:
                ack += 1
                started = time.monotonic()
                ws.send(f"42{ack}" + json.dumps(["hello", {"scope": scope, "after": after}]))
                reply = _expect(ws, f"43{ack}[")
                mode = "snapshot" if '"mode":"snapshot"' in reply.replace(" ", "") else "catchup"
                print(f"reply {mode} {time.monotonic() - started:.3f}", flush=True)
        except Exception as exc:
            print(f"error {type(exc).__name__}", flush=True)
            time.sleep(1)


# -- the feed -------------------------------------------------------------------------------------
class Publisher:
    """Event steps at a steady pace from a thread, as producers send them: each tick opens
    ``per_tick`` incidents and moves on those of 3 and 6 ticks before; every tenth tick repeats a
    few of its steps (the log keeps repeats, the state drops them). A failed publish is retried
    until it goes through (a stalled or restarting Redis), so some steps may be in the log twice.
    ``sent[(id, seq)]``: when the publish that first got it into the log started.
    """

    def __init__(
        self,
        bus: Bus,
        geo: Geography,
        tag: str,
        per_tick: int = 3,
        every: float = 0.1,
        first_index: int = 0,
    ) -> None:
        self.bus, self.tag, self.per_tick, self.every = bus, tag, per_tick, every
        self.first_index = first_index
        self.templates = _templates(geo)
        self.sent: dict[tuple[str, int], float] = {}
        self.ticks = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"publisher-{tag}", daemon=True)

    def start(self) -> Publisher:
        self._thread.start()
        return self

    def warm_up(self) -> None:
        """The first tick, published now: history for the screens' first snapshots."""
        self._publish(self._tick(0))
        self.ticks = 1

    def stop(self, timeout: float = 60) -> None:
        self.close(timeout)
        assert not self._thread.is_alive(), "the publisher is stuck"

    def close(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._tick(self.ticks)
            self._publish(batch)
            if self.ticks % 10 == 9:
                self._publish(batch[:3])
            self.ticks += 1
            self._stop.wait(self.every)

    def _tick(self, tick: int) -> list[EventMessage]:
        batch = []
        for back, seq in ((0, 1), (3, 2), (6, 3)):
            if tick - back < 0:
                continue
            for i in range(self.per_tick):
                n = (tick - back) * self.per_tick + i
                batch.append(self.step(n, seq))
        return batch

    def step(self, n: int, seq: int) -> EventMessage:
        template = self.templates[(self.first_index + n) % len(self.templates)]
        return msgspec.structs.replace(template, id=f"{self.tag}-{n}", seq=seq, type=TYPES[seq - 1])

    def _publish(self, batch: list[EventMessage]) -> None:
        while True:
            started = time.time()
            try:
                self.bus.publish_many(batch)
            except Exception:  # a stalled or restarting Redis: retry, as real producers do
                self.failures += 1
                if self._stop.wait(0.2):
                    return  # stopped while Redis is away: what got in is in the log
                continue
            for m in batch:
                self.sent.setdefault((m.id, m.seq), started)
            return


_TEMPLATES: list[EventMessage] = []


def _templates(geo: Geography, count: int = 997) -> list[EventMessage]:
    """Valid steps spread over the whole city (the factories' grid picking), made once."""
    if not _TEMPLATES:
        for i in range(count):
            message = decode_trusted(line(event_dict(geo, i)))
            assert isinstance(message, EventMessage)
            _TEMPLATES.append(message)
    return _TEMPLATES


# -- the log and the comparison ------------------------------------------------------------------
@dataclass(frozen=True)
class LogStep:
    sid: str
    id: str
    seq: int
    county: str
    town: str


def first_steps(bus: Bus) -> list[LogStep]:
    """Every first occurrence of an (id, seq) pair in the events stream, in log order."""
    seen: set[tuple[str, int]] = set()
    steps = []
    for entry in bus.replay(EVENTS):
        m = entry.message
        assert isinstance(m, EventMessage)
        if (m.id, m.seq) in seen:
            continue
        seen.add((m.id, m.seq))
        steps.append(LogStep(entry.sid, m.id, m.seq, m.area.county, m.area.town))
    return steps


def in_scope(steps: list[LogStep], scope: str) -> list[str]:
    return [s.sid for s in steps if scope in (CITY, s.county, s.town)]


def problems(name: str, segments: list[Segment], expected: list[str]) -> list[str]:
    """What is wrong with one screen's record against the log (in its scope): [] if nothing."""
    if not segments:
        return [f"{name}: never got a snapshot"]
    found = []
    for i, segment in enumerate(segments):
        final = i == len(segments) - 1
        want = [sid for sid in expected if newer(sid, segment.start)]
        got = segment.sids
        if (got == want) if final else (got == want[: len(got)]):
            continue
        doubled = len(got) - len(set(got))
        wanted = set(want)
        extra = [sid for sid in got if sid not in wanted]
        upto = want if final or not got else [s for s in want if not newer(s, got[-1])]
        missing = sorted(set(upto) - set(got), key=sid_key)
        found.append(
            f"{name}: after snapshot {i + 1} (from {segment.start}) applied {len(got)}, log has "
            f"{len(want)}: {len(missing)} lost (first {missing[:3]}), {doubled} doubled, "
            f"{len(extra)} not expected (first {extra[:3]})"
            + ("" if missing or doubled or extra else ", out of order")
        )
    return found


def wait_until_complete(
    records: Callable[[], dict[str, tuple[list[Segment], list[str]]]], timeout: float = 60
) -> list[str]:
    """Wait until every screen's last segment has everything it should (or ``timeout``), a
    moment more for duplicates to show, then return every problem found."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = records()
        if all(
            segments and len(segments[-1].sids) >= _wanted(segments[-1], expected)
            for segments, expected in current.values()
        ):
            break
        time.sleep(0.5)
    time.sleep(1.0)  # a late duplicate would arrive now
    found = []
    for name, (segments, expected) in records().items():
        found += problems(name, segments, expected)
    return found


def _wanted(segment: Segment, expected: list[str]) -> int:
    return sum(1 for sid in expected if newer(sid, segment.start))


# -- the server, from outside ----------------------------------------------------------------------
def health(url: str, timeout: float = 3) -> dict[str, Any] | str:
    """/healthz as a dict, or why there was none (a hang, a refusal, a 500)."""
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=timeout) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (OSError, ValueError, http.client.HTTPException) as exc:  # one killed mid-answer too
        return f"{type(exc).__name__}: {exc}"[:120]


def bridge_state(answer: dict[str, Any] | str) -> str:
    """The bridge's state in a /healthz answer: "ok", "down", ... or what came instead."""
    if isinstance(answer, str):
        return f"no answer ({answer})"
    bridge = answer.get("bridge")
    if not isinstance(bridge, dict):
        return "no bridge in /healthz"
    return str(bridge.get("state"))


def rss_mb(pid: int) -> float:
    """A server's RSS: its own and its direct children's (`onemap serve` is gunicorn's master;
    the dashboard lives in its worker)."""
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children()]) / 2**20


def percentile(values: list[float], q: float) -> float:
    """Nearest rank; infinity for no values."""
    if not values:
        return float("inf")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


# -- the browser wall -----------------------------------------------------------------------------
# Run before the page's own scripts at every load: when the core defines ``onemap.Live``, its
# ``welcome`` is wrapped so that a snapshot leaves a marker ("S:" + its last id) in
# ``onemap.applied`` (kept with ?record=1) before the snapshot's steps. The page's record then
# splits into segments exactly as a Screen's does.
MARK_SNAPSHOTS = """
(() => {
  const onemap = (window.onemap = window.onemap || {});
  let Live;
  Object.defineProperty(onemap, "Live", {
    configurable: true,
    get() { return Live; },
    set(value) {
      Live = value;
      const welcome = value.prototype.welcome;
      value.prototype.welcome = function (scope, reply) {
        if (reply && reply.ok && reply.mode === "snapshot" && scope === this.scope
            && onemap.applied) onemap.applied.push("S:" + (reply.last || "0-0"));
        return welcome.apply(this, arguments);
      };
    },
  });
})();
"""


class Wall:
    """A real browser wall on a kiosk link, recording every step it applies."""

    def __init__(self, page: Any, url: str, link: str) -> None:
        self.page = page
        self.loads = 0
        page.add_init_script(MARK_SNAPSHOTS)
        page.goto(url + link)
        page.goto(f"{url}/wall?record=1")
        page.wait_for_selector("#wall-root[data-live='1']", timeout=60_000)
        page.on("load", self._loaded)

    def _loaded(self, *_args: object) -> None:
        self.loads += 1

    def describe(self) -> str:
        stats = self.page.evaluate(
            "JSON.stringify({stats: window.onemap.stats, connected: !!(window.onemap.wall"
            " && window.onemap.wall.socket && window.onemap.wall.socket.connected)})"
        )
        return f"browser wall: loads {self.loads}, {stats}"

    def record(self) -> list[Segment]:
        applied = self.page.evaluate("window.onemap.applied") or []
        segments: list[Segment] = []
        for sid in applied:
            if sid.startswith("S:"):
                segments.append(Segment(sid[2:]))
            elif segments and newer(sid, segments[-1].start):
                segments[-1].sids.append(sid)  # those not newer came with the snapshot
        return segments


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    {"stalled": _main_stalled, "replay": _main_replay}[command](*arguments)
