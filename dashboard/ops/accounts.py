"""`onemap user|kiosk|audit`: accounts, wall links and the audit trail, from the shell.

The shell is the only place accounts are managed: whoever can run it can reach Redis, and
Redis is the trust boundary anyway (see docs/security.md).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from dashboard.access.store import ROLES, UserStore, generate_password
from dashboard.config import Settings
from dashboard.ops.printable import printable
from feeds.geo import load_geography
from feeds.outage import connect
from feeds.redis_server import missing_url_message

log = logging.getLogger(__name__)
DEMO_WALL = "演示大屏 demo wall"  # the name of the wall link `onemap demo` makes and revokes


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = sub.add_parser("user", help="accounts: add, list, remove, passwd")
    actions = user.add_subparsers(required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add an account (asks for its password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--scope", required=True, help="the city, a county or a town code")
    add.add_argument("--display", default="", help="the name shown for this account")
    _password_options(add)
    add.set_defaults(func=_user_add)
    actions.add_parser("list", help="every account").set_defaults(func=_user_list)
    remove = actions.add_parser("remove", help="remove an account; its sockets close within 5 s")
    remove.add_argument("name")
    remove.set_defaults(func=_user_remove)
    passwd = actions.add_parser("passwd", help="set a new password; signs the account out")
    passwd.add_argument("name")
    _password_options(passwd)
    passwd.set_defaults(func=_user_passwd)

    kiosk = sub.add_parser("kiosk", help="wall links (kiosk tokens): add, list, revoke")
    actions = kiosk.add_subparsers(required=True, metavar="ACTION")
    add = actions.add_parser("add", help="a new wall link bound to a jurisdiction")
    add.add_argument("--scope", required=True, help="the city, a county or a town code")
    add.add_argument("--name", required=True, help="which screen, e.g. 鄞州区指挥中心大屏")
    add.add_argument("--days", type=float, default=None, help="expires after (default: never)")
    add.set_defaults(func=_kiosk_add)
    actions.add_parser("list", help="every wall link").set_defaults(func=_kiosk_list)
    revoke = actions.add_parser("revoke", help="revoke a wall link; its walls go dark within 5 s")
    revoke.add_argument("id")
    revoke.set_defaults(func=_kiosk_revoke)

    audit = sub.add_parser("audit", help="the latest audit entries (sign-ins, incident details)")
    audit.add_argument("--count", type=int, default=20)
    audit.set_defaults(func=_audit)


def _password_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    group.add_argument("--generate", action="store_true", help="generate one and print it once")


def store_from(settings: Settings) -> UserStore:
    if not settings.redis_url:
        sys.exit(missing_url_message(settings.redis_dir))
    return UserStore(connect(settings.redis_url, "onemap-cli"), settings.prefix)


def wall_link(settings: Settings, token: str) -> str:
    base = settings.public_url.rstrip("/") or f"http://{settings.host}:{settings.port}"
    return f"{base}/wall?kiosk={token}"


def _scope(code: str) -> str:
    """The name of ``code`` if a page can watch it (the city, a county or a town); else exit."""
    geo = load_geography()
    area = geo.area(code)
    if area is None or not geo.is_scope(code):
        sys.exit(f"{code}: not a city, county or town code (see docs/geography.md)")
    return area.name


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if args.generate:
        password = generate_password()
        print(f"password (shown once): {password}")
        return password
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        sys.exit("the passwords differ")
    return first


def _user_add(args: argparse.Namespace) -> int:
    place = _scope(args.scope)
    try:
        account = store_from(Settings.from_env()).add_user(
            args.name, args.role, args.scope, _password(args), args.display
        )
    except ValueError as exc:
        sys.exit(str(exc))
    print(f"added {account.name} ({account.role}, {place} {account.scope})")
    return 0


def _user_list(args: argparse.Namespace) -> int:
    geo = load_geography()
    for a in store_from(Settings.from_env()).list_users():
        fields = (a.name, a.role, a.scope, geo.label(a.scope), a.display, a.created)
        print("\t".join(printable(field) for field in fields))
    return 0


def _user_remove(args: argparse.Namespace) -> int:
    if not store_from(Settings.from_env()).remove_user(args.name):
        sys.exit(f"no user {args.name!r}")
    print(f"removed {args.name}")
    return 0


def _user_passwd(args: argparse.Namespace) -> int:
    try:
        changed = store_from(Settings.from_env()).set_password(args.name, _password(args))
    except ValueError as exc:
        sys.exit(str(exc))
    if not changed:
        sys.exit(f"no user {args.name!r}")
    print(f"password changed for {args.name}; their sessions have ended")
    return 0


def _kiosk_add(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    place = _scope(args.scope)
    kiosk, token = store_from(settings).add_kiosk(args.scope, args.name, args.days)
    print(f"kiosk {kiosk.id} for {args.name} ({place} {args.scope})")
    print(f"wall link (shown once): {wall_link(settings, token)}")
    return 0


def _kiosk_list(args: argparse.Namespace) -> int:
    geo = load_geography()
    for k in store_from(Settings.from_env()).list_kiosks():
        until = k.expires or "until revoked"
        fields = (k.id, k.scope, geo.label(k.scope), k.name, k.created, until)
        print("\t".join(printable(field) for field in fields))
    return 0


def _kiosk_revoke(args: argparse.Namespace) -> int:
    if not store_from(Settings.from_env()).revoke_kiosk(args.id):
        sys.exit(f"no kiosk {args.id!r}")
    print(f"revoked {args.id}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    # Anyone can put text here (a login name tried at /login): printed with controls escaped.
    for row in store_from(Settings.from_env()).audit_tail(args.count):
        print("\t".join(f"{printable(k)}={printable(v)}" for k, v in row.items()))
    return 0


def demo_access(settings: Settings, redis_url: str) -> str:
    """A city wall link and an admin for `onemap demo`; printed once. Returns the kiosk id.

    The demo's Redis persists, so links of earlier runs that never got revoked (the demo was
    killed) are revoked now: only the link printed last opens a wall.
    """
    store = UserStore(connect(redis_url, "onemap-demo"), settings.prefix)
    for stale in store.list_kiosks():
        if stale.name == DEMO_WALL:
            store.revoke_kiosk(stale.id)
    city = load_geography().city.code
    kiosk, token = store.add_kiosk(city, DEMO_WALL)
    print(f"wall link (no password needed): {wall_link(settings, token)}", flush=True)
    if store.get_user("admin") is None:
        password = generate_password()
        store.add_user("admin", "admin", city, password, "管理员")
        print(f"sign in at /login as admin, password (shown once): {password}", flush=True)
    else:
        print(
            "sign in at /login as admin with the password printed on the first run "
            "(`onemap user passwd admin` sets a new one)",
            flush=True,
        )
    return kiosk.id


def revoke_demo_link(settings: Settings, redis_url: str, kiosk_id: str) -> None:
    """Revoke the demo's wall link as it stops; a Redis that is away by then is only logged
    (the next demo revokes the link, see ``demo_access``), never a traceback at Ctrl-C."""
    # one try with a 1 s deadline: Ctrl-C must end the demo in seconds, Redis or not
    client = connect(
        redis_url,
        "onemap-demo-stop",
        socket_timeout=1,
        socket_connect_timeout=1,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        UserStore(client, settings.prefix).revoke_kiosk(kiosk_id)
    except (redis.RedisError, OSError) as exc:
        log.warning(
            "could not revoke the demo wall link %s (%s); the next demo will", kiosk_id, exc
        )
    finally:
        client.close()
