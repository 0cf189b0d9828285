"""The socket contract's permission matrix: every event × every role × a holder at each level ×
a target in, below, beside and outside their jurisdiction, in process (Flask-SocketIO's test
client, the app built as the server builds it, a real Redis).

The expected answers come from the rules as written for people (docs/feeds.md: who may do
what; docs/socket.md: the gate), not from the code under test.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from feeds.catalogue import CATEGORIES, DEPARTMENTS
from feeds.directory import Directory, WorkerCard
from feeds.geo import contains, load_geography
from feeds.schema import PositionMessage, decode_trusted
from tests.factories import event_dict, line

PASSWORD = "matrix-password-1"
GEO = load_geography()
CITY = GEO.city.code
YINZHOU, YUYAO = "330212", "330281"
TOWN = sorted(a.code for a in GEO.children(YINZHOU))[0]
FAR_TOWN = sorted(a.code for a in GEO.children(YUYAO))[0]
HOLDER_SCOPES = {"city": CITY, "county": YINZHOU, "town": TOWN}
ROLES = ("wall", "duty", "leader", "admin")

# docs/feeds.md, "Who may do what"; docs/security.md: the desk and an incident's detail.
VERB_ROLES = {
    "acknowledge": {"duty", "admin"},
    "note": {"duty", "leader", "admin"},
    "instruct": {"leader", "admin"},
}
DETAIL_ROLES = {"duty", "leader", "admin"}
CAST_ROLES = {"duty", "leader", "admin"}  # docs/feeds.md; docs/security.md, who drives a wall
# A registered wall at each level, and one beside (another county): what a cast may name.
WALL_SCOPES = {"city": CITY, "county": YINZHOU, "town": TOWN, "beside": YUYAO}
LEADER_LIST_ROLES = {"duty", "admin"}  # who may send a view to a leader
LOOP_ROLES = {"duty", "admin"}  # who runs the closed loop from the desk (docs/duty.md)
HANDOVER_ROLES = {"duty", "admin"}  # who hands a shift over and takes it (docs/handover.md)
SCOPED = ("hello", "risks", "trends", "replay")
TARGETS = {
    "own": lambda holder: holder,
    "below": lambda holder: TOWN,  # inside every holder's jurisdiction (the town's own)
    "beside": lambda holder: FAR_TOWN,  # another county's town
    "unknown": lambda holder: "330299",  # shaped like a county, not in Ningbo
}
INCIDENT_IN, INCIDENT_OUT = "M-IN", "M-OUT"  # in TOWN (Yinzhou), in FAR_TOWN (Yuyao)
SEES_YUYAO = {"city"}  # the holder levels whose jurisdiction holds FAR_TOWN


def _inside(level: str, where: str) -> bool:
    return where in ("own", "below", "in") or level in SEES_YUYAO


def _incident(incident: str, town: str, n: int) -> dict[str, Any]:
    grid = next(g for g in sorted(GEO.grids) if contains(town, g))
    lon, lat = GEO.random_point(grid, random.Random(n))
    county, village = GEO.county_of(grid), GEO.village_of(grid)
    area = {"county": county, "town": town, "village": village, "grid": grid}
    return event_dict(GEO, n, id=incident, area=area, lon=lon, lat=lat)


@pytest.fixture(scope="module")
def matrix_app(redis_server) -> Iterator[Any]:
    """One app (bridge folded, not running), a holder per role and level, two incidents."""
    from dashboard.config import Settings
    from onemap.app import create_app

    settings = Settings(
        redis_url=redis_server.url, prefix="matrix", cookie_secure=False, login_rate="1000/minute"
    )
    app = create_app(settings)
    for n, (incident, town) in enumerate(((INCIDENT_IN, TOWN), (INCIDENT_OUT, FAR_TOWN))):
        app.bus.publish(decode_trusted(line(_incident(incident, town, n))))
    app.hub.bridge.rebuild()
    store = app.access.store
    clients = {}
    for level, scope in HOLDER_SCOPES.items():
        for role in ROLES:
            http = app.server.test_client()
            if role == "wall":
                _kiosk, token = store.add_kiosk(scope, f"wall-{level}")
                assert http.get(f"/wall?kiosk={token}").status_code in (200, 302)
            else:
                name = f"{role}-{level}"
                store.add_user(name, role, scope, PASSWORD, name)
                _sign_in(http, name)
            clients[(role, level)] = http
    yield app, clients


def _sign_in(http: Any, name: str) -> None:
    form = http.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    signed = http.post(
        "/login", data={"csrf_token": token.group(1), "username": name, "password": PASSWORD}
    )
    assert signed.status_code == 302, signed.get_data(as_text=True)[:200]


def _ask(matrix_app: Any, role: str, level: str, event: str, payload: dict[str, Any]) -> Any:
    app, clients = matrix_app
    socket = app.socketio.test_client(app.server, flask_test_client=clients[(role, level)])
    assert socket.is_connected()
    try:
        return socket.emit(event, payload, callback=True)
    finally:
        socket.disconnect()


def _outcome(reply: Any) -> str:
    assert isinstance(reply, dict) and "ok" in reply, f"no answer: {reply!r}"
    return "ok" if reply["ok"] else str(reply["error"])


CASES = [
    (role, level, event, target)
    for role in ROLES
    for level in HOLDER_SCOPES
    for event in SCOPED
    for target in TARGETS
]


@pytest.mark.parametrize(("role", "level", "event", "target"), CASES)
def test_a_scoped_event_answers_inside_the_jurisdiction_only(
    matrix_app, role, level, event, target
):
    holder = HOLDER_SCOPES[level]
    scope = TARGETS[target](holder)
    extra = {"trends": {"days": 7}, "replay": {"op": "stop"}}.get(event, {})
    payload = {"scope": scope, **extra}
    reply = _ask(matrix_app, role, level, event, payload)
    if target == "unknown":
        expected = "unknown scope"
    else:
        expected = "ok" if _inside(level, target) else "scope not allowed"
    assert _outcome(reply) == expected, reply
    if expected == "ok":
        assert reply["scope"] == scope


@pytest.mark.parametrize("level", HOLDER_SCOPES)
@pytest.mark.parametrize("role", ROLES)
def test_hello_without_a_scope_watches_the_holders_own(matrix_app, role, level):
    reply = _ask(matrix_app, role, level, "hello", {})
    assert _outcome(reply) == "ok"
    assert reply["scope"] == HOLDER_SCOPES[level]


@pytest.mark.parametrize("level", HOLDER_SCOPES)
@pytest.mark.parametrize("role", ROLES)
def test_the_duty_rows_are_for_the_desks_roles_and_hold_only_the_holders_incidents(
    matrix_app, role, level
):
    reply = _ask(matrix_app, role, level, "duty_rows", {"start": 0, "end": 100})
    if role not in DETAIL_ROLES:
        assert _outcome(reply) == "not allowed"
        return
    assert _outcome(reply) == "ok"
    ids = {row["id"] for row in reply["rows"]}
    assert ids == ({INCIDENT_IN, INCIDENT_OUT} if level in SEES_YUYAO else {INCIDENT_IN})


@pytest.mark.parametrize("where", ["in", "out"])
@pytest.mark.parametrize("level", HOLDER_SCOPES)
@pytest.mark.parametrize("role", ROLES)
def test_an_incidents_detail_needs_a_detail_role_and_the_incident_in_scope(
    matrix_app, role, level, where
):
    incident = INCIDENT_IN if where == "in" else INCIDENT_OUT
    reply = _ask(matrix_app, role, level, "incident", {"id": incident})
    granted = role in DETAIL_ROLES and _inside(level, where)
    assert _outcome(reply) == ("ok" if granted else "not found")
    if granted:
        assert reply["incident"]["id"] == incident


@pytest.mark.parametrize("where", ["in", "out"])
@pytest.mark.parametrize("verb", sorted(VERB_ROLES))
@pytest.mark.parametrize("level", HOLDER_SCOPES)
@pytest.mark.parametrize("role", ROLES)
def test_an_action_needs_the_verbs_role_and_the_incident_in_scope(
    matrix_app, role, level, verb, where
):
    incident = INCIDENT_IN if where == "in" else INCIDENT_OUT
    payload = {"verb": verb, "incident": incident, "text": "矩阵测试"}
    reply = _ask(matrix_app, role, level, "act", payload)
    if role not in VERB_ROLES[verb]:
        expected = "not allowed for your role"
    elif not _inside(level, where):
        expected = "incident not found"  # the same answer as for no such incident
    else:
        expected = "ok"
    assert _outcome(reply) == expected, reply


@pytest.mark.parametrize("where", ["in", "out"])
@pytest.mark.parametrize("level", HOLDER_SCOPES)
@pytest.mark.parametrize("role", ROLES)
def test_a_desk_step_needs_a_duty_role_and_the_incident_in_scope(matrix_app, role, level, where):
    """docs/duty.md, "Running the closed loop": 派单 ... 重新打开 are duty officers' and admins'."""
    app, _clients = matrix_app
    incident = INCIDENT_IN if where == "in" else INCIDENT_OUT
    made = _incident(incident, TOWN, 0) if where == "in" else _incident(incident, FAR_TOWN, 1)
    platform = CATEGORIES[made["category"]].platform
    department = next(c for c, (_name, p) in DEPARTMENTS.items() if p == platform)
    payload = {"verb": "dispatch", "incident": incident, "assignee": department}
    reply = _ask(matrix_app, role, level, "handle", payload)
    if role not in LOOP_ROLES:
        expected = "not allowed"
    elif not _inside(level, where):
        expected = "incident not found"
    else:
        expected = "ok"
    assert _outcome(reply) == expected, reply


@pytest.mark.parametrize("where", ["in", "out"])
@pytest.mark.parametrize("level", HOLDER_SCOPES)
@pytest.mark.parametrize("role", ROLES)
def test_a_workers_number_is_for_detail_roles_inside_the_jurisdiction(
    matrix_app, role, level, where
):
    """docs/duty.md: 联系 gives the number (in full to duty officers) of a worker in scope."""
    app, _clients = matrix_app
    town = TOWN if where == "in" else FAR_TOWN
    grid = next(g for g in sorted(GEO.grids) if contains(town, g))
    worker = f"MW-{where}"
    Directory(app.bus.client, "matrix").put([WorkerCard(worker, "王建国", "13812345678", grid)])
    reply = _ask(matrix_app, role, level, "contact", {"worker": worker})
    if role not in DETAIL_ROLES:
        assert _outcome(reply) == "not allowed"
    elif not _inside(level, where):
        assert _outcome(reply) == "worker not found"
    else:
        assert _outcome(reply) == "ok"
        assert reply["phone"] == ("13812345678" if role == "duty" else "138****5678")


@pytest.mark.parametrize("where", ["in", "out"])
@pytest.mark.parametrize("level", HOLDER_SCOPES)
@pytest.mark.parametrize("role", ROLES)
def test_a_workers_track_is_for_detail_roles_inside_the_jurisdiction(
    matrix_app, role, level, where
):
    """docs/duty.md: a worker's patrol track, for a worker last seen in the jurisdiction."""
    app, _clients = matrix_app
    town = TOWN if where == "in" else FAR_TOWN
    grid = next(g for g in sorted(GEO.grids) if contains(town, g))
    worker = f"MT-{where}"
    centre = GEO.grids[grid]
    fix = PositionMessage(
        worker=worker, ts=datetime.now(UTC), lon=centre.lon, lat=centre.lat, grid=grid,
        status="patrolling",
    )  # fmt: skip
    with app.hub.live.read() as state:
        state.apply_position("1-1", fix)
    reply = _ask(matrix_app, role, level, "track", {"worker": worker})
    if role not in DETAIL_ROLES:
        assert _outcome(reply) == "not allowed"
    elif not _inside(level, where):
        assert _outcome(reply) == "worker not found"
    else:
        assert _outcome(reply) == "ok"
        assert reply["points"][-1][:2] == [round(centre.lon, 5), round(centre.lat, 5)]


