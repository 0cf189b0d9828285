"""The base map as map components, one builder for the wall, the desk and the tablet.

What to draw comes from ``dashboard/views/basemap.py`` (the ``ONEMAP_TILE_*`` settings,
docs/maps.md); the page's ``assets/onemap-21-basemap.js`` shifts GCJ-02 tiles onto the WGS84
data, and ``assets/onemap-22-layers.js`` adds the city's own layers.
"""

from __future__ import annotations

from typing import Any

import dash_leaflet as dl

from dashboard.config import Settings
from dashboard.views.basemap import base_layers


def tile_layers(settings: Settings, opacity: float = 1.0) -> list[Any]:
    """The base map's layers, bottom first (none without ONEMAP_TILE_URL). ``opacity``: the
    dark wall keeps its tiles faint, under the three-colour index."""
    built: list[Any] = []
    for layer in base_layers(settings):
        common: dict[str, Any] = {"url": layer.url, "opacity": opacity}
        common["className"] = layer.class_name
        if "{s}" in layer.url:
            common["subdomains"] = layer.subdomains
        if layer.kind == "wms":
            built.append(
                dl.WMSTileLayer(
                    layers=layer.wms_layers,
                    format=layer.wms_format,
                    version=layer.wms_version,
                    styles=layer.wms_styles,
                    transparent=layer.transparent,
                    **common,
                )
            )
        else:
            built.append(dl.TileLayer(**common))
    return built
