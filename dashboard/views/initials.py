"""Pinyin initials of Chinese text (``井盖缺失`` → ``jgqs``), for searching as users type.

Looked up in a 21 KB table of the first letter of each CJK Unified Ideograph's first reading
(U+4E00–U+9FFF), made from pypinyin's dictionary by ``python -m dashboard.views.initials``. The
dictionary itself costs ~60 MB of server memory; the table costs nothing.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

TABLE = Path(__file__).resolve().parent / "data" / "pinyin_initials.txt"
FIRST, LAST = 0x4E00, 0x9FFF


@cache
def _table() -> str:
    text = TABLE.read_text(encoding="ascii")
    assert len(text) == LAST - FIRST + 1, "pinyin_initials.txt does not cover U+4E00–U+9FFF"
    return text


def initials(text: str) -> str:
    """Each ideograph becomes its initial; anything else is kept, lower-cased."""
    table = _table()
    out = []
    for char in text:
        code = ord(char)
        if FIRST <= code <= LAST:
            letter = table[code - FIRST]
            out.append(char if letter == "?" else letter)
        else:
            out.append(char.lower())
    return "".join(out)


def build() -> str:
    """The table from pypinyin (``pip install -e '.[build]'``): '?' where it has no reading."""
    from pypinyin import Style, pinyin

    letters = []
    for code in range(FIRST, LAST + 1):
        reading = pinyin(chr(code), style=Style.FIRST_LETTER, errors=lambda _c: ["?"])[0][0]
        letter = reading[:1].lower()
        letters.append(letter if letter.isascii() and letter.isalpha() else "?")
    return "".join(letters)


if __name__ == "__main__":
    TABLE.parent.mkdir(exist_ok=True)
    TABLE.write_text(build(), encoding="ascii")
    sys.stdout.write(f"wrote {TABLE} ({TABLE.stat().st_size:,} bytes)\n")