@pytest.mark.parametrize("level", HOLDER_SCOPES)
@pytest.mark.parametrize("role", ROLES)
def test_the_leaders_list_is_for_those_who_may_send_a_view(matrix_app, role, level):
    reply = _ask(matrix_app, role, level, "leaders", {"area": FAR_TOWN})
    if role not in LEADER_LIST_ROLES:
        assert _outcome(reply) == "not allowed"
        return
    assert _outcome(reply) == "ok"
    holder = HOLDER_SCOPES[level]
    # an area outside the asker's falls back to their own: leaders whose scope holds it
    for leader in reply["leaders"]:
        assert contains(leader["scope"], holder), leader


@pytest.mark.parametrize("level", HOLDER_SCOPES)
@pytest.mark.parametrize("role", ROLES)
def test_the_handover_brief_and_a_hand_over_are_for_the_desks_officers(matrix_app, role, level):
    """docs/handover.md: duty officers and admins, each of their own jurisdiction."""
    brief = _ask(matrix_app, role, level, "handover_brief", {})
    handed = _ask(matrix_app, role, level, "hand_over", {"notes": "矩阵测试交班"})
    if role not in HANDOVER_ROLES:
        assert (_outcome(brief), _outcome(handed)) == ("not allowed", "not allowed")
        return
    assert (_outcome(brief), _outcome(handed)) == ("ok", "ok"), (brief, handed)
    assert brief["scope"] == HOLDER_SCOPES[level]
    app, _clients = matrix_app
    recorded = app.bus.actions(after="-", count=100_000)[-1][1]
    assert (recorded.verb, recorded.actor, recorded.area) == (
        "hand_over", f"{role}-{level}", HOLDER_SCOPES[level]
    )  # fmt: skip


