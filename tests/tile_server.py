"""A local WMTS and WMS tile server for the browser tests and the screenshots (docs/maps.md).

A thread on a free port answers KVP ``GET /wmts?SERVICE=WMTS&REQUEST=GetTile&...&TILEMATRIX=z
&TILEROW=y&TILECOL=x`` and ``GET /wms?SERVICE=WMS&REQUEST=GetMap&BBOX=...`` (EPSG:3857) with a
generated 256x256 PNG: a checkerboard tile with a grid, and the tile's z, x and y in large
figures, so a screenshot shows the map is made of the tiles it asked for. Every request is
recorded (its path and its query, keys in capitals) for the tests to check.
"""

from __future__ import annotations

import math
import struct
import threading
import zlib
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import numpy as np

SIZE = 256
HALF_WORLD = 20037508.342789244  # metres: half the EPSG:3857 world's width
# 5x7 bitmaps of the characters the tiles show
GLYPHS = {
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11110 00001 00001 01110 00001 00001 11110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    "z": "00000 00000 11111 00010 00100 01000 11111",
    "x": "00000 00000 10001 01010 00100 01010 10001",
    "y": "00000 00000 10001 10001 01111 00001 01110",
    "W": "10001 10001 10001 10101 10101 10101 01010",
    "M": "10001 11011 10101 10101 10001 10001 10001",
    "T": "11111 00100 00100 00100 00100 00100 00100",
    "S": "01111 10000 10000 01110 00001 00001 11110",
    " ": "00000 00000 00000 00000 00000 00000 00000",
}


def _text(image: np.ndarray, text: str, left: int, top: int, scale: int, colour: tuple) -> None:
    for n, char in enumerate(text):
        rows = GLYPHS[char].split()
        for r, row in enumerate(rows):
            for c, bit in enumerate(row):
                if bit == "1":
                    y, x = top + r * scale, left + (n * 6 + c) * scale
                    image[y : y + scale, x : x + scale] = colour


def _png(image: np.ndarray) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(image.shape[0]))
    header = struct.pack(">IIBBBBB", image.shape[1], image.shape[0], 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


@lru_cache(maxsize=4096)
def tile_png(service: str, z: int, x: int, y: int) -> bytes:
    """One tile: a checkerboard square with a grid, its service's name and z, x, y."""
    image = np.empty((SIZE, SIZE, 3), dtype=np.uint8)
    image[:] = (34, 62, 98) if (x + y) % 2 else (24, 46, 76)
    image[::64, :] = image[:, ::64] = (58, 94, 138)  # a quarter-tile grid
    image[:2, :] = image[:, :2] = (130, 185, 235)  # the tile's own edge, top and left
    _text(image, service, 12, 12, 3, (130, 185, 235))
    for line, text in enumerate((f"z{z}", f"x{x}", f"y{y}")):
        _text(image, text, 16, 60 + line * 52, 6, (150, 180, 215))  # under overlays
    return _png(image)


def wms_tile(bbox: str) -> tuple[int, int, int]:
    """The z, x, y of the Web Mercator tile a GetMap BBOX (minx,miny,maxx,maxy) covers."""
    minx, _miny, maxx, maxy = (float(v) for v in bbox.split(","))
    z = round(math.log2(2 * HALF_WORLD / (maxx - minx)))
    side = 2 * HALF_WORLD / 2**z
    return z, round((minx + HALF_WORLD) / side), round((HALF_WORLD - maxy) / side)


class TileServer:
    """``with TileServer() as tiles:`` serves at ``tiles.url``; ``tiles.requests`` lists every
    request as a dict: ``path`` and the query's keys in capitals."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                query = {k.upper(): v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
                with owner.lock:
                    owner.requests.append({"path": parts.path, **query})
                body = owner.answer(parts.path, query)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "image/png" if body else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")  # every view asks again
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a tile the map no longer wanted

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str, query: dict[str, str]) -> bytes:
        try:
            if path == "/wmts" and query.get("REQUEST") == "GetTile":
                z, y, x = (int(query[k]) for k in ("TILEMATRIX", "TILEROW", "TILECOL"))
                return tile_png("WMTS", z, x, y)
            if path == "/wms" and query.get("REQUEST") == "GetMap":
                return tile_png("WMS", *wms_tile(query["BBOX"]))
        except (KeyError, ValueError):
            pass
        return b""

    def tiles(self, path: str = "/wmts") -> list[dict[str, str]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
