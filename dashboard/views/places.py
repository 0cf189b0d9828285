"""The city's own map layers (schools, hazardous-chemical sites, rivers, key buildings): one
GeoJSON file each in ``ONEMAP_LAYERS_DIR``, served to signed-in screens and searched for the
places near an incident (docs/maps.md).

A file is a FeatureCollection in WGS84; its ``name`` and ``style`` foreign members name and
colour the layer (else its file stem and a colour of its own), each feature's
``properties.name`` names a place. Files are read once, when the server starts. A file that
cannot be used is skipped and logged with the reason, a feature that cannot be used likewise
(and counted): a bad file never stops the server. Only names and geometry reach the browser,
which draws names as text.
"""

from __future__ import annotations

import heapq
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify
from flask.typing import ResponseReturnValue

from dashboard.views.place_geometry import BadGeometry, Shape, scales, shape_of

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 2**20
MAX_NAME = 80
PER_LAYER = 5  # an incident's detail lists at most this many places of one layer
LAYER_ID = re.compile(r"[\w-]{1,64}")  # file stems: letters (中文 too), digits, _ and -
COLOUR = re.compile(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?")
DASHES = re.compile(r"[0-9]{1,3}([ ,]+[0-9]{1,3}){0,7}")
# Colours of layers whose file gives none, in file order: none is one the index (green, amber,
# red), the platforms or the workers use.
PALETTE = ["#4fc3f7", "#f48fb1", "#ffb74d", "#ce93d8", "#80cbc4", "#fff176", "#90a4ae"]
# style key -> (lowest, highest) for numbers, or the pattern a string must match
STYLE_KEYS: dict[str, tuple[float, float] | re.Pattern[str]] = {
    "color": COLOUR,
    "fillColor": COLOUR,
    "dashArray": DASHES,
    "weight": (0.0, 20.0),
    "opacity": (0.0, 1.0),
    "fillOpacity": (0.0, 1.0),
    "radius": (1.0, 30.0),
}


@dataclass(frozen=True)
class Place:
    name: str
    shape: Shape


@dataclass
class Layer:
    id: str  # the file's stem: what `/wall?layers=` and ONEMAP_LAYERS_ON name it by
    name: str
    style: dict[str, Any]
    places: list[Place]
    skipped: int  # features that could not be used
    geojson: bytes = b""  # what the browser draws: names and geometry only
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def summary(self) -> dict[str, Any]:
        kinds = sorted({p.shape.kind for p in self.places})
        return {
            "id": self.id,
            "name": self.name,
            "style": self.style,
            "kinds": kinds,
            "count": len(self.places),
        }


@dataclass
class Places:
    """Every layer of the folder, and the search for the places near a position."""

    layers: list[Layer] = field(default_factory=list)
    near_m: int = 500
    on: list[str] = field(default_factory=list)  # ticked when a desk or tablet opens
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file, why)

    @classmethod
    def load(cls, folder: str, near_m: int = 500, on: str = "") -> Places:
        places = cls(near_m=near_m)
        if not folder:
            return places
        root = Path(folder)
        if not root.is_dir():
            log.error("ONEMAP_LAYERS_DIR %s is not a folder: no map layers", folder)
            places.rejected.append((folder, "not a folder"))
            return places
        for path in sorted(root.iterdir()):
            if path.suffix.lower() in (".geojson", ".json") and path.is_file():
                places._add(path)
        ids = [layer.id for layer in places.layers]
        asked = [s.strip() for s in on.split(",") if s.strip()]
        places.on = ids if asked == ["all"] else [i for i in asked if i in ids]
        features = sum(len(layer.places) for layer in places.layers)
        log.info(
            "map layers: %d loaded from %s (%d places), %d files skipped",
            len(places.layers),
            folder,
            features,
            len(places.rejected),
        )
        return places

    def _add(self, path: Path) -> None:
        try:
            layer = read_layer(path, PALETTE[len(self.layers) % len(PALETTE)])
            if any(known.id == layer.id for known in self.layers):
                raise BadLayer(f"a layer named {layer.id!r} was read already")
        except BadLayer as exc:
            log.warning("map layer file %s skipped: %s", path.name, exc)
            self.rejected.append((path.name, str(exc)))
            return
        self.layers.append(layer)

    def layer(self, layer_id: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.id == layer_id), None)

    def near(self, lon: float, lat: float) -> dict[str, Any]:
        """The places within ``near_m`` of a position, nearest first, at most PER_LAYER of a
        layer; ``more``: how many others are within it."""
        kx, ky = scales(lat)
        dlon, dlat = self.near_m / kx, self.near_m / ky
        found: list[dict[str, Any]] = []
        more = 0
        for layer in self.layers:
            west, south, east, north = layer.bbox
            if not (west - dlon <= lon <= east + dlon and south - dlat <= lat <= north + dlat):
                continue
            hits = []
            for place in layer.places:
                if place.shape.near_box(lon, lat, dlon, dlat):
                    metres, inside, at = place.shape.nearest(lon, lat)
                    if metres <= self.near_m:
                        hits.append((metres, inside, at, place))
            nearest = heapq.nsmallest(PER_LAYER, hits, key=lambda hit: hit[0])
            more += len(hits) - len(nearest)
            found += [
                {
                    "name": place.name,
                    "layer": layer.id,
                    "layerName": layer.name,
                    "kind": place.shape.kind,
                    "metres": round(metres),
                    "inside": inside,
                    "color": layer.style["color"],
                    "at": [round(at[0], 6), round(at[1], 6)],  # its nearest point: the map's
                }
                for metres, inside, at, place in nearest
            ]
        found.sort(key=lambda p: (p["metres"], p["layerName"], p["name"]))
        return {"within": self.near_m, "items": found, "more": more}

    def install(self, server: Flask) -> None:
        """``GET /api/layers`` (the list) and ``/api/layers/<id>.json`` (one layer's places),
        for signed-in screens only: the gate refuses everyone else."""

        @server.get("/api/layers")
        def map_layers() -> ResponseReturnValue:
            return jsonify(
                layers=[layer.summary() for layer in self.layers], on=self.on, nearM=self.near_m
            )

        @server.get("/api/layers/<layer_id>.json")
        def map_layer(layer_id: str) -> ResponseReturnValue:
            layer = self.layer(layer_id)
            if layer is None:
                return jsonify(error="unknown layer"), 404
            return Response(layer.geojson, mimetype="application/json")


