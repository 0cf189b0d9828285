"""`onemap notify add|list|remove|test|run|deadletter`: subscriptions and the notifier."""

from __future__ import annotations

import argparse
import secrets
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec

from dashboard.config import Settings
from dashboard.notify.ack import ack_url
from dashboard.notify.channels import build, send
from dashboard.notify.model import (
    CHANNELS,
    KINDS,
    Alert,
    Job,
    Subscription,
    chain_id,
    parse_quiet,
)
from dashboard.notify.runner import Notifier, shared_link_key, tuning_from
from dashboard.notify.store import NotifyStore
from dashboard.ops.printable import printable
from feeds.bus import Bus
from feeds.geo import load_geography
from feeds.outage import connect
from feeds.redis_server import missing_url_message

Stopper = Callable[[], threading.Event]


def add_notify_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], stopper: Stopper
) -> None:
    notify = sub.add_parser("notify", help="notifications: subscriptions and the notifier")
    actions = notify.add_subparsers(required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add (or replace) a subscription")
    add.add_argument("name", help="unique name (the --then of another subscription)")
    add.add_argument("--who", required=True, help="the person or group told")
    add.add_argument("--scope", required=True, help="area code: only what happens inside it")
    add.add_argument(
        "--kinds",
        default="",
        help=f"comma-separated: {','.join(KINDS)} (none: told only as the --then of another)",
    )
    add.add_argument("--channel", required=True, choices=CHANNELS)
    add.add_argument("--target", required=True, help="webhook/robot URL or SMS URL template")
    add.add_argument(
        "--secret",
        default="",
        help="webhook HMAC key ('generate': a new one); DingTalk signing secret",
    )
    add.add_argument(
        "--min-level",
        type=int,
        default=3,
        choices=range(2, 6),
        help="kind level: reaching this level (2 village … 5 city)",
    )
    add.add_argument("--phone", default="", help="sms: the {phone} of the templates")
    add.add_argument("--body", default="", help="sms: body template (empty: GET the URL)")
    add.add_argument("--quiet", default="", help="quiet hours, China time: 22:00-07:00")
    add.add_argument("--escalate-after", type=float, default=0, help="minutes unacknowledged")
    add.add_argument("--then", default="", help="the subscription told after that")
    add.set_defaults(func=_add)
    actions.add_parser("list", help="every subscription").set_defaults(func=_list)
    remove = actions.add_parser("remove", help="remove a subscription")
    remove.add_argument("name")
    remove.set_defaults(func=_remove)
    test = actions.add_parser("test", help="send a test message through a subscription's channel")
    test.add_argument("name", help="the subscription whose channel and target to try")
    test.set_defaults(func=_test)
    run = actions.add_parser("run", help="run a notifier (several may run side by side)")
    run.add_argument("--name", default="", help="consumer name (default: host-pid)")
    run.set_defaults(func=lambda args: _run(args, stopper()))
    dead = actions.add_parser("deadletter", help="notifications that failed every try")
    dead.add_argument("--count", type=int, default=20)
    dead.set_defaults(func=_deadletter)


def _bus(settings: Settings) -> Bus:
    if not settings.redis_url:
        sys.exit(missing_url_message(settings.redis_dir))
    return Bus(connect(settings.redis_url, "onemap-notify"), prefix=settings.prefix)


def _store() -> NotifyStore:
    return NotifyStore(_bus(Settings.from_env()))


def _add(args: argparse.Namespace) -> int:
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        sys.exit(f"unknown kinds {unknown}: choose from {', '.join(KINDS)}")
    if load_geography().area(args.scope) is None:
        sys.exit(f"unknown area {args.scope!r}")
    try:
        parse_quiet(args.quiet)
    except ValueError as exc:
        sys.exit(str(exc))
    target = args.target
    if not target.startswith(("http://", "https://")):
        sys.exit("--target must be an http:// or https:// URL")
    secret = secrets.token_urlsafe(32) if args.secret == "generate" else args.secret
    store = _store()
    if args.then and store.subscription(args.then) is None:
        print(f"note: no subscription {args.then!r} yet; escalation waits for it", flush=True)
    fields = {
        "name": args.name,
        "who": args.who,
        "scope": args.scope,
        "kinds": kinds,
        "channel": args.channel,
        "target": target,
        "secret": secret,
        "min_level": args.min_level,
        "phone": args.phone,
        "body": args.body,
        "quiet": args.quiet,
        "escalate_after": args.escalate_after,
        "then": args.then,
    }
    store.put(msgspec.convert(fields, Subscription))
    print(f"subscription {args.name}: {args.channel} for {args.who} in {args.scope}", flush=True)
    if args.secret == "generate":
        print(f"webhook secret (shown once): {secret}", flush=True)
    return 0


def _list(args: argparse.Namespace) -> int:
    for s in _store().subscriptions():
        escalation = f"after {s.escalate_after:g} min → {s.then}" if s.then else "-"
        row = (
            s.name,
            s.who,
            s.scope,
            ",".join(s.kinds),
            s.channel,
            _host(s.target),
            s.quiet or "-",
            escalation,
        )
        print("\t".join(printable(str(v)) for v in row))
    return 0


def _host(url: str) -> str:
    """Where a target points, without its path and query (they often hold a token)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}"


def _remove(args: argparse.Namespace) -> int:
    if not _store().remove(args.name):
        print(f"no subscription {args.name!r}", file=sys.stderr)
        return 1
    print(f"removed {args.name}")
    return 0


def _test(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    bus = _bus(settings)
    sub = NotifyStore(bus).subscription(args.name)
    if sub is None:
        sys.exit(f"no subscription {args.name!r}")
    source = f"test:{secrets.token_hex(6)}"
    alert = Alert(
        source=source,
        kind=sub.kinds[0],
        area=sub.scope,
        place=sub.scope,
        title="OneMap 测试消息 test message",
        ts=datetime.now(UTC).isoformat(),
    )
    job = Job(alert, sub.name, chain_id(sub.name, source), root=sub.name)
    tuning = tuning_from(settings)
    link = ack_url(tuning.base_url, shared_link_key(bus, settings), job.chain, tuning.link_hours)
    error = send(build(sub, job, link), sub.channel, tuning.timeout_s)
    if error:
        print(f"{sub.name}: failed: {error}", flush=True)
        return 1
    print(f"{sub.name}: delivered ({sub.channel} {_host(sub.target)})", flush=True)
    return 0


def _run(args: argparse.Namespace, stop: threading.Event) -> int:
    settings = Settings.from_env()
    Notifier(_bus(settings), load_geography(), settings, args.name).run(stop)
    return 0


def _deadletter(args: argparse.Namespace) -> int:
    for job, error in _store().dead_letters(args.count):
        row = (job.sub, job.alert.source, str(job.attempt), error)
        print("\t".join(printable(v) for v in row))
    return 0
