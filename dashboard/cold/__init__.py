"""History beyond memory: the archive's incidents, searched and recalled; the job that keeps
memory and the hot log bounded (``keeper``)."""

from __future__ import annotations

import pyarrow as pa


def arrow_on_system_allocator() -> None:
    """Arrow's buffers from the C library's malloc rather than its own pool (jemalloc or
    mimalloc), which kept tens of MB after each day's archive job and grew a long-running
    server's RSS ~20 % over 60 compressed days; on malloc, RSS after day 3 held within 15 %
    (``bench.history --compressed``, docs/benchmarks.md)."""
    pa.set_memory_pool(pa.system_memory_pool())
