"""`onemap producer add|list|revoke`: the keys producers send messages with (docs/api.md).

Like accounts, keys are made from the shell only: whoever runs it can reach Redis. A key is
printed once; only its digest is kept.
"""

from __future__ import annotations

import argparse
import sys

from dashboard.access.producers import DEFAULT_RATE, ProducerStore
from dashboard.config import Settings
from dashboard.ops.accounts import _scope
from dashboard.ops.printable import printable
from feeds.catalogue import PRODUCER_SOURCES as SOURCES
from feeds.outage import connect
from feeds.redis_server import missing_url_message


def add_producer_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    producer = sub.add_parser("producer", help="ingest API keys: add, list, revoke")
    actions = producer.add_subparsers(required=True, metavar="ACTION")
    add = actions.add_parser("add", help="a new key (printed once) for a producer system")
    add.add_argument("name", help="which system, e.g. 12345热线")
    add.add_argument("--scope", required=True, help="the city, a county or a town code")
    add.add_argument(
        "--sources", default="", help=f"comma-separated, of {', '.join(SOURCES)} (default: any)"
    )
    add.add_argument("--positions", action="store_true", help="may send worker positions")
    add.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help="messages a second (default: %(default)g)"
    )
    add.set_defaults(func=_add)
    actions.add_parser("list", help="every key (never the key itself)").set_defaults(func=_list)
    revoke = actions.add_parser("revoke", help="revoke a key; its next request is refused")
    revoke.add_argument("id")
    revoke.set_defaults(func=_revoke)


def _store() -> ProducerStore:
    settings = Settings.from_env()
    if not settings.redis_url:
        sys.exit(missing_url_message(settings.redis_dir))
    return ProducerStore(connect(settings.redis_url, "onemap-cli"), settings.prefix)


def _add(args: argparse.Namespace) -> int:
    place = _scope(args.scope)
    sources = tuple(s.strip() for s in args.sources.split(",") if s.strip())
    try:
        producer, key = _store().add(args.name, args.scope, sources, args.positions, args.rate)
    except ValueError as exc:
        sys.exit(str(exc))
    rights = f"sources {','.join(producer.sources) or 'any'}, positions "
    rights += "yes" if producer.positions else "no"
    print(
        f"producer {producer.id} for {args.name} ({place} {args.scope}; {rights}; "
        f"{producer.rate:g}/s)"
    )
    print(f"key (shown once): {key}")
    return 0


def _list(args: argparse.Namespace) -> int:
    for p in _store().list():
        fields = (
            p.id,
            p.scope,
            p.name,
            ",".join(p.sources) or "any",
            "positions" if p.positions else "events",
            f"{p.rate:g}/s",
            p.created,
        )
        print("\t".join(printable(field) for field in fields))
    return 0


def _revoke(args: argparse.Namespace) -> int:
    if not _store().revoke(args.id):
        sys.exit(f"no producer {args.id!r}")
    print(f"revoked {args.id}")
    return 0
