"""One DuckDB database for the process's archive reads, closed around every fork.

Opening a DuckDB database costs 13–15 ms (its buffer manager, its thread pool): once per desk
query, it was a tenth of the archive's part of a search. A cursor of an open database costs
~0.1 ms. But DuckDB is not fork-safe, and the server forks (the checkpoint writer, the archive
job's child): a child forked beside a live database crashed writing the checkpoint at stop.
So the database is shared by every reader, and closed before each fork once the reads in
flight have finished (new reads wait the few milliseconds the fork takes); the parent opens
it again at the next read, the child starts with none.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb


class SharedDuck:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._db: duckdb.DuckDBPyConnection | None = None
        self._readers = 0
        self._forking = False
        self.opened = 0  # how many times the database was opened (a test reads it)

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection of its own (registered tables are its own) to the shared database."""
        with self._cond:
            while self._forking:
                self._cond.wait()
            if self._db is None:
                self._db = duckdb.connect()
                self.opened += 1
            db = self._db
            self._readers += 1
        try:
            con = db.cursor()
            try:
                yield con
            finally:
                con.close()
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    def before_fork(self) -> None:
        self._cond.acquire()  # held across the fork: released in the parent, renewed in the child
        self._forking = True
        while self._readers:
            self._cond.wait()
        if self._db is not None:
            self._db.close()
            self._db = None

    def after_fork_in_parent(self) -> None:
        self._forking = False
        self._cond.notify_all()
        self._cond.release()

    def after_fork_in_child(self) -> None:
        # the threads that held or waited on the lock are not in the child: start afresh
        self._cond = threading.Condition()
        self._db, self._readers, self._forking = None, 0, False


DUCK = SharedDuck()
os.register_at_fork(
    before=DUCK.before_fork,
    after_in_parent=DUCK.after_fork_in_parent,
    after_in_child=DUCK.after_fork_in_child,
)