def _handed_over(matrix_app: Any, scope: str) -> str:
    """A hand-over of ``scope`` by an officer outside the matrix: its id."""
    from datetime import UTC, datetime

    from feeds.schema import ActionMessage

    app, _clients = matrix_app
    handover_id = f"h{random.getrandbits(48):012x}"
    app.bus.publish_action(
        ActionMessage(
            id=handover_id, ts=datetime.now(UTC), verb="hand_over", actor=f"outgoing-{scope}",
            role="duty", area=scope, text="交班", counts={"open": 1},
        )
    )  # fmt: skip
    return handover_id


@pytest.mark.parametrize("whose", ["own", "beside"])
@pytest.mark.parametrize("level", HOLDER_SCOPES)
@pytest.mark.parametrize("role", ROLES)
def test_a_take_over_is_of_the_holders_own_jurisdictions_hand_over_only(
    matrix_app, role, level, whose
):
    """The city and a county are jurisdictions of their own: a hand-over of 余姚 is not the
    city's nor 鄞州's to take over, and asking for it by id finds nothing."""
    holder = HOLDER_SCOPES[level]
    own = _handed_over(matrix_app, holder)
    asked = own if whose == "own" else _handed_over(matrix_app, YUYAO)
    reply = _ask(matrix_app, role, level, "take_over", {"id": asked})
    if role not in HANDOVER_ROLES:
        expected = "not allowed"
    else:
        expected = "ok" if whose == "own" else "hand-over not found"
    assert _outcome(reply) == expected, reply


