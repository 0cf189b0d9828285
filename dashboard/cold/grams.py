"""A positional bigram index of the archive's searchable text, beside each summaries file.

The desk's text search over the archive was a ``contains`` scan of every archived incident's
text (90 ms on a quiet machine, 250–460 ms on a loaded one, for 60 days; docs/benchmarks.md):
the text is most of what a summaries file holds. Here each file gets, when it is written, an
index of where every pair of adjacent characters occurs: for each bigram, the sorted list of
``row << 12 | position`` (the row in the file, the character offset in its text). A query of
n ≥ 2 characters is its n − 1 bigrams; the rows where bigram i occurs at position p + i for
every i are exactly the rows whose text contains the query at p, so the answer equals the scan's
(no false positive to check). A one-character query has no bigram: the caller scans.

Files, memory-mapped (a search touches only the pages of its bigrams and of its matches):

    <month>/summaries.parquet          key-value metadata ``onemap.grams`` = <stamp>
    <month>/grams-<stamp>/rows.arrow   the file's rows as the desk shows them (no text to
                                       search), uncompressed Arrow: matches are taken, not read
    <month>/grams-<stamp>/<text>.keys.npy / .offsets.npy / .postings.npy
                                       per searchable text (``search_plain``, ``search_masked``)

The stamp ties an index to the file it was built from: the index is written first, then the
file (atomically) naming it, then older indexes are removed. A reader that finds no stamp, no
index, or an index removed under it answers ``None`` and the caller scans, so a search is never
wrong, only slower. A reader that resolved a stamp before a rewrite answers for the file as it
was (the incidents it names matched then); the next search sees the new one.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

STAMP_KEY = b"onemap.grams"
TEXTS = ("search_plain", "search_masked")
_POS_BITS = 12
MAX_CHARS = (1 << _POS_BITS) - 1  # a longer text (the schema allows ~2,200) leaves no index
_CHAR_BITS = 21  # every Unicode code point
ROWS_PER_BATCH = 50_000
PACKED_BITS = 64  # (bigram, posting) packed in one uint64 when they fit


def stamp() -> str:
    return uuid.uuid4().hex


def folder(summaries: Path, stamp: str) -> Path:
    return summaries.parent / f"grams-{stamp}"


def write(summaries: Path, stamp: str, table: pa.Table, shown: Sequence[str]) -> bool:
    """The index of ``table`` (rows in the order the summaries file will hold them), under
    ``stamp``, with its ``shown`` columns (what a match is read as); False (nothing written)
    when a text is too long to index."""
    texts = {name: table[name].to_pylist() for name in TEXTS}
    if any(len(t) > MAX_CHARS for column in texts.values() for t in column):
        log.warning("%s: a searchable text over %d characters, no index", summaries, MAX_CHARS)
        return False
    target = folder(summaries, stamp)
    target.mkdir(parents=True, exist_ok=True)
    # uncompressed Arrow, memory-mapped by readers: a match is a row taken, not a scan
    with pa.OSFile(str(target / "rows.arrow"), "wb") as sink:
        rows = table.select(list(shown))
        with pa.ipc.new_file(sink, rows.schema) as writer:
            writer.write_table(rows, max_chunksize=ROWS_PER_BATCH)
    for name, column in texts.items():
        keys, offsets, postings = build(column)
        np.save(target / f"{name}.keys.npy", keys)
        np.save(target / f"{name}.offsets.npy", offsets)
        np.save(target / f"{name}.postings.npy", postings)
    return True


def build(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bigram keys, sorted; offsets into postings, one more than keys; postings): the
    postings of key k are ``postings[offsets[k]:offsets[k + 1]]``, ascending."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    # the texts end to end, each followed by NUL (which no text holds: feeds.schema refuses it)
    chars = np.frombuffer(("\0".join(texts) + "\0").encode("utf-32-le"), dtype=np.uint32)
    spans = lengths + 1
    row = np.repeat(np.arange(len(texts), dtype=np.uint64), spans)
    starts = np.repeat(np.cumsum(spans) - spans, spans)
    position = (np.arange(len(chars), dtype=np.int64) - starts).astype(np.uint64)
    # characters numbered densely in code point order: a bigram is then a small number, and
    # (bigram, posting) one uint64 that a plain sort orders (a stable argsort was 2/3 of it)
    present = np.zeros(1 << _CHAR_BITS, dtype=bool)
    present[chars] = True
    alphabet = np.flatnonzero(present).astype(np.uint64)
    dense = (np.cumsum(present, dtype=np.int64) - 1).astype(np.uint64)
    size = np.uint64(len(alphabet))
    first, second = dense[chars[:-1]], dense[chars[1:]]
    inside = (chars[:-1] != 0) & (chars[1:] != 0)
    grams = (first * size + second)[inside]
    postings = ((row[:-1] << _POS_BITS) | position[:-1])[inside]
    post_bits = max(1, (len(texts) << _POS_BITS).bit_length())
    if (len(alphabet) ** 2).bit_length() + post_bits <= PACKED_BITS:
        both = (grams << np.uint64(post_bits)) | postings
        both.sort()
        grams, postings = both >> np.uint64(post_bits), both & np.uint64((1 << post_bits) - 1)
    else:  # a very wide alphabet: sort the bigrams, keeping the postings' order
        order = np.argsort(grams, kind="stable")
        grams, postings = grams[order], postings[order]
    new = np.ones(len(grams), dtype=bool)
    new[1:] = grams[1:] != grams[:-1]
    firsts = np.flatnonzero(new)
    numbered = grams[firsts]
    keys = (alphabet[numbered // size] << np.uint64(_CHAR_BITS)) | alphabet[numbered % size]
    offsets = np.append(firsts, len(grams)).astype(np.int64)
    small = len(texts) << _POS_BITS <= np.iinfo(np.uint32).max
    return keys, offsets, postings.astype(np.uint32 if small else np.uint64)


def grams_of(query: str) -> list[int]:
    chars = [ord(c) for c in query]
    return [(a << _CHAR_BITS) | b for a, b in zip(chars, chars[1:], strict=False)]


def find(summaries: Path, text: str, query: str) -> pa.Table | None:
    """The rows of ``summaries`` (its shown columns) whose ``text`` contains ``query`` (as
    given: the caller lower-cases as the text was), or None when there is no usable index."""
    grams = grams_of(query)
    if not grams:
        return None
    try:
        seen = summaries.stat()  # a rewrite is a new file (os.replace): a new inode
        where = _index(str(summaries), (seen.st_ino, seen.st_mtime_ns, seen.st_size))
        if where is None:
            return None
        keys = np.load(where / f"{text}.keys.npy", mmap_mode="r")
        offsets = np.load(where / f"{text}.offsets.npy", mmap_mode="r")
        postings = np.load(where / f"{text}.postings.npy", mmap_mode="r")
        shown = pa.ipc.open_file(pa.memory_map(str(where / "rows.arrow"))).read_all()
    except (OSError, ValueError, pa.ArrowInvalid):  # removed under us, or damaged: scan
        log.info("%s: index not readable, scanning", summaries, exc_info=True)
        return None
    return shown.take(pa.array(_rows(grams, keys, offsets, postings), pa.int64()))


def _rows(grams: list[int], keys: np.ndarray, offsets: np.ndarray, postings: np.ndarray) -> Any:
    """The rows where the bigrams ``grams`` occur one after another."""
    at: np.ndarray | None = None
    for shift, gram in enumerate(grams):
        k = int(np.searchsorted(keys, np.uint64(gram)))
        if k >= len(keys) or int(keys[k]) != gram:
            return np.empty(0, np.int64)
        # where the query would start, if this bigram is its shift-th
        starts = np.asarray(postings[offsets[k] : offsets[k + 1]]) - postings.dtype.type(shift)
        at = starts if at is None else np.intersect1d(at, starts, assume_unique=True)
        if not len(at):
            return np.empty(0, np.int64)
    assert at is not None
    return np.unique(at >> postings.dtype.type(_POS_BITS)).astype(np.int64)


@lru_cache(maxsize=64)
def _index(summaries: str, _version: tuple[int, int, int]) -> Path | None:
    """The index named by a summaries file as it is now (cached by the file's version)."""
    metadata = pq.read_schema(summaries).metadata or {}
    named = metadata.get(STAMP_KEY)
    if named is None:
        return None
    where = folder(Path(summaries), named.decode())
    return where if where.is_dir() else None


def stamped(schema: pa.Schema, stamp: str) -> pa.Schema:
    return schema.with_metadata({**(schema.metadata or {}), STAMP_KEY: stamp.encode()})


def remove_others(summaries: Path, keep: str | None) -> None:
    """Indexes of a summaries file other than ``keep`` (older versions of it)."""
    for old in summaries.parent.glob("grams-*"):
        if old.name != f"grams-{keep}":
            shutil.rmtree(old, ignore_errors=True)
