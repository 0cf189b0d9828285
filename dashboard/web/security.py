"""Security headers on every response, the Content-Security-Policy first among them.

A WSGI middleware rather than a Flask ``after_request``: it also covers Socket.IO's own HTTP
responses (which never reach Flask) and error pages Flask renders after a failure.

The policy allows scripts only from this origin plus the exact inline scripts Dash itself writes
into its index page (their SHA-256 hashes, from ``dash.Dash.csp_hashes``), so an injected
``<script>`` or ``onerror=`` runs nowhere. Styles keep ``'unsafe-inline'``: Leaflet, Plotly and
Dash's components insert ``<style>`` elements at run time, and a style cannot run code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # typeshed's WSGI protocols exist for the type checker only
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

STATIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/login.css")


def content_security_policy(script_hashes: Iterable[str], image_origins: Iterable[str] = ()) -> str:
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:", *image_origins],  # + intranet map tiles
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],  # CSP3: 'self' covers ws:/wss: to this host
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


class DashScriptHashes:
    """The hashes of Dash's inline scripts, recomputed only when Dash adds one.

    Dash registers some inline callbacks lazily (the pages title callback on the first request),
    so the list cannot be frozen at start-up.
    """

    def __init__(self, dash_app: Any, image_origins: Iterable[str] = ()) -> None:
        self.dash_app = dash_app
        self.images = list(image_origins)  # the base map's (dashboard/views/basemap.py)
        self._seen = -1
        self._policy = ""

    def policy(self) -> str:
        from dash import _callback

        count = len(self.dash_app._inline_scripts) + len(_callback.GLOBAL_INLINE_SCRIPTS)
        if count != self._seen:
            self._policy = content_security_policy(self.dash_app.csp_hashes(), self.images)
            self._seen = count
        return self._policy


class SecurityHeaders:
    """WSGI middleware adding the headers below to every response that lacks them."""

    def __init__(self, app: WSGIApplication, policy: Callable[[], str], hsts: bool) -> None:
        self.app = app
        self.policy = policy
        self.fixed = [
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),  # a wall URL's kiosk token must not leak
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Cross-Origin-Resource-Policy", "same-origin"),
            ("Permissions-Policy", "geolocation=(), camera=(), microphone=(), payment=()"),
        ]
        if hsts:
            self.fixed.append(("Strict-Transport-Security", "max-age=31536000"))

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")

        def start(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            present = {name.lower() for name, _ in headers}
            extra = [*self.fixed, ("Content-Security-Policy", self.policy())]
            if not path.startswith(STATIC_PREFIXES):
                # Pages and data are per user: no shared or back-button cache may keep them.
                extra.append(("Cache-Control", "no-store"))
            headers.extend((k, v) for k, v in extra if k.lower() not in present)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)