def _walls(matrix_app: Any) -> dict[str, str]:
    """One registered wall per WALL_SCOPES entry: {level: kiosk id}."""
    app, _clients = matrix_app
    store = app.access.store
    named = {k.name: k.id for k in store.list_kiosks()}
    for level, scope in WALL_SCOPES.items():
        if f"driven-{level}" not in named:
            named[f"driven-{level}"] = store.add_kiosk(scope, f"driven-{level}")[0].id
    return {level: named[f"driven-{level}"] for level in WALL_SCOPES}


@pytest.mark.parametrize("wall", WALL_SCOPES)
@pytest.mark.parametrize("level", HOLDER_SCOPES)
@pytest.mark.parametrize("role", ROLES)
def test_a_cast_goes_only_to_a_wall_inside_the_senders_jurisdiction(matrix_app, role, level, wall):
    """The city wall only from a city holder; a county's walls from the county or the city;
    and only a wall that can show the incident."""
    payload = {"verb": "cast", "incident": INCIDENT_IN, "walls": [_walls(matrix_app)[wall]]}
    reply = _ask(matrix_app, role, level, "act", payload)
    holder, shows = HOLDER_SCOPES[level], WALL_SCOPES[wall]
    if role not in CAST_ROLES:
        expected = "not allowed for your role"
    elif not contains(holder, shows):
        expected = "wall not allowed"
    elif not contains(shows, TOWN):
        expected = "area outside that wall"
    else:
        expected = "ok"
    assert _outcome(reply) == expected, reply


