"""The archive's part of a duty-desk query (``ColdStore.search``), in-process, three ways in one
run over the same archive:

* **baseline**: a DuckDB database opened per read and nothing kept (the code before: each
  query paid the database's opening, 13–60 ms, and the whole scan);
* **first ask**: the process's shared database (``dashboard.cold.duck``), a fresh store (no
  answer kept): what an officer's first query of a filter costs;
* **asked again**: the same store, the same filter: what the next officer's costs (the count
  and a text search's matches are kept until the archive's files change).

The archive comes from ``python -m bench.history --days 60 --keep`` (its
``days-60/data/archive``), or any server's data dir's ``archive``::

    .venv/bin/python -m bench.cold_search /tmp/onemap-bench-history-XXXX/days-60/data/archive
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb

from bench.common import banner, table
from dashboard.cold import store as store_module
from dashboard.cold.keeper import midnight
from dashboard.cold.store import Ask, ColdStore
from dashboard.views.search import Filter, Marks
from dashboard.views.terms import terms
from feeds.archive import Archive
from feeds.geo import load_geography

# the archive's part of bench.history's duty queries (memory's part is not here)
CASES: list[tuple[str, dict[str, str], str, int, int]] = [
    ("everything: the count", {}, "reported", 0, 0),
    ("one county: the count", {"area": "330212"}, "reported", 0, 0),
    ("search: substring", {"q": "井盖"}, "reported", 100, 3000),
    ("search: pinyin initials", {"q": "jg"}, "reported", 100, 3000),
    ("search + county + sort by place", {"q": "垃圾", "area": "330212"}, "place", 100, 3000),
]


@contextmanager
def _opened_per_read() -> Iterator[None]:
    """The baseline: every read opens and closes its own database, as before."""

    @contextmanager
    def per_read() -> Iterator[duckdb.DuckDBPyConnection]:
        con = duckdb.connect()
        try:
            yield con
        finally:
            con.close()

    shared = store_module._connection
    setattr(store_module, "_connection", per_read)  # noqa: B010  # the one swap this bench makes
    try:
        yield
    finally:
        setattr(store_module, "_connection", shared)  # noqa: B010


def _fresh_search(archive: Path, asked: tuple[Any, ...]) -> Any:
    return ColdStore(Archive(archive)).search(*asked)


def _timed(search: Callable[[], Any], times: int) -> list[float]:
    taken = []
    for _ in range(times):
        started = time.perf_counter()
        search()
        taken.append((time.perf_counter() - started) * 1000)
    return taken


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_search", description=__doc__)
    parser.add_argument("archive", type=Path)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    banner("bench.cold_search: the archive's part of a desk query, three ways")
    geo = load_geography()
    now = datetime.now(UTC)
    city = geo.city.code
    rows = []
    for name, raw, column, limit, newest in CASES:
        f = Filter.parse(raw)
        words = terms(f.q, geo) if f.q else None
        ask = Ask(f, f.area or city, city, True, Marks(set(), set()), midnight(now, 2), now,
                  frozenset(), words)  # fmt: skip

        asked = (ask, column, True, limit, newest)
        fresh_search = partial(_fresh_search, args.archive, asked)
        with _opened_per_read():
            baseline = _timed(fresh_search, args.repeat)
        first = _timed(fresh_search, args.repeat)
        kept = ColdStore(Archive(args.archive))
        total = kept.search(*asked).total
        again = _timed(partial(kept.search, *asked), args.repeat)
        b, f1, a = (statistics.median(x) for x in (baseline, first, again))
        rows.append([name, total, b, f1, a, b / f1, b / max(a, 0.01)])
    header = ["query", "matches", "baseline ms", "first ms", "again ms", "÷ first", "÷ again"]
    print(table(rows, header))
    print("medians of", args.repeat, "runs each; ratios: baseline ÷ this")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
