"""Counting every incident of a rebuild at once, from columns: how a fold into a fresh state ends.

``Metrics._settle`` moves one incident's contribution from what it was to what it is. After a
rebuild folds the log into an empty state every incident is new, and counting them one at a
time cost ~0.7 s for 41,000 incidents, most of it in reaching each incident's scattered steps
and in Python per incident. Here the folded steps (in log order, as the fold kept them)
become numpy columns, each incident's facts are reduced from them, and every counter row is
added to once. What each incident counts for comes from the functions of ``rules``, the same
that ``Metrics._contribution`` and ``hourly.incident_entries`` call, here over arrays.

An incident's ``Facts`` are not built here: ``Metrics`` builds them from its steps when a
later step first needs them (``Metrics._materialize``), so a rebuilt state goes on exactly as
one that saw every step (tests/test_metrics_reconcile.py holds both to that).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from dashboard.analytics import hourly as h
from dashboard.analytics import rules as r
from dashboard.analytics import tally as t
from dashboard.analytics.cutoff import Chain
from dashboard.analytics.epoch import DAY_S, OFFSET_S

if TYPE_CHECKING:
    from dashboard.analytics.folding import Folding
    from dashboard.state import Incident

_REPORTED, _CLOSED, _REOPENED = 1, 2, 3  # kinds of step the counting tells apart
_KIND = {"reported": _REPORTED, "closed": _CLOSED, "reopened": _REOPENED}
_TALLY_BITS = np.array([[m >> b & 1 for b in range(t.SLOTS)] for m in range(1 << t.SLOTS)])
_HOURLY_BITS = np.array([[m >> b & 1 for b in range(h.KINDS)] for m in range(1 << h.KINDS)])


class Head(Protocol):
    """A folded step as the fold kept it (a ``StepHead`` or an ``EventMessage``)."""

    @property
    def id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def level(self) -> int: ...


def settle_bulk(metrics: Folding, incidents: list[Incident], heads: Sequence[Head]) -> None:
    """Count ``incidents`` (none known to ``metrics``), whose every step is in ``heads``."""
    n, m = len(incidents), len(heads)
    if not n:
        return
    index = {incident.id: i for i, incident in enumerate(incidents)}
    pos = np.fromiter([index[s.id] for s in heads], np.int64, m)
    seq = np.fromiter([s.seq for s in heads], np.int64, m)
    kind = np.fromiter([_KIND.get(s.type, 0) for s in heads], np.int8, m)
    level = np.fromiter([s.level for s in heads], np.int64, m)

    # each incident's steps together, by seq: the first of a run is its lowest seq
    order = np.lexsort((seq, pos))
    pos_s, kind_s = pos[order], kind[order]
    starts = np.flatnonzero(np.r_[True, pos_s[1:] != pos_s[:-1]])
    if len(starts) != n:
        raise ValueError("settle_bulk: an incident without steps among the folded ones")
    last = order[np.r_[starts[1:], m] - 1]  # the latest step (highest seq)
    top = np.maximum(np.maximum.reduceat(level[order], starts), 1)
    ever_closed = np.maximum.reduceat(kind_s == _CLOSED, starts)
    reopened = np.maximum.reduceat(kind_s == _REOPENED, starts)
    reports = np.flatnonzero(kind_s == _REPORTED)  # in (incident, seq) order
    firsts = reports[np.r_[True, pos_s[reports][1:] != pos_s[reports][:-1]]]
    has_rep = np.zeros(n, dtype=bool)
    has_rep[pos_s[firsts]] = True
    rep_row = np.full(n, -1, dtype=np.int64)
    rep_row[pos_s[firsts]] = order[firsts]
    # epoch seconds only where needed (the reports and latest steps): each costs ~0.5 µs
    rep_ts = np.full(n, np.nan)
    rep_ts[has_rep] = [heads[row].ts.timestamp() for row in rep_row[has_rep].tolist()]
    close_ts = np.fromiter([heads[row].ts.timestamp() for row in last.tolist()], np.float64, n)
    closed = kind[last] == _CLOSED

    chains: dict[Chain, int] = {}
    chain_list, categories, deadlines = [], [], []
    for incident in incidents:
        chain = metrics.chain_of(incident.area)
        chain_list.append(chains.setdefault(chain, len(chains)))
        categories.append(incident.category)
        deadlines.append(incident.deadline.timestamp())
    chain_of = np.array(chain_list, dtype=np.int64)
    deadline = np.array(deadlines, dtype=np.float64)
    codes: dict[str, int] = {}
    areas = np.full((len(chains), 4), -1, dtype=np.int64)  # chain -> its areas' codes
    for chain, c in chains.items():
        for level_, area in enumerate(chain):
            areas[c, level_] = codes.setdefault(area, len(codes))
    names = list(codes)

    # Tally: the report cohort, the closing cohort and the due cohort (as Metrics._contribution)
    rep_ts0 = np.where(has_rep, rep_ts, 0.0)  # no NaN into the arithmetic (masked out below)
    rep_day = np.floor_divide(rep_ts0 + OFFSET_S, DAY_S).astype(np.int64)
    cohort = r.cohort_mask(r.reach_mask(top), closed, ever_closed, reopened)
    close_day = np.floor_divide(close_ts + OFFSET_S, DAY_S).astype(np.int64)
    due_day = np.floor_divide(deadline + OFFSET_S, DAY_S).astype(np.int64)
    on_time, at_grid = r.on_time(close_ts, deadline), r.at_grid(level[last])
    closing = r.closing_mask(at_grid)
    due = r.due_mask(closed, on_time)
    _add_tally(
        metrics.tally,
        names,
        areas[np.r_[chain_of[has_rep], chain_of[closed], chain_of[closed]]],
        np.r_[rep_day[has_rep], close_day[closed], due_day[closed]],
        np.r_[cohort[has_rep], closing[closed], due[closed]],
    )

    # Medians of the time to close: exact datetime arithmetic, as Metrics._closing
    timed = np.flatnonzero(closed & has_rep)
    minutes = [
        (heads[int(last[i])].ts - heads[int(rep_row[i])].ts).total_seconds() / 60
        for i in timed.tolist()
    ]
    category_codes = {c: k for k, c in enumerate(dict.fromkeys(categories))}
    category = np.array([category_codes[c] for c in categories], dtype=np.int64)
    _add_minutes(
        metrics.tally,
        names,
        list(category_codes),
        areas[chain_of[timed]],
        close_day[timed],
        category[timed],
        np.array(minutes, dtype=np.float64),
    )

    # Hourly: the entries of hourly.incident_entries, for incidents with a report
    rep_slot = np.floor_divide(rep_ts0, h.SLOT_S).astype(np.int64)
    end_slot = np.floor_divide(close_ts, h.SLOT_S).astype(np.int64)
    deadline_slot = np.floor_divide(deadline, h.SLOT_S).astype(np.int64)
    day_slot = (due_day * DAY_S - OFFSET_S) // h.SLOT_S  # the deadline day's first slot
    late_slot, opened, late = r.spells(closed, rep_slot, end_slot, deadline_slot)
    done_slot, done = r.due_spells(closed, end_slot, day_slot)
    rep_mask = r.report_slot_mask(opened)
    end_mask = r.end_slot_mask(at_grid, opened, late)  # read where closed
    done_mask = r.due_slot_mask(on_time)
    ended = has_rep & closed
    lates = has_rep & late
    dones = has_rep & done
    upper = areas[:, :3]
    _add_hourly(
        metrics.hourly,
        names,
        upper[np.r_[chain_of[has_rep], chain_of[ended], chain_of[lates], chain_of[dones]]],
        np.r_[rep_slot[has_rep], end_slot[ended], late_slot[lates], done_slot[dones]],
        np.r_[
            rep_mask[has_rep],
            end_mask[ended],
            np.full(int(lates.sum()), 1 << h.LATE),
            done_mask[dones],
        ],
    )

    chain_tuples = list(chains)
    cutoffs = metrics.cutoffs
    for i in np.flatnonzero(~closed).tolist():  # open: members of the deadline cutoffs
        incident, chain = incidents[i], chain_tuples[chain_list[i]]
        for cut in cutoffs:
            cut.put(incident.id, deadlines[i], chain)
    if has_rep.any():
        metrics.known_since = min(metrics.known_since, float(rep_ts[has_rep].min()))
    metrics.bulk.update(index)


def _rows(
    names: list[str], areas: np.ndarray, keys: np.ndarray, masks: np.ndarray, bits: np.ndarray
) -> list[tuple[str, int, list[int]]]:
    """(area, key, counts by bit) for every area × key that the contributions touch: each
    contribution (the areas of its chain, a key, a mask of bits) counts once in each area."""
    width = areas.shape[1]
    area = areas.ravel()
    key = np.repeat(keys, width)
    mask = np.repeat(masks, width)
    kept = area >= 0
    area, key, mask = area[kept], key[kept], mask[kept]
    if not len(area):
        return []
    low = int(key.min())
    span = int(key.max()) - low + 1
    combined, inverse = np.unique(area * span + (key - low), return_inverse=True)
    inverse = inverse.ravel()
    flags = bits[mask]
    counts = np.stack(
        [
            np.bincount(inverse, weights=flags[:, b], minlength=len(combined))
            for b in range(bits.shape[1])
        ],
        axis=1,
    ).astype(np.int64)
    return [
        (names[c // span], c % span + low, row)
        for c, row in zip(combined.tolist(), counts.tolist(), strict=True)
    ]


def _add_tally(
    tally: t.Tally, names: list[str], areas: np.ndarray, days: np.ndarray, masks: np.ndarray
) -> None:
    kept = days >= tally.floor  # days already pruned are not counted (as Tally._flags)
    for area, day, counts in _rows(names, areas[kept], days[kept], masks[kept], _TALLY_BITS):
        _add_row(tally.rows.setdefault(day, {}), area, counts)


def _add_minutes(
    tally: t.Tally,
    names: list[str],
    category_names: list[str],
    areas: np.ndarray,
    days: np.ndarray,
    categories: np.ndarray,
    minutes: np.ndarray,
) -> None:
    """Each time to close joins the samples of its day, in every area of its chain, under
    its category and under all categories (as Tally._median)."""
    kept = days >= tally.floor
    areas, days, categories, minutes = areas[kept], days[kept], categories[kept], minutes[kept]
    if not len(minutes):
        return
    width, every = areas.shape[1], len(category_names)  # ``every``: the code of ALL
    area = np.tile(np.repeat(areas.ravel(), 1), 2)
    day = np.tile(np.repeat(days, width), 2)
    category = np.r_[np.repeat(categories, width), np.full(len(days) * width, every)]
    value = np.tile(np.repeat(minutes, width), 2)
    kept = area >= 0
    area, day, category, value = area[kept], day[kept], category[kept], value[kept]
    low = int(day.min())
    span = int(day.max()) - low + 1
    key = (area * span + (day - low)) * (every + 1) + category
    order = np.argsort(key, kind="stable")
    key, values = key[order], value[order].tolist()
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]).tolist()
    labels = [*category_names, t.ALL]
    for start, end, k in zip(starts, [*starts[1:], len(values)], key[starts].tolist(), strict=True):
        code, kind = divmod(k, every + 1)
        area_code, day_ = divmod(code, span)
        samples = tally.medians.setdefault(day_ + low, {}).setdefault(names[area_code], {})
        sample = samples.get(labels[kind])
        if sample is None:
            sample = samples[labels[kind]] = t.Sample()
        sample.values += values[start:end]
        sample.dirty = True


def _add_hourly(
    hourly: h.Hourly, names: list[str], areas: np.ndarray, slots: np.ndarray, masks: np.ndarray
) -> None:
    early = slots < hourly.floor  # spells begun before the kept slots go to the base
    for area_row, slot, mask in zip(
        areas[early].tolist(), slots[early].tolist(), masks[early].tolist(), strict=True
    ):
        hourly.add([names[a] for a in area_row if a >= 0], slot, mask)
    kept = ~early
    for area, slot, counts in _rows(names, areas[kept], slots[kept], masks[kept], _HOURLY_BITS):
        _add_row(hourly.slots.setdefault(area, {}), slot, counts)


def _add_row(rows: dict[Any, list[int]], key: Any, counts: list[int]) -> None:
    """Add ``counts`` to ``rows[key]`` (a new row: ``counts`` itself)."""
    row = rows.get(key)
    if row is None:
        rows[key] = counts
    else:
        for i, count in enumerate(counts):
            row[i] += count
