"""History beyond memory: the archive's incidents, searched and recalled; the job that keeps
memory and the hot log bounded (``keeper``)."""

from __future__ import annotations

import pyarrow as pa


def arrow_on_system_allocator() -> None:
    """Arrow's buffers from the C library's malloc rather than its own pool (jemalloc or
    mimalloc), which held on to what each archive job had used: with the job still in the
    server's process, malloc lowered a compressed 60-day run's whole RSS curve by about 70 MB
    (``bench.history --compressed``). The job now runs in a child; the desk's and the
    recall's queries still build Arrow tables here."""
    pa.set_memory_pool(pa.system_memory_pool())
