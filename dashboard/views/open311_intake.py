"""An Open311 ``POST requests`` form, turned into a ``reported`` step (or why not).

Pure apart from the geography: the HTTP side (``dashboard.views.open311``) checks the key,
then this builds the message, and ``feeds.schema.validate`` checks it as it checks every
producer's. What a request becomes:

* the incident id is ``o311-`` and 24 hex digits of a SHA-256 over the key's id and either the
  client's ``Idempotency-Key`` header or, without one, the request's content and its day (China
  time): a retried identical POST names the same incident, and ``Bus.publish_once`` appends it
  once;
* the point is located to the grid containing it (``Locator``), or the nearest grid within
  ``NEAR_M`` (a quay, a river bank), and the step carries its whole area chain;
* ``address_string`` alone is located by the administrative names it holds (``Locator.named``:
  the village or community, else the town, narrowed by the town and county it also names), at
  that area's representative point; an address naming none, only a county, or a name several
  places share without naming which, gets a 400 that says so (no street geocoder runs offline);
* the description is the step's detail, its first line the title; what the spec's other fields
  hold (address_string, media_url, the requester's name, phone and email) follows it under a
  marker line, each personal field in a form the wall's masking hides (``contact_line``).
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import shapely
from werkzeug.datastructures import MultiDict

from dashboard.access.privacy import mask_text
from feeds.catalogue import CATEGORIES
from feeds.deadlines import deadline_for
from feeds.geo import Area, Geography
from feeds.geo.codes import contains
from feeds.schema import CHINA_TZ, MAX_DETAIL_CHARS, AreaRef, EventMessage, Source

ID_PREFIX = "o311-"
SOURCE: Source = (
    "app"  # 群众APP: what a citizen-facing Open311 client is, in the catalogue's sources
)
FOOTER = "\n【Open311】\n"  # between the description and the other fields, in the detail
MAX_DESCRIPTION = 1200  # of MAX_DETAIL_CHARS (2000): the rest is for the footer
MAX_FIELD = 100  # address_string, names, phone, email
MAX_MEDIA_URL = 250
MAX_TOKEN = 200  # an Idempotency-Key
TITLE_CHARS = 40
NEAR_M = 1000  # a point outside every grid is taken by the nearest within this
# Controls, line and paragraph separators and bidi controls: never in a one-line field.
_ONE_LINE_BAD = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_LETTERS = re.compile(r"[^\W\d_]{2,}")
_URL = re.compile(r"^https?://[^\s<>\"']+$", re.I)
LABELS = {
    "address": "地址",
    "media_url": "图片",
    "name": "联系人",
    "phone": "电话",
    "email": "邮箱",
}
assert (
    len(FOOTER)
    + sum(len(v) + 2 for v in LABELS.values())
    + 4 * MAX_FIELD
    + MAX_MEDIA_URL
    + (MAX_DESCRIPTION)
    < MAX_DETAIL_CHARS
)


@dataclass(frozen=True, slots=True)
class Fault:
    """A request refused in the spec's terms: an HTTP status and a description."""

    status: int
    description: str


class Locator:
    """Which grid a point lies in: one R-tree over the grids' polygons, built on first use."""

    def __init__(self, geo: Geography) -> None:
        self.geo = geo
        self._lock = threading.Lock()
        self._index: tuple[shapely.STRtree, list[str]] | None = None

    def grid_at(self, lon: float, lat: float) -> str | None:
        tree, codes = self._tree()
        point = shapely.Point(lon, lat)
        hits = tree.query(point, predicate="intersects")
        if len(hits) == 0:  # degrees, with longitude unscaled: never more than NEAR_M metres
            hits = tree.query_nearest(point, max_distance=NEAR_M / 111_320.0)
        return min((codes[int(i)] for i in hits), default=None)  # on a border: the lower code

    def named(self, address: str) -> tuple[float, float] | Fault:
        """The point of the most precise area ``address`` names: a village (村, 社区) within
        the town and county it also names, else a town; a 400 when it names none, only a
        county, or a name several areas share."""
        text = "".join(address.split())
        geo = self.geo
        counties = [c for c in geo.counties.values() if _named_in(c, text)]
        towns = [
            t for t in geo.towns.values()
            if _named_in(t, text) and (not counties or t.parent in {c.code for c in counties})
        ]  # fmt: skip
        within = {t.code for t in towns} or {c.code for c in counties}
        villages = [
            v for v in geo.villages.values()
            if _named_in(v, text) and (not within or any(contains(w, v.code) for w in within))
        ]  # fmt: skip
        for areas in (villages, towns):
            if len(areas) == 1:
                return (areas[0].lon, areas[0].lat)
            if len(areas) > 1:
                where = "、".join(geo.label(a.code) for a in areas[:4])
                where += "…" if len(areas) > 4 else ""
                return Fault(400, f"address_string names {len(areas)} places ({where}): "
                             "name the town or county too, or send lat and long")  # fmt: skip
        if counties:
            return Fault(400, "address_string names only a county: name the town or village")
        return Fault(400, "address_string names no town or village of the city: send lat and long")

    def _tree(self) -> tuple[shapely.STRtree, list[str]]:
        with self._lock:
            if self._index is None:
                codes = sorted(self.geo.grids)
                shapes = [self.geo.geometry(c) for c in codes]
                self._index = (shapely.STRtree(shapes), codes)
            return self._index