@pytest.mark.parametrize("level", HOLDER_SCOPES)
@pytest.mark.parametrize("role", ROLES)
def test_the_wall_picker_offers_exactly_the_walls_a_cast_may_name(matrix_app, role, level):
    walls = _walls(matrix_app)
    reply = _ask(matrix_app, role, level, "walls", {"verb": "cast", "incident": INCIDENT_IN})
    if role not in CAST_ROLES:
        assert _outcome(reply) == "not allowed"
        return
    holder = HOLDER_SCOPES[level]
    offered = {w["id"] for w in reply["walls"]} & set(walls.values())
    expected = {
        walls[wall]
        for wall, shows in WALL_SCOPES.items()
        if contains(holder, shows) and contains(shows, TOWN)
    }
    assert offered == expected
    assert all(w["name"] and w["scopeName"] for w in reply["walls"])


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("hello", {"scope": 330200}),
        ("hello", {"after": 12}),
        ("risks", ["not", "an", "object"]),
        ("trends", {"scope": CITY, "days": "seven"}),
        ("duty_rows", {"start": 1e400}),
        ("incident", {"id": ["M-IN"]}),
        ("act", {"incident": "M-IN"}),  # no verb
        ("act", {"verb": ["note"]}),
        ("leaders", {"area": ["330212"]}),
        ("walls", {"verb": ["cast"]}),
        ("act", {"verb": "cast", "walls": "0123456789ab"}),
        ("handover_brief", {"pending_only": "yes please"}),
        ("hand_over", {"notes": ["x"]}),
        ("take_over", {"id": 5}),
    ],
)
def test_a_request_of_the_wrong_shape_is_malformed_and_says_where(matrix_app, event, payload):
    reply = _ask(matrix_app, "admin", "city", event, payload)
    assert _outcome(reply) == "malformed request"
    assert reply["detail"].startswith(("Expected", "Object missing required field"))


def test_every_registered_event_is_in_this_matrix(matrix_app):
    app, _clients = matrix_app
    covered = {*SCOPED, "duty_rows", "incident", "act", "handle", "contact", "leaders", "walls"}
    covered |= {"track"}  # docs/duty.md, "A worker's patrol track"
    covered |= {"handover_brief", "hand_over", "take_over"}  # docs/handover.md
    assert set(app.hub.api.rules) == covered, "a new socket event needs its row in the matrix"


def test_a_socket_without_a_session_is_refused(matrix_app):
    app, _clients = matrix_app
    socket = app.socketio.test_client(app.server, flask_test_client=app.server.test_client())
    assert not socket.is_connected()


@pytest.mark.parametrize(
    ("event", "payload", "audited_as"),
    [
        ("act", {"incident": "M-IN"}, "action"),  # no verb: refused by the gate
        ("act", None, "action"),
        ("incident", {"id": 12}, "detail"),
        ("hand_over", {"notes": 12}, "action"),
        ("take_over", {"id": ["x"]}, "action"),
    ],
)
def test_a_request_the_gate_refuses_is_still_audited_where_its_event_audits(
    matrix_app, event, payload, audited_as
):
    app, _clients = matrix_app
    before = len(app.access.store.audit_tail(10_000))
    reply = _ask(matrix_app, "duty", "county", event, payload)
    assert _outcome(reply) == "malformed request"
    trail = app.access.store.audit_tail(10_000)
    assert len(trail) == before + 1
    entry = trail[0]  # newest first
    assert entry["event"] == audited_as
    assert entry["user"] == "duty-county"
    assert entry["outcome"] == "refused"
    assert entry["error"] == "malformed request"
