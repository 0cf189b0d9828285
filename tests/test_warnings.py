"""Early warnings: injected spikes and multi-channel clusters are caught, normal days are quiet.

The false-alarm rate over many simulated days is measured by bench/analytics_warnings.py and
written in docs/metrics.md; here one normal day must raise no spike and no cluster.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
import pytest

from dashboard.analytics import AnalyticsConfig
from dashboard.analytics.outbox import payload
from dashboard.analytics.spike import binomial_tail
from dashboard.analytics.watch import WatchConfig
from dashboard.state import State
from feeds.bus import Bus
from feeds.geo import scopes_of
from feeds.schema import (
    CHINA_TZ,
    EventMessage,
    Rejection,
    WarningMessage,
    decode_warning,
    encode,
    validate,
)
from feeds.sim import Model, SimConfig
from tests.test_metrics import ROUTINE, T0, fix, fold, life

# No promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

DAY = datetime(2026, 3, 10, tzinfo=CHINA_TZ)


@pytest.fixture(scope="module")
def normal_day(geo) -> list[EventMessage]:
    model = Model(
        geo,
        SimConfig(seed=8, workers=10000),
        DAY,
        positions=False,
        arrivals_until=DAY + timedelta(days=1),
    )
    return [m for m in model.messages() if isinstance(m, EventMessage)]


def busy_morning(geo, normal_day) -> State:
    morning = [m for m in normal_day if m.ts < DAY + timedelta(hours=10)]
    return fold(geo, *morning)


def kinds(state: State) -> dict[str, int]:
    return dict(state.metrics.outbox.raised)


def test_a_normal_simulated_day_raises_no_spike_and_no_cluster(geo, normal_day):
    state = fold(geo, *normal_day)
    raised = kinds(state)
    assert len(state.incidents) > 7000
    assert raised.get("spike", 0) == 0 and raised.get("cluster", 0) == 0, raised


def test_injected_spike_in_one_town_raises_one_warning_naming_it(geo, normal_day):
    state = busy_morning(geo, normal_day)
    town = "330212001"
    grids = sorted(g for g in geo.grids if g.startswith(town))
    start = DAY + timedelta(hours=10, minutes=5)
    burst = []
    for n in range(12):  # a gas leak scare: safety reports from all over one town
        burst += life(
            geo,
            f"SP{n}",
            ROUTINE[:1],
            grid=grids[n * 3 % len(grids)],
            start=start + timedelta(minutes=2 * n),
            category="zz03",
            source="hotline_12345" if n % 2 else "grid_worker",
        )
    fold(geo, *burst, state=state)
    spikes = [w for w in state.metrics.recent_warnings if w.type == "spike"]
    assert [(w.area, w.category) for w in spikes] == [(town, "zz03")]
    assert set(spikes[0].related) <= {m.id for m in burst} | set(state.incidents)
    assert "SP11" not in spikes[0].related or len(spikes[0].related) >= 5
    assert spikes[0].title.startswith(geo.label(town))


def test_injected_multi_channel_cluster_is_fused_and_raises_a_warning(geo, normal_day):
    state = busy_morning(geo, normal_day)
    start = DAY + timedelta(hours=10, minutes=2)
    reports = [
        life(
            geo,
            "CL-hotline",
            ROUTINE[:1],
            grid=50,
            category="zf06",
            start=start,
            source="hotline_12345",
        ),
        life(
            geo,
            "CL-wechat",
            ROUTINE[:1],
            grid=50,
            category="zf06",
            offset_m=(40, 30),
            start=start + timedelta(minutes=12),
            source="wechat",
        ),
        life(
            geo,
            "CL-worker",
            ROUTINE[:1],
            grid=50,
            category="zf06",
            offset_m=(-30, 10),
            start=start + timedelta(minutes=35),
            source="grid_worker",
        ),
    ]
    fold(geo, *reports[0], *reports[1], state=state)
    assert kinds(state).get("cluster", 0) == 0  # two reports are not yet a cluster
    fold(geo, *reports[2], state=state)
    clusters = [w for w in state.metrics.recent_warnings if w.type == "cluster"]
    assert len(clusters) == 1 and clusters[0].category == "zf06"
    assert set(clusters[0].related) == {"CL-hotline", "CL-wechat", "CL-worker"}
    assert sorted(state.metrics.clusters.members("CL-wechat")) == sorted(clusters[0].related)
    assert clusters[0].severity == "major"  # three channels


def test_one_channel_repeating_itself_or_reports_far_apart_are_no_cluster(geo):
    same_source = [
        m
        for n in range(4)
        for m in life(
            geo,
            f"S{n}",
            ROUTINE[:1],
            grid=9,
            category="bm01",
            start=T0 + timedelta(minutes=n),
            offset_m=(n * 10, 0),
        )
    ]
    far_apart = [
        m
        for n, source in enumerate(("app", "wechat", "hotline_12345"))
        for m in life(
            geo, f"F{n}", ROUTINE[:1], grid=200 + n * 50, category="bm01", start=T0, source=source
        )
    ]
    state = fold(geo, *same_source, *far_apart)
    assert kinds(state).get("cluster", 0) == 0


def test_worker_silent_during_a_shift_raises_a_warning_and_signing_off_does_not(geo):
    state = State(geo)
    state.apply_position("1-0", fix(geo, "W-quiet", T0, grid=3))
    state.apply_position("2-0", fix(geo, "W-done", T0, grid=4))
    state.apply_position("3-0", fix(geo, "W-done", T0 + timedelta(minutes=1), "offline", grid=4))
    assert state.metrics.tick(T0 + timedelta(minutes=9)) == []
    warnings = state.metrics.tick(T0 + timedelta(minutes=11))
    assert [(w.type, w.worker) for w in warnings] == [("worker_offline", "W-quiet")]
    assert state.metrics.tick(T0 + timedelta(minutes=12)) == []  # said once
    state.apply_position("4-0", fix(geo, "W-quiet", T0 + timedelta(minutes=13), grid=3))
    assert state.metrics.figures(geo.city.code, T0 + timedelta(minutes=13))["online"] == 1


def test_many_workers_silent_at_once_is_one_feed_outage_warning(geo):
    state = State(geo)
    for n in range(50):
        state.apply_position(f"{n}-0", fix(geo, f"W{n}", T0, grid=n))
    warnings = state.metrics.tick(T0 + timedelta(minutes=11))
    assert len(warnings) == 1 and warnings[0].area == geo.city.code
    assert "50" in warnings[0].title


def test_town_index_dropping_a_colour_raises_one_warning_once_it_holds(geo):
    watch = WatchConfig(every_s=60, hold_s=300)
    state = State(geo, analytics=AnalyticsConfig(watch=watch))
    town = "330203001"
    for n, t in enumerate(sorted(geo.towns)):
        grid = min(g for g in geo.grids if g.startswith(t))
        fold(
            geo,
            *life(geo, f"ok{n}", ROUTINE, grid=grid),
            *life(geo, f"op{n}", ROUTINE[:1], grid=grid),
            state=state,
        )

    def drops(minutes: int) -> list[WarningMessage]:
        found = state.metrics.tick(T0 + timedelta(hours=1, minutes=minutes))
        return [w for w in found if w.type == "index_drop"]  # 324 reports at once: a spike too

    assert drops(0) == []
    grid = min(g for g in geo.grids if g.startswith(town))
    for n in range(6):
        fold(
            geo,
            *life(
                geo,
                f"late{n}",
                ROUTINE[:1],
                grid=grid,
                category="zz04",
                start=T0 - timedelta(hours=5),
            ),
            state=state,
        )
    assert drops(1) == [] and drops(4) == []  # red for 3 minutes: not yet
    found = drops(6)
    assert [w.area for w in found] == [town[:6], town]  # its county, with few cases, too
    assert "转红" in found[1].title and "超期" in found[1].detail
    assert "由绿转" in found[0].title  # the county's 73 is within the 3-point margin of red
    assert drops(7) == [] and drops(30) == []


def test_index_wandering_around_a_threshold_raises_nothing(geo):
    state = State(geo)
    watch = state.metrics.watch
    entry = {"score": 86.0, "colour": "green", "components": {}}
    watch._see("330203001", entry, T0)
    for minute, score in enumerate([84.0, 86.5, 83.0, 84.5, 82.5, 85.5] * 10, start=1):
        colour = "green" if score >= 85 else "yellow"
        watch._see(
            "330203001", {**entry, "score": score, "colour": colour}, T0 + timedelta(minutes=minute)
        )
    assert state.metrics.outbox.raised.get("index_drop", 0) == 0


def test_warning_is_published_once_however_often_it_is_found(bus: Bus):
    warning = WarningMessage(
        id="spike-330212001-zz03-1",
        ts=T0,
        type="spike",
        area="330212001",
        category="zz03",
        title="测试预警",
        related=("A", "B"),
    )
    first = bus.publish_warning(warning)
    assert first is not None
    assert bus.publish_warning(warning) is None  # another process, or a restart
    assert bus.warnings() == [(first, warning)]
    assert bus.warnings(after="0-0") == [(first, warning)]
    assert decode_warning(encode(warning)) == warning


def test_producers_cannot_slip_a_warning_in_as_a_message(geo):
    raw = encode(WarningMessage(id="x", ts=T0, type="spike", area="330212", title="假预警"))
    assert isinstance(validate(raw, geo), Rejection)
    with pytest.raises(msgspec.ValidationError):
        decode_warning(raw.replace(b'"spike"', b'"panic"'))


def test_binomial_tail_matches_known_values():
    assert binomial_tail(0, 10, 0.5) == 1.0
    assert binomial_tail(3, 10, 0.5) == 1.0  # below expectation: not computed
    assert binomial_tail(8, 10, 0.5) == pytest.approx(56 / 1024)
    assert binomial_tail(10, 10, 0.5) == pytest.approx(1 / 1024)
    assert binomial_tail(11, 10, 0.5) == 0.0
    assert binomial_tail(25, 72, 1 / 6) == pytest.approx(1.5710682233718414e-4, rel=1e-9)


def test_warning_goes_to_the_rooms_of_its_city_county_and_town(geo):
    # the live fan-out sends a warning to the rooms of feeds.geo.scopes_of(its area)
    assert list(scopes_of("330212001001001")) == ["330200", "330212", "330212001"]
    assert list(scopes_of("330212")) == ["330200", "330212"]
    assert list(scopes_of("330200")) == ["330200"]
    warning = WarningMessage(id="w", ts=T0, type="cluster", area="330212001", title="同一地点")
    data = payload(warning, geo.label("330212001"))
    assert data["kind"] == "warning" and data["ts"] == T0.isoformat()
    assert data["place"] == geo.label("330212001") and data["related"] == []
