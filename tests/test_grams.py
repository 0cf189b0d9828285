"""The archive's text index (``dashboard.cold.grams``) answers exactly what a scan answers.

A property test over random texts and queries (Chinese, pinyin initials, digits, masks, the
separators a searchable text holds) against Python's ``in``; the index's files written beside
a summaries file, replaced with it, and ignored when they do not belong to it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.cold import grams

# a small alphabet, so that random queries often occur, and overlapping repeats (aaa) happen
ALPHABET = "井盖缺失人民路垃圾jgqs13*\n a"
texts = st.lists(st.text(ALPHABET, max_size=40), max_size=30)


def _summaries(tmp: Path, column: list[str], name: str = "summaries.parquet") -> Path:
    table = pa.table(
        {
            "id": [f"E{i:06d}" for i in range(len(column))],
            "title": [t[:10] for t in column],
            "search_plain": column,
            "search_masked": [t.replace("1", "*") for t in column],
        }
    )
    path = tmp / name
    mark = grams.stamp()
    assert grams.write(path, mark, table, ("id", "title"))
    pq.write_table(table.replace_schema_metadata(grams.stamped(table.schema, mark).metadata), path)
    grams.remove_others(path, mark)
    return path


def _found(path: Path, text: str, query: str) -> list[str] | None:
    rows = grams.find(path, text, query)
    return None if rows is None else rows["id"].to_pylist()


@settings(max_examples=60, deadline=None)
@given(column=texts, query=st.text(ALPHABET, min_size=2, max_size=5), pick=st.integers(0, 99))
def test_the_index_finds_exactly_the_rows_whose_text_contains_the_query(
    tmp_path_factory, column, query, pick
):
    tmp = tmp_path_factory.mktemp("grams")
    if column and pick % 2:  # half the time, a query cut out of a text: a sure match
        source = column[pick % len(column)]
        if len(source) >= 2:
            start = pick % (len(source) - 1)
            query = source[start : start + 2 + pick % 3]
    path = _summaries(tmp, column)
    expected = [f"E{i:06d}" for i, t in enumerate(column) if query in t]
    assert _found(path, "search_plain", query) == expected
    masked = [f"E{i:06d}" for i, t in enumerate(column) if query in t.replace("1", "*")]
    assert _found(path, "search_masked", query) == masked


def test_a_one_character_query_has_no_bigram_and_is_left_to_the_scan(tmp_path):
    path = _summaries(tmp_path, ["井盖缺失", "垃圾"])
    assert _found(path, "search_plain", "井") is None
    assert _found(path, "search_plain", "井盖") == ["E000000"]


def test_a_rewritten_file_is_searched_through_its_new_index_and_the_old_one_is_gone(tmp_path):
    path = _summaries(tmp_path, ["井盖缺失", "垃圾"])
    old = list(tmp_path.glob("grams-*"))
    _summaries(tmp_path, ["垃圾", "垃圾桶", "井盖"])
    assert _found(path, "search_plain", "垃圾") == ["E000000", "E000001"]
    assert _found(path, "search_plain", "井盖") == ["E000002"]
    assert len(list(tmp_path.glob("grams-*"))) == 1 and not old[0].exists()


def test_a_file_without_its_index_is_left_to_the_scan(tmp_path):
    path = _summaries(tmp_path, ["井盖缺失"])
    # a file written before the index existed: no stamp
    pq.write_table(pq.read_table(path).replace_schema_metadata(None), path)
    assert _found(path, "search_plain", "井盖") is None
    # a stamp whose index is gone, or damaged
    path = _summaries(tmp_path, ["井盖缺失"], "other.parquet")
    for folder in tmp_path.glob("grams-*"):
        (folder / "rows.arrow").write_bytes(b"not arrow")
    assert _found(path, "search_plain", "井盖") is None


def test_a_text_too_long_to_index_leaves_the_file_without_one(tmp_path):
    long = "井" * (grams.MAX_CHARS + 1)
    table = pa.table({"id": ["E1"], "search_plain": [long], "search_masked": [long]})
    assert not grams.write(tmp_path / "s.parquet", grams.stamp(), table, ("id",))
    assert not list(tmp_path.glob("grams-*"))


@settings(max_examples=20, deadline=None)
@given(column=texts)
def test_a_wide_alphabet_builds_the_same_index_the_slower_way(column):
    packed = grams.build(column)
    saved = grams.PACKED_BITS
    grams.PACKED_BITS = 0  # as if bigram and posting did not fit one uint64
    try:
        stable = grams.build(column)
    finally:
        grams.PACKED_BITS = saved
    for a, b in zip(packed, stable, strict=True):
        assert a.tolist() == b.tolist()
