"""The access layer split by job keeps its old import paths and Flask-Login's user contract."""

from __future__ import annotations

import dashboard.access.auth as auth
from dashboard.access import principal, sockets, throttle


def test_names_other_code_imports_from_auth_are_the_ones_defined_by_job() -> None:
    assert auth.Principal is principal.Principal
    assert auth.PII_ROLES is principal.PII_ROLES
    assert auth.DETAIL_ROLES is principal.DETAIL_ROLES
    assert auth.SocketGuard is sockets.SocketGuard
    assert auth.SOCKET_CHECK_S == sockets.SOCKET_CHECK_S
    assert auth.LoginThrottle is throttle.LoginThrottle
    assert set(auth.ROLE_PATHS.values()) == {principal.DETAIL_ROLES}
    assert callable(auth._safe_next)


def _wall(display: str) -> principal.Principal:
    return principal.Principal("k:0123456789ab", "kiosk", "0123456789ab", "wall", "330200",
                               display, None)


def test_a_principal_is_what_flask_login_asks_of_a_user_object() -> None:
    wall = _wall("大屏")
    assert (wall.is_authenticated, wall.is_active, wall.is_anonymous) == (True, True, False)
    assert wall.get_id() == "k:0123456789ab"
    assert not wall.sees_pii


def test_principals_compare_by_id_and_hash_by_identity_as_user_mixin_did() -> None:
    a, b = _wall("one"), _wall("two")
    assert a == b and not a != b
    assert a != "k:0123456789ab"
    assert len({a, b}) == 2