class BadLayer(ValueError):
    """A layer file that cannot be used; its message says why, for the log."""


def read_layer(path: Path, colour: str) -> Layer:
    """One file as a Layer, or BadLayer. Features that cannot be used are skipped, logged
    (the first reason) and counted; a file left with none is bad."""
    if not LAYER_ID.fullmatch(path.stem):
        raise BadLayer("its name may hold letters, digits, _ and - only (it is the layer's id)")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise BadLayer(f"larger than {MAX_FILE_BYTES // 2**20} MB")
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadLayer(f"not JSON in UTF-8 ({str(exc)[:80]})") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise BadLayer("not a GeoJSON FeatureCollection")
    features = data.get("features")
    if not isinstance(features, list):
        raise BadLayer("its features are not a list")
    places, drawn, reasons = [], [], []
    for n, feature in enumerate(features):
        try:
            place, geometry = _feature(feature)
        except BadGeometry as exc:
            reasons.append(f"feature {n}: {exc}")
            continue
        places.append(place)
        drawn.append({"type": "Feature", "properties": {"name": place.name}, "geometry": geometry})
    if reasons:
        log.warning(
            "map layer file %s: %d of %d features skipped (%s)",
            path.name,
            len(reasons),
            len(features),
            reasons[0],
        )
    if not places:
        raise BadLayer("no usable feature" + (f" ({reasons[0]})" if reasons else ""))
    name = _text(data.get("name")) or path.stem
    layer = Layer(
        path.stem, name, style_of(data.get("style"), colour, path.name), places, len(reasons)
    )
    layer.geojson = json.dumps(
        {"type": "FeatureCollection", "name": name, "features": drawn},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    boxes = [p.shape.bbox for p in places]
    layer.bbox = (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    return layer


def _feature(feature: Any) -> tuple[Place, dict[str, Any]]:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise BadGeometry("not a GeoJSON Feature")
    geometry: dict[str, Any] = feature.get("geometry") or {}
    shape = shape_of(geometry)  # BadGeometry unless a dict of a known type and coordinates
    properties = feature.get("properties")
    name = _text(properties.get("name")) if isinstance(properties, dict) else ""
    return Place(name, shape), {"type": geometry["type"], "coordinates": geometry["coordinates"]}


def _text(value: Any) -> str:
    """A name as plain text: a string or a number, control characters out, at most MAX_NAME."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    text = "".join(c for c in str(value) if c.isprintable()).strip()
    return text[:MAX_NAME]


def style_of(given: Any, colour: str, file: str = "") -> dict[str, Any]:
    """The keys of a layer's ``style`` this page knows, each checked (a bad value is dropped
    and logged), over the defaults: a thin line and a faint fill in the layer's colour."""
    style: dict[str, Any] = {
        "color": colour,
        "weight": 2,
        "opacity": 0.9,
        "fillOpacity": 0.2,
        "radius": 5,
    }
    for key, value in given.items() if isinstance(given, dict) else []:
        rule = STYLE_KEYS.get(key)
        if isinstance(rule, re.Pattern) and isinstance(value, str) and rule.fullmatch(value):
            style[key] = value
        elif (
            isinstance(rule, tuple)
            and isinstance(value, int | float)
            and not isinstance(value, bool)
            and rule[0] <= value <= rule[1]
        ):
            style[key] = value
        else:
            log.warning(
                "map layer file %s: style %s=%r ignored", file, str(key)[:30], str(value)[:30]
            )
    style.setdefault("fillColor", style["color"])
    return style
