"""`onemap demo`'s restart limit: a child that dies is restarted, one that keeps dying is not."""

from __future__ import annotations

from dashboard.ops.demo import RESTART_LIMIT, RESTART_WINDOW_S, _Child


def test_a_child_is_restarted_up_to_the_limit_within_the_window_then_not():
    child = _Child("ingest", ["true"], {})
    assert all(child.may_restart(now=100.0 + i) for i in range(RESTART_LIMIT))
    assert not child.may_restart(now=100.0 + RESTART_LIMIT)


def test_restarts_older_than_the_window_no_longer_count():
    child = _Child("ingest", ["true"], {})
    for i in range(RESTART_LIMIT):
        assert child.may_restart(now=float(i))
    assert child.may_restart(now=RESTART_WINDOW_S + 1.0)  # the first one has aged out
