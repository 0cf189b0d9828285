"""The process's one DuckDB database (dashboard.cold.duck): shared by concurrent readers, each
with its own registered tables, and closed around a fork so that the child (the checkpoint
writer) never holds a live one."""

from __future__ import annotations

import os
import threading
import time

import pyarrow as pa

from dashboard.cold.duck import DUCK


def test_concurrent_readers_see_only_their_own_registered_tables():
    seen: dict[int, list[int]] = {}
    start = threading.Barrier(4)

    def read(n: int) -> None:
        with DUCK.cursor() as con:
            con.register("hits", pa.table({"x": pa.array([n] * (n + 1))}))
            start.wait()
            time.sleep(0.05)  # all four registered under one name at once
            seen[n] = [r[0] for r in con.sql("SELECT x FROM hits").fetchall()]

    threads = [threading.Thread(target=read, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {n: [n] * (n + 1) for n in range(4)}


def test_a_fork_waits_for_reads_in_flight_and_leaves_the_child_without_a_database():
    with DUCK.cursor() as con:
        con.sql("SELECT 1").fetchall()
    opened = DUCK.opened
    reading = threading.Event()
    finished: list[float] = []

    def slow_read() -> None:
        with DUCK.cursor() as con:
            reading.set()
            con.sql("SELECT count(*) FROM range(1000)").fetchall()
            time.sleep(0.3)
        finished.append(time.monotonic())

    reader = threading.Thread(target=slow_read)
    reader.start()
    reading.wait()
    pid = os.fork()
    if pid == 0:  # the child: no database inherited; it may open its own
        code = 0 if DUCK._db is None else 3
        try:
            with DUCK.cursor() as con:
                code = code or (0 if con.sql("SELECT 42").fetchall() == [(42,)] else 4)
        except BaseException:
            code = 5
        os._exit(code)
    forked = time.monotonic()
    _, status = os.waitpid(pid, 0)
    reader.join()
    assert os.waitstatus_to_exitcode(status) == 0
    assert finished and finished[0] <= forked  # the fork waited for the read in flight
    with DUCK.cursor() as con:  # the parent opens it again at its next read
        assert con.sql("SELECT 7").fetchall() == [(7,)]
    assert DUCK.opened == opened + 1