def report(
    form: MultiDict[str, str],
    producer_id: str,
    token: str,
    locator: Locator,
    now: datetime | None = None,
) -> EventMessage | Fault:
    """The ``reported`` step a POST asks for (not yet validated), or a 400 saying why not."""
    service_code = form.get("service_code", "").strip()
    if not service_code:
        return Fault(400, "service_code is required")
    if service_code not in CATEGORIES:
        return Fault(400, f"service_code {service_code[:20]!r} not found; see services.json")
    point = _point(form, locator)
    if isinstance(point, Fault):
        return point
    fields = _fields(form)
    if isinstance(fields, Fault):
        return fields
    grid = locator.grid_at(*point)
    if grid is None:
        return Fault(400, "lat/long lie outside the city: no grid contains the point")
    geo = locator.geo
    county, town, village = geo.county_of(grid), geo.town_of(grid), geo.village_of(grid)
    assert county is not None and town is not None
    ts = (now or datetime.now(UTC)).astimezone(CHINA_TZ).replace(microsecond=0)
    description = fields.pop("description")
    return EventMessage(
        id=request_id(producer_id, token, form, ts),
        seq=1,
        type="reported",
        ts=ts,
        category=service_code,
        level=1,
        area=AreaRef(county, town, village, grid),
        lon=point[0],
        lat=point[1],
        source=SOURCE,
        title=_title(description, service_code),
        deadline=deadline_for(service_code, ts),
        detail=compose(description, fields),
    )


def request_id(producer_id: str, token: str, form: MultiDict[str, str], ts: datetime) -> str:
    """The incident id: the same for a retry of the same request by the same key."""
    if token:
        basis = ["token", producer_id, token]
    else:
        names = (
            "service_code",
            "lat",
            "long",
            "address_string",
            "description",
            "media_url",
            "email",
            "first_name",
            "last_name",
            "phone",
        )
        day = ts.astimezone(CHINA_TZ).date().isoformat()
        basis = ["content", producer_id, day, *(form.get(n, "").strip() for n in names)]
    digest = hashlib.sha256("\x00".join(basis).encode("utf-8", "surrogatepass")).hexdigest()
    return ID_PREFIX + digest[:24]


def _named_in(area: Area, text: str) -> bool:
    """Whether ``text`` names ``area``: its name, or a village committee's as people say it
    (岭下村委会: 岭下村)."""
    name = area.name
    return name in text or (name.endswith("村委会") and name[:-2] in text)


def _point(form: MultiDict[str, str], locator: Locator) -> tuple[float, float] | Fault:
    lat, lon = form.get("lat", "").strip(), form.get("long", "").strip()
    if not lat and not lon:
        address = form.get("address_string", "").strip()
        if address:
            return locator.named(address[:MAX_FIELD])
        return Fault(400, "a location is required: lat and long, or an address_string")
    try:
        point = (float(lon), float(lat))
    except ValueError:
        return Fault(400, "lat and long must both be decimal degrees (WGS84)")
    lon_ok, lat_ok = -180 <= point[0] <= 180, -90 <= point[1] <= 90
    if not (all(map(math.isfinite, point)) and lon_ok and lat_ok):
        return Fault(400, "lat and long must both be decimal degrees (WGS84)")
    return point


def _fields(form: MultiDict[str, str]) -> dict[str, str] | Fault:
    description = form.get("description", "").strip().replace(FOOTER.strip(), "[Open311]")
    if len(description) > MAX_DESCRIPTION:
        return Fault(400, f"description over {MAX_DESCRIPTION} characters")
    name = " ".join(n for n in (form.get("first_name", ""), form.get("last_name", "")) if n.strip())
    fields = {
        "description": description,
        "address": form.get("address_string", ""),
        "media_url": form.get("media_url", ""),
        "name": name,
        "phone": form.get("phone", ""),
        "email": form.get("email", ""),
    }
    for key in ("address", "media_url", "name", "phone", "email"):
        fields[key] = " ".join(_ONE_LINE_BAD.sub(" ", fields[key]).split())
        longest = MAX_MEDIA_URL if key == "media_url" else MAX_FIELD
        if len(fields[key]) > longest:
            return Fault(400, f"{key} over {longest} characters")
    if fields["media_url"] and not _URL.match(fields["media_url"]):
        return Fault(400, "media_url must be an http(s) URL")
    return fields


def _title(description: str, service_code: str) -> str:
    first = next((line for line in description.splitlines() if line.strip()), "")
    first = " ".join(_ONE_LINE_BAD.sub(" ", first).split())
    if not first:
        return f"{CATEGORIES[service_code].name}（Open311）"
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1] + "…"


def compose(description: str, fields: dict[str, str]) -> str:
    """The step's detail: the description, then the other fields under ``FOOTER``."""
    lines = [
        contact_line(LABELS[k], v) if k in ("name", "phone", "email") else f"{LABELS[k]}：{v}"
        for k, v in fields.items()
        if v
    ]
    return description + (FOOTER + "\n".join(lines) if lines else "")


def contact_line(label: str, value: str) -> str:
    """``label：value``, as the wall's masking (``mask_text``) will hide it; where it would not
    (a Latin name, an e-mail address, a short number), the value is kept only obscured, so it
    is never shown whole on any screen, nor to the duty officer."""
    line = f"{label}：{value}"
    shown = mask_text(line)
    if shown == line or any(word in shown for word in _LETTERS.findall(value)):
        return f"{label}：{obscure(value)}"
    return line


def obscure(value: str) -> str:
    """Each word's first character kept, every other letter and digit a ``*``."""
    return re.sub(r"(?<=\w)\w", "*", value)


def split_detail(detail: str) -> tuple[str, dict[str, str]]:
    """The description and the footer's fields (by label) of a step's detail."""
    description, marker, footer = detail.rpartition(FOOTER)
    if not marker:
        return detail, {}
    labels = {v: k for k, v in LABELS.items()}
    found: dict[str, str] = {}
    for line in footer.splitlines():
        label, _, value = line.partition("：")
        if label in labels:
            found[labels[label]] = value
    return description, found
