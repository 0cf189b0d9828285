"""Text from outside, made safe to print on an operator's terminal.

Whatever the CLI prints that came from outside (a login name anyone could type, a rejected
message's bytes, an audit field) may hold terminal controls: ESC starts a sequence that can
recolour, move the cursor, retitle the window or, with OSC 52, write the clipboard; bidi
controls reorder what the operator reads. ``printable`` shows each such character as an
escape (``\\x1b``, ``\\u202e``) instead, so the line reads as what was sent and does nothing.
"""

from __future__ import annotations

# C0 controls (tab, CR and LF too: one record per line), DEL, C1 controls (U+009B is a
# one-byte CSI), the line and paragraph separators, and the bidi controls.
_ESCAPED = [
    *range(0x00, 0x20),
    *range(0x7F, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]
_TABLE = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _ESCAPED}


def printable(value: object) -> str:
    """``value`` as text with every control character shown as an escape."""
    return str(value).translate(_TABLE)
