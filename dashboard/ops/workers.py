"""`onemap workers import|show`: the directory of grid workers (feeds.directory) from a roster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dashboard.config import Settings
from dashboard.ops.printable import printable
from feeds.directory import Directory, read_roster
from feeds.outage import connect
from feeds.redis_server import missing_url_message


def add_worker_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    workers = sub.add_parser("workers", help="the directory of grid workers: import, show")
    actions = workers.add_subparsers(required=True, metavar="ACTION")
    load = actions.add_parser(
        "import", help="names and phones from a CSV roster (columns id,name,phone[,grid])"
    )
    load.add_argument("file", type=Path)
    load.set_defaults(func=_import)
    show = actions.add_parser("show", help="a worker's card")
    show.add_argument("id")
    show.set_defaults(func=_show)


def _directory() -> Directory:
    settings = Settings.from_env()
    if not settings.redis_url:
        sys.exit(missing_url_message(settings.redis_dir))
    return Directory(connect(settings.redis_url, "onemap-cli"), settings.prefix)


def _import(args: argparse.Namespace) -> int:
    try:
        cards = read_roster(args.file)
    except (OSError, ValueError) as exc:
        sys.exit(f"not imported: {exc}")
    directory = _directory()
    count = directory.put(cards)
    print(f"{count:,} workers imported; the directory holds {directory.size():,}")
    return 0


def _show(args: argparse.Namespace) -> int:
    card = _directory().get([args.id]).get(args.id)
    if card is None:
        sys.exit(f"no worker {args.id!r} in the directory")
    print("\t".join(printable(f) for f in (card.id, card.name, card.phone, card.grid)))
    return 0
