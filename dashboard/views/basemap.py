"""The base map: the tile layers every map draws, read from the ``ONEMAP_TILE_*`` settings
(docs/maps.md). Pure: ``layouts/basemap.py`` makes them map components, ``onemap/app.py``
lets their origins into the Content-Security-Policy.

``ONEMAP_TILE_SERVICE`` says how ``ONEMAP_TILE_URL`` (one or several addresses, space-separated,
drawn bottom first) is read:

- ``xyz``: a template with ``{z}``, ``{x}``, ``{y}`` (and ``{s}``, a subdomain);
- ``wmts``: a GetTile template, KVP (``...&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}``) or RESTful
  (``.../{TileMatrix}/{TileRow}/{TileCol}.png``), or the service's address, to which a KVP
  GetTile request is added for each of ``ONEMAP_TILE_LAYERS`` (``{layer}`` in an address is
  each layer's name: 天地图 serves ``vec`` at ``vec_w/wmts`` and ``cva`` at ``cva_w/wmts``);
- ``wms``: the service's address; ``ONEMAP_TILE_LAYERS`` are its layers, drawn as one GetMap
  image a tile (EPSG:3857).

``ONEMAP_TILE_PARAMS`` (a query string) is added to every request: a key (天地图's ``tk``), or
a KVP request's own parameters (``TILEMATRIXSET``, ``FORMAT``, ``STYLE``; WMS ``FORMAT``,
``VERSION``, ``STYLES``, ``TRANSPARENT``). Every layer is the same matrix set as the map:
Web Mercator (EPSG:3857, 天地图's ``w``). ``ONEMAP_TILE_CRS=gcj02`` marks tiles drawn in GCJ-02
(Gaode, Tencent): the page shifts them onto the WGS84 data (``assets/onemap-21-basemap.js``).
An address that cannot work is logged and left out; the others are drawn.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlsplit

if TYPE_CHECKING:
    from dashboard.config import Settings

log = logging.getLogger(__name__)

# The WMTS KVP GetTile request of one layer, before ONEMAP_TILE_PARAMS (which win)
WMTS_DEFAULTS = {
    "SERVICE": "WMTS",
    "REQUEST": "GetTile",
    "VERSION": "1.0.0",
    "STYLE": "default",
    "TILEMATRIXSET": "GoogleMapsCompatible",
    "FORMAT": "image/png",
}
WMTS_TILE = "TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
RESTFUL = {"tilematrix": "{z}", "tilerow": "{y}", "tilecol": "{x}"}
WMS_OPTIONS = {"format": "image/png", "version": "1.1.1", "styles": "", "transparent": "false"}
LEAFLET_KEYS = {"z", "x", "y", "s", "r"}  # what Leaflet fills in; anything else throws
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class BaseLayer:
    kind: str  # "tile" (XYZ and WMTS: a URL template) or "wms"
    url: str
    gcj02: bool = False
    subdomains: str = "abc"
    wms_layers: str = ""
    wms_format: str = "image/png"
    wms_version: str = "1.1.1"
    wms_styles: str = ""
    transparent: bool = False

    @property
    def class_name(self) -> str:
        """Marks the page's scripts read: a base layer, and whether to shift it (GCJ-02)."""
        return "onemap-basemap" + (" onemap-gcj02" if self.gcj02 else "")

    def origins(self) -> list[str]:
        """Where its tiles come from (for img-src): one origin per subdomain it uses."""
        hosts = [self.url.replace("{s}", s) for s in self.subdomains] if "{s}" in self.url else []
        found = []
        for url in hosts or [self.url]:
            parts = urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "'self'"
            if origin not in found:
                found.append(origin)
        return found


def base_layers(settings: Settings) -> list[BaseLayer]:
    """The base map's layers, bottom first; none when ONEMAP_TILE_URL is empty."""
    urls = settings.tile_url.split()
    layers = [name.strip() for name in settings.tile_layers.split(",") if name.strip()]
    params = parse_qsl(settings.tile_params.lstrip("?&"), keep_blank_values=True)
    gcj02 = settings.tile_crs == "gcj02"
    found: list[BaseLayer] = []
    for url in urls:
        try:
            if settings.tile_service == "wms":
                found.append(_wms(url, layers, params, gcj02, settings.tile_subdomains))
            else:
                for template in _templates(url, settings.tile_service, layers, params):
                    found.append(BaseLayer("tile", template, gcj02, settings.tile_subdomains))
        except ValueError as exc:
            log.error("base map %s left out: %s", url[:200], exc)
    return found


def image_origins(settings: Settings) -> list[str]:
    """Every origin the base map loads images from, for the Content-Security-Policy."""
    return sorted({origin for layer in base_layers(settings) for origin in layer.origins()})


def _templates(
    url: str, service: str, layers: list[str], params: list[tuple[str, str]]
) -> list[str]:
    address = service == "wmts" and "{" not in url.replace("{s}", "").replace("{layer}", "")
    names = layers if "{layer}" in url or address else [""]
    if not names:
        raise ValueError("it needs ONEMAP_TILE_LAYERS (the layer names)")
    templates = []
    for name in names:
        filled = url.replace("{layer}", quote(name, safe=""))
        if service == "wmts" and "{" not in filled.replace("{s}", ""):  # an address: KVP
            kvp = {**WMTS_DEFAULTS, "LAYER": name}
            # the request's own keys in capitals (they replace the defaults), others as given
            kvp.update({(k.upper() if k.upper() in kvp else k): v for k, v in params})
            filled = _with_query(filled, _query(kvp.items()) + "&" + WMTS_TILE)
        else:
            filled = PLACEHOLDER.sub(lambda m: RESTFUL.get(m[1].lower(), m[0]), filled)
            filled = _with_query(filled, _query(params))
        _check(filled)
        templates.append(filled)
    return templates


def _wms(
    url: str, layers: list[str], params: list[tuple[str, str]], gcj02: bool, subdomains: str
) -> BaseLayer:
    if not layers:
        raise ValueError("a WMS base map needs ONEMAP_TILE_LAYERS (the layer names)")
    if "{" in url.replace("{s}", ""):
        raise ValueError("a WMS address is the service's, with no {placeholders} but {s}")
    options = dict(WMS_OPTIONS)
    rest = []
    for key, value in params:
        if key.lower() in options:
            options[key.lower()] = value
        else:
            rest.append((key, value))
    return BaseLayer(
        "wms",
        _with_query(url, _query(rest)),
        gcj02,
        subdomains,
        ",".join(layers),
        options["format"],
        options["version"],
        options["styles"],
        options["transparent"].lower() in ("1", "true", "yes"),
    )


def _check(template: str) -> None:
    unknown = sorted(set(PLACEHOLDER.findall(template)) - LEAFLET_KEYS)
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}} (known: {{z}} {{x}} {{y}} {{s}})")
    if not all(f"{{{key}}}" in template for key in "zxy"):
        raise ValueError("the template lacks {z}, {x} or {y} (or WMTS's TileMatrix, Row, Col)")
    if urlsplit(template).scheme not in ("http", "https", ""):
        raise ValueError("not an http(s) address")


def _query(pairs: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe=':/,')}" for k, v in pairs)


def _with_query(url: str, query: str) -> str:
    if not query:
        return url
    return url + ("&" if "?" in url else "?") + query
