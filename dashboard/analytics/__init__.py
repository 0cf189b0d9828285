"""Analytics: KPIs, the governance index, deadlines, early warnings (docs/metrics.md).

state.metrics.figures("330212", now)            # every KPI of an area
index_for(state, "town", "330212", now)          # scores and colours of its towns
state.metrics.tick(now)                          # time-driven warnings; drains the outbox
"""

from dashboard.analytics.index import IndexConfig, explain, index_for
from dashboard.analytics.knobs import AnalyticsConfig
from dashboard.analytics.metrics import Figures, Metrics

__all__ = ["AnalyticsConfig", "Figures", "IndexConfig", "Metrics", "explain", "index_for"]
