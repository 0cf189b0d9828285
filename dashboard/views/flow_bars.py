"""The 办结层级流向 chart's bars, laid out to be read across the room.

One row per level, segments stacked in a row (closed there, still open there, passed up). A
grid level with hundreds of incidents beside a city level with a handful made segments of one
or two pixels with numbers squeezed and turned on their side. Here, on a plot at least
``PLOT_PX`` wide at 1080p (the narrowest the wall arranges it; larger walls scale it up):

- a non-zero segment is never thinner than ``SLIVER_PX`` (the only widening: a few pixels);
- a number is written inside its segment, level, when it fits there;
- else after the end of its row, in its segment's colour, with the row's other such numbers;
- the axis ends where the longest row's bar and outside numbers end.

Pure: counts in, widths and texts out (``dashboard/views/panels.py`` draws them).
"""

from __future__ import annotations

from dataclasses import dataclass

PLOT_PX = 340  # the plot's width at 1080p in the narrowest arrangement (assets/wall.css)
DIGIT_PX = 11  # a digit (or comma) at 18 px, Noto Sans CJK, rounded up
PAD_PX = 10  # room around a number inside a segment
SEPARATOR_PX = 12  # between two numbers written after a row
GAP_PX = 8  # between a row's bar and the numbers after it
SLIVER_PX = 6


@dataclass(frozen=True)
class FlowRow:
    counts: list[int]
    widths: list[float]  # per segment, in counts (a thin non-zero one widened to SLIVER_PX)
    inside: list[str]  # the number written inside each segment, or ""
    outside: list[int]  # the segments whose numbers are written after the row, in order

    @property
    def end(self) -> float:
        return sum(self.widths)


def label(count: int) -> str:
    return f"{count:,}"


def text_px(text: str) -> int:
    return len(text) * DIGIT_PX


def layout_rows(counts: list[list[int]]) -> tuple[list[FlowRow], float]:
    """The rows' bars for ``counts[row][segment]``, and where the axis ends (in counts)."""
    widest = max((sum(row) for row in counts), default=0)
    axis = float(max(widest, 1))
    rows = [_row(row, axis) for row in counts]
    for _ in range(5):  # outside numbers lengthen the axis, which thins every segment
        needed = max(_end_px(row, axis) for row in rows) * axis / PLOT_PX if rows else axis
        if needed <= axis * 1.001:
            break
        axis = needed
        rows = [_row(row, axis) for row in counts]
    return rows, axis


def _row(counts: list[int], axis: float) -> FlowRow:
    per_px = axis / PLOT_PX
    widths: list[float] = []
    inside: list[str] = []
    outside: list[int] = []
    for i, count in enumerate(counts):
        if count <= 0:
            widths.append(0.0)
            inside.append("")
            continue
        fits = count / per_px >= text_px(label(count)) + PAD_PX
        widths.append(max(float(count), SLIVER_PX * per_px))
        inside.append(label(count) if fits else "")
        if not fits:
            outside.append(i)
    return FlowRow(counts, widths, inside, outside)


def _end_px(row: FlowRow, axis: float) -> float:
    """Where the row's outside numbers end, in pixels from the axis' start."""
    bar = sum(row.widths) * PLOT_PX / axis
    if not row.outside:
        return bar
    texts = [text_px(label(row.counts[i])) for i in row.outside]
    return bar + GAP_PX + sum(texts) + SEPARATOR_PX * (len(texts) - 1)
