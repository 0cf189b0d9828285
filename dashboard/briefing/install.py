"""The briefing in a running server: its pages and its morning run (one call from
``onemap.app.create_app``)."""

from __future__ import annotations

from typing import Protocol

from flask import Flask

from dashboard.access.auth import Access
from dashboard.briefing.make import Maker
from dashboard.briefing.morning import Morning, parse_at
from dashboard.briefing.web import Reports
from dashboard.config import Settings
from dashboard.live.hub import LiveHub
from feeds.bus import Bus
from feeds.geo import Geography


class Host(Protocol):
    """What the briefing takes from the composition root's ``OneMap``."""

    settings: Settings
    server: Flask
    access: Access
    bus: Bus
    hub: LiveHub
    geo: Geography


def install(host: Host) -> Maker:
    settings = host.settings
    maker = Maker(host.hub.live, host.hub.archive, settings.data_dir)
    Reports(host.access, maker.store, host.geo).install(host.server)
    at = parse_at(settings.briefing_at)
    if at is not None:
        morning = Morning(maker, host.bus.client, settings.prefix, at, host.hub.live.ready)
        host.hub.jobs.append(morning.run)  # with the server's other jobs (LiveHub.start)
    return maker
