"""Screens without a browser: python-socketio clients, several per process, that consume.

Each client is its own websocket connection saying ``hello`` to a scope, exactly like a wall.
They record what a benchmark needs and no more, because on a 2-core machine every
microsecond a client spends is a microsecond the server under test does not get:

* every ``positions`` frame as (receipt time, rows);
* a sample of position rows as (worker, receipt time), for publish → receipt latency;
* the receipt time of each event step whose title carries the benchmark's tag.

The parent drives the processes through queues: ``flush`` returns what was recorded since the
last flush, ``stop`` disconnects and returns the rest.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import socketio

from bench.common import session_cookie

TAG = re.compile(r"LAT-\d{6}")  # the event publisher's titles (bench.load)


@dataclass(frozen=True)
class ClientSpec:
    url: str
    scope: str
    kiosk: str  # a wall's sign-in token: every client signs in for its own session
    count: int  # connections in this process
    sample_every: int = 0  # keep ~1 in N position rows for latency (0: none)
    record_steps: bool = False
    lean: bool = False  # raw Socket.IO over a websocket, nothing decoded (see LeanScreen)


@dataclass
class Record:
    """What one process's clients saw since the last flush."""

    frames: list[tuple[int, float, int]] = field(default_factory=list)  # client, time, rows
    samples: list[tuple[str, float]] = field(default_factory=list)
    steps: list[tuple[str, float]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    disconnects: list[float] = field(default_factory=list)


class Recorder:
    def __init__(self, spec: ClientSpec) -> None:
        self.spec = spec
        self.lock = threading.Lock()
        self.record = Record()
        self.rng = random.Random()

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.record.counts[name] = self.record.counts.get(name, 0) + n

    def positions(self, client: int, data: dict[str, Any]) -> None:
        now = time.time()
        rows = data["p"]
        every = self.spec.sample_every
        # A random start per frame: row 0 is always the earliest move of the interval.
        picked = rows[self.rng.randrange(every) :: every] if every and rows else []
        with self.lock:
            self.record.frames.append((client, now, len(rows)))
            self.record.samples.extend((row[0], now) for row in picked)

    def steps(self, data: dict[str, Any]) -> None:
        now = time.time()
        found = [m.group() for s in data["steps"] if (m := TAG.search(s["title"]))]
        with self.lock:
            self.record.counts["steps"] = self.record.counts.get("steps", 0) + len(data["steps"])
            if self.spec.record_steps:
                self.record.steps.extend((title, now) for title in found)

    def take(self) -> Record:
        with self.lock:
            taken, self.record = self.record, Record()
        return taken


def _connect(spec: ClientSpec, recorder: Recorder, number: int) -> socketio.Client:
    # websocket-client validates UTF-8 byte by byte in pure Python (without the optional
    # wsaccel): ~5% of a core per screen at this load, all of it taken from the server under
    # test. Decoding the frame to str still rejects invalid UTF-8, in C.
    client = socketio.Client(
        reconnection=False, websocket_extra_options={"skip_utf8_validation": True}
    )
    client.on("positions", lambda data: recorder.positions(number, data))
    client.on("steps", recorder.steps)
    client.on("kpis", lambda _data: recorder.count("kpis"))
    client.on("beat", lambda _data: recorder.count("beats"))

    def lost(*_args: object) -> None:
        with recorder.lock:
            recorder.record.disconnects.append(time.time())

    client.on("disconnect", lost)
    cookie = session_cookie(spec.url, spec.kiosk)
    client.connect(spec.url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=30)
    reply = client.call("hello", {"scope": spec.scope}, timeout=60)
    if not reply or not reply.get("ok"):
        raise RuntimeError(f"hello refused: {reply!r}")
    return client


class LeanScreen:
    """A screen as the server sees it (a websocket, a ``hello``, its room's every message),
    costing the machine next to nothing: Engine.IO/Socket.IO v4 spoken by hand, frames never
    decoded from JSON. A real wall is another machine; on this 2-core box twenty decoding
    python-socketio clients took ~80 % of a core from the server and the page under test.
    Event steps are still timed: the benchmark's tags are found in the raw frame text.
    """

    def __init__(self, spec: ClientSpec, recorder: Recorder, number: int) -> None:
        import websocket

        self.recorder = recorder
        self.number = number
        cookie = session_cookie(spec.url, spec.kiosk)
        url = spec.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(
            url, header=[f"Cookie: {cookie}"], timeout=60, skip_utf8_validation=True
        )
        self._expect("0")  # Engine.IO open
        self.ws.send("40")  # Socket.IO connect to "/"
        self._expect("40")
        self.ws.send('420["hello",{"scope":"' + spec.scope + '"}]')
        reply = self._expect("430")
        if '"ok":true' not in reply.replace(" ", ""):
            raise RuntimeError(f"hello refused: {reply[:200]}")
        self.ws.settimeout(None)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _expect(self, prefix: str) -> str:
        while True:
            frame = self.ws.recv()
            if frame == "2":
                self.ws.send("3")
            elif frame.startswith(prefix):
                return str(frame)

    def _read(self) -> None:
        record_steps = self.recorder.spec.record_steps
        try:
            while True:
                frame = self.ws.recv()
                if frame == "2":
                    self.ws.send("3")  # Engine.IO ping → pong
                    continue
                now = time.time()
                if frame.startswith('42["steps"'):
                    self.recorder.count("steps", frame.count('"sid"'))
                    if record_steps:
                        found = TAG.findall(frame)
                        with self.recorder.lock:
                            self.recorder.record.steps.extend((t, now) for t in found)
                elif frame.startswith('42["positions"'):
                    with self.recorder.lock:
                        self.recorder.record.frames.append((self.number, now, -1))
                elif frame:
                    self.recorder.count(frame[2:14])
        except Exception:  # closed, by us or by the server
            with self.recorder.lock:
                self.recorder.record.disconnects.append(time.time())

    def disconnect(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: S110 - closing a dead socket
            pass


def client_process(
    spec: ClientSpec, index: int, ready: mp.Queue, commands: mp.Queue, results: mp.Queue
) -> None:
    """Connect ``spec.count`` clients, then answer flush/stop commands until stopped."""
    # A client whose connection drops logs it from two threads; the recorder counts it once.
    logging.getLogger("engineio.client").setLevel(logging.CRITICAL)
    recorder = Recorder(spec)
    clients: list[socketio.Client | LeanScreen] = []
    try:
        for n in range(spec.count):
            number = index * spec.count + n
            lean = spec.lean
            clients.append(
                LeanScreen(spec, recorder, number) if lean else _connect(spec, recorder, number)
            )
        ready.put((index, len(clients), None))
    except Exception as exc:  # reported to the parent, which fails the benchmark
        ready.put((index, len(clients), repr(exc)))
    try:
        while True:
            try:
                command = commands.get(timeout=600)
            except queue.Empty:
                return  # orphaned: the parent is gone
            if command == "stop":
                break
            results.put((index, recorder.take()))
    finally:
        for client in clients:
            try:
                client.disconnect()
            except Exception:  # noqa: S110 - a dying connection must not stop the others
                pass
        results.put((index, recorder.take()))


class ClientFleet:
    """Processes of clients, started together and flushed together."""

    def __init__(self, spec: ClientSpec, processes: int) -> None:
        ctx = mp.get_context("spawn")
        self.ready: mp.Queue = ctx.Queue()
        self.results: mp.Queue = ctx.Queue()
        self.commands = [ctx.Queue() for _ in range(processes)]
        self.processes = [
            ctx.Process(
                target=client_process,
                args=(spec, i, self.ready, self.commands[i], self.results),
                daemon=True,
            )
            for i in range(processes)
        ]
        self.expected = spec.count * processes
        self.lost = 0  # connections dropped so far, as seen by the flushes

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def start(self, timeout: float = 180) -> int:
        """Start and wait until every client said hello; returns how many did."""
        for process in self.processes:
            process.start()
        connected = 0
        for _ in self.processes:
            _index, n, error = self.ready.get(timeout=timeout)
            if error:
                raise RuntimeError(f"a client process failed to connect: {error}")
            connected += n
        return connected

    def flush(self, timeout: float = 60) -> list[Record]:
        for commands in self.commands:
            commands.put("flush")
        records = [self.results.get(timeout=timeout)[1] for _ in self.processes]
        self.lost += sum(len(record.disconnects) for record in records)
        return records

    def stop(self) -> list[Record]:
        """Disconnect everyone; returns the last records (and never raises)."""
        alive = [p for p in self.processes if p.is_alive()]
        for commands, process in zip(self.commands, self.processes, strict=True):
            if process.is_alive():
                commands.put("stop")
        records = []
        for _ in alive:
            try:
                records.append(self.results.get(timeout=30)[1])
            except queue.Empty:
                break
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        return records
