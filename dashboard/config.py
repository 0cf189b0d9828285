"""Settings: every ONEMAP_* environment variable, with its default and a help line.

docs/configuration.md lists the same table; a test fails when a setting is undocumented.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any


class SettingError(ValueError):
    """A setting, or a combination of them, that cannot work."""


def _setting(default: Any, help: str) -> Any:  # noqa: A002 - "help" reads best in the table
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    redis_url: str = _setting(
        "",
        "Redis server URL (redis://, or redis+sentinel://H:P,H:P,H:P/DB/SERVICE for failover). "
        "Empty: `onemap demo` starts an embedded redis-server.",
    )
    prefix: str = _setting("onemap", "Prefix of every Redis key, so several feeds can share one.")
    events_maxlen: int = _setting(
        2_000_000,
        "Emergency cap of the event stream: the log is trimmed by days (ONEMAP_LOG_DAYS) once "
        "archived; this cap drops unarchived steps only if archiving stops for weeks.",
    )
    positions_maxlen: int = _setting(1_000_000, "Approximate cap of the worker-position stream.")
    deadletter_maxlen: int = _setting(100_000, "Approximate cap of the dead-letter stream.")
    max_future_s: int = _setting(300, "Reject messages stamped more than this many s ahead.")
    max_age_h: int = _setting(72, "Reject messages older than this many hours.")
    host: str = _setting("127.0.0.1", "Address the dashboard listens on.")
    port: int = _setting(8050, "Port the dashboard listens on.")
    threads: int = _setting(
        1000,
        "Connections one server process serves at once, a thread each. A screen holds one as "
        "long as it is open, so a replica holds fewer screens than this: page loads and "
        "callbacks need the rest (the balancer's per-replica maxconn stays below it).",
    )
    secret_key: str = _setting(
        "", "Key that signs session cookies. Empty: one generated key kept in Redis, shared."
    )
    message_queue: str = _setting(
        "", "Socket.IO message-queue URL for several server processes (empty: one process)."
    )
    data_dir: str = _setting(
        ".onemap",
        "Where the embedded Redis (AOF) and the archive live; made absolute at start.",
    )
    archive_dir: str = _setting(
        "",
        "The Parquet archive of the log's past days (empty: <data dir>/archive). Replicas "
        "share one: one of them archives each day, all read it.",
    )
    hot_days: int = _setting(
        3,
        "Closed incidents stay in memory this many local days (today included); older ones, "
        "once archived, are read from the archive.",
    )
    log_days: int = _setting(
        7, "The hot log (Redis) keeps this many days; older steps are trimmed once archived."
    )
    archive_every_s: int = _setting(
        600, "The server archives complete days, trims the log and lets memory go this often."
    )
    checkpoint_every_s: int = _setting(
        300, "Write the folded state to the data dir this often, and at SIGTERM (0: never)."
    )
    replay_hours: int = _setting(
        72, "How far back a replay (复盘) reaches; shelved checkpoints and tracks are kept as long."
    )
    replay_every_s: int = _setting(
        900,
        "Shelve a checkpoint for replay this often (a seek folds at most this much log; 0: "
        "none, a seek folds the log from its start). Needs ONEMAP_CHECKPOINT_EVERY_S.",
    )
    track_every_s: int = _setting(
        30, "Worker fixes kept for replay and tracks: one per worker this often (and on a move)."
    )
    track_flush_s: int = _setting(
        30, "Kept worker fixes are written to the archive this often (a replay reaches them then)."
    )
    replay_sessions: int = _setting(
        3, "Replays one server process holds at once (each holds a whole state in memory)."
    )
    embedded_redis_port: int = _setting(
        6380, "Port of the embedded redis-server (`onemap demo`, `onemap redis`)."
    )
    ticker_size: int = _setting(200, "How many latest event steps a newly opened page receives.")
    stale_after_s: int = _setting(60, "A wall shows amber when its newest data is older than this.")
    tour_dwell_s: int = _setting(45, "Seconds a touring wall (`/wall?tour=1`) stays on each area.")
    follow_grace_s: int = _setting(
        30,
        "A wall following a leader's tablet (大屏跟随) is released when the tablet has been "
        "disconnected this many s (on every replica).",
    )
    follow_max_s: int = _setting(
        1800, "A follow ends this many s after the leader began it, whatever the tablet does."
    )
    max_heap_mb: int = _setting(1024, "A wall reloads itself when its JS heap grows past this.")
    # The base map and the city's own layers (docs/maps.md).
    tile_url: str = _setting(
        "",
        "Base map: an XYZ template ({z}/{x}/{y}), a WMTS GetTile template or address, or a WMS "
        "address; several, space-separated, drawn bottom first. Empty: no tiles.",
    )
    tile_service: str = _setting("xyz", "How ONEMAP_TILE_URL is read: xyz, wmts or wms.")
    tile_layers: str = _setting(
        "", "WMTS or WMS layer names, comma-separated (WMTS: one base layer each, bottom first)."
    )
    tile_params: str = _setting(
        "", "Query parameters added to every tile request (`tk=KEY&TILEMATRIXSET=w`)."
    )
    tile_subdomains: str = _setting("abc", "What {s} in ONEMAP_TILE_URL takes (天地图: 01234567).")
    tile_crs: str = _setting(
        "wgs84", "The tiles' datum: wgs84 (also CGCS2000) or gcj02 (shifted onto WGS84 data)."
    )
    layers_dir: str = _setting(
        "", "Folder of the city's own map layers, one GeoJSON file each; empty: none."
    )
    layers_on: str = _setting(
        "", "Layers (file stems, comma-separated, or `all`) ticked when a desk or tablet opens."
    )
    layers_near_m: int = _setting(
        500, "An incident's detail lists its layers' places within this many metres."
    )
    position_interval_ms: int = _setting(500, "At most one position frame per room this often.")
    send_queue_max: int = _setting(
        256, "Packets that may wait for one screen; a screen further behind is dropped."
    )
    cookie_secure: bool = _setting(True, "Session cookie only over HTTPS (0 for plain-HTTP demos).")
    trusted_proxies: int = _setting(
        0,
        "How many proxies in front (a load balancer: 1): the client's address and scheme are "
        "then read from their X-Forwarded-For and X-Forwarded-Proto.",
    )
    session_hours: int = _setting(12, "A person's session ends this many hours after sign-in.")
    kiosk_session_days: int = _setting(30, "A wall's session cookie lasts this many days per load.")
    allowed_origins: str = _setting(
        "", "Comma-separated origins allowed to open sockets (empty: this server's own only)."
    )
    login_rate: str = _setting(
        "10/minute",
        "Failed sign-ins allowed per address, and per name before it backs off (no lock-out).",
    )
    audit_maxlen: int = _setting(1_000_000, "Approximate cap of the audit stream.")
    audit_anonymous_maxlen: int = _setting(
        100_000, "Approximate cap of the audit stream of failures by the not signed in."
    )
    public_url: str = _setting("", "Base URL printed in kiosk links (empty: http://HOST:PORT).")
    notify_tries: int = _setting(5, "Tries of one notification before its dead letter.")
    notify_backoff_s: float = _setting(
        5.0, "Delay before a notification's first retry, doubled each retry (at most 10 min)."
    )
    notify_timeout_s: float = _setting(10.0, "One notification try's HTTP timeout.")
    notify_workers: int = _setting(4, "Delivery threads of one `onemap notify run` process.")
    notify_minute_s: float = _setting(
        60.0, "Seconds in a subscription's minute (escalation delays; tests shorten it)."
    )
    notify_link_hours: float = _setting(
        72.0, "A signed acknowledgement link in a notification works this many hours."
    )
    briefing_at: str = _setting(
        "07:00",
        "China time (HH:MM) the server writes yesterday's daily briefings (日报), once a day "
        "across replicas; empty: never (then `onemap report daily`).",
    )

    def __post_init__(self) -> None:
        # Resolved once, against the directory the command started in: redis-server changes
        # into its --dir, and a child started elsewhere must find the same files.
        object.__setattr__(self, "data_dir", os.path.abspath(self.data_dir))
        archive = self.archive_dir or os.path.join(self.data_dir, "archive")
        object.__setattr__(self, "archive_dir", os.path.abspath(archive))
        # Memory lets closed incidents go after hot_days; today's and yesterday's figures must
        # not move when they do, and the log must still hold every step of those it keeps.
        if self.follow_grace_s < 1 or self.follow_max_s < 1:
            raise SettingError("ONEMAP_FOLLOW_GRACE_S and ONEMAP_FOLLOW_MAX_S must be at least 1")
        if self.hot_days < 3:
            raise SettingError(f"ONEMAP_HOT_DAYS must be at least 3 (is {self.hot_days})")
        if self.log_days < self.hot_days:
            raise SettingError(
                f"ONEMAP_LOG_DAYS ({self.log_days}) must be at least ONEMAP_HOT_DAYS "
                f"({self.hot_days}): a restart with no checkpoint folds only the log"
            )
        if self.tile_service not in ("xyz", "wmts", "wms"):
            raise SettingError(
                f"ONEMAP_TILE_SERVICE must be xyz, wmts or wms (is {self.tile_service!r})"
            )
        if self.tile_crs not in ("wgs84", "cgcs2000", "gcj02"):
            raise SettingError(
                f"ONEMAP_TILE_CRS must be wgs84, cgcs2000 or gcj02 (is {self.tile_crs!r})"
            )

    @property
    def redis_dir(self) -> str:
        """The embedded Redis's files (AOF, log, the URL it serves on)."""
        return os.path.join(self.data_dir, "redis")

    @property
    def checkpoint_dir(self) -> str:
        return os.path.join(self.data_dir, "checkpoints")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"ONEMAP_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse(f.default, raw)
        values.update(overrides)
        return cls(**values)


def _parse(default: Any, raw: str) -> Any:
    if isinstance(default, bool):  # bool("0") is True: read the usual spellings instead
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return type(default)(raw)


def documented_settings() -> list[tuple[str, Any, str]]:
    """(variable, default, help) for every setting, in declaration order."""
    return [(f"ONEMAP_{f.name.upper()}", f.default, f.metadata["help"]) for f in fields(Settings)]
