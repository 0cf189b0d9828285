"""Every analytics knob, with its default; docs/metrics.md explains each."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from dashboard.analytics.cluster import ClusterConfig
from dashboard.analytics.index import IndexConfig
from dashboard.analytics.spike import SpikeConfig
from dashboard.analytics.watch import WatchConfig
from feeds.deadlines import DUE_SOON


@dataclass(frozen=True)
class AnalyticsConfig:
    due_soon: timedelta = DUE_SOON  # open and due within this: "due soon"
    online_window: timedelta = timedelta(minutes=5)  # a fix this recent: online
    silence: timedelta = timedelta(minutes=10)  # on duty and silent this long: a warning
    keep_days: int = 2  # day buckets kept in memory (today and yesterday); older: the archive
    spike: SpikeConfig = field(default_factory=SpikeConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
