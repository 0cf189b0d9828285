"""An incident's detail, over HTTP (``GET /api/incident/<id>``) and Socket.IO (``incident``).

The one way to an incident's full text: refused outside the asker's scope or role (the same
404 whether the incident exists elsewhere or not at all, so ids cannot be probed), free text
masked unless the asker is a duty officer, and every request, granted or not, written to the
audit stream.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask, jsonify, request
from flask_socketio import SocketIO

from dashboard.access.auth import DETAIL_ROLES, Access, Principal, SocketGuard
from dashboard.live.push import Pusher
from dashboard.views.dossier import dossier_finish, dossier_locked
from feeds.geo import contains


class Details:
    def __init__(self, access: Access, pusher: Pusher) -> None:
        self.access = access
        self.pusher = pusher

    def get(self, who: Principal | None, incident_id: str, via: str) -> dict[str, Any] | None:
        found = incident = parts = None
        if who is not None and who.role in DETAIL_ROLES:
            state = self.pusher.state
            now = datetime.now(UTC)
            with self.pusher.lock:  # the bridge mutates incidents under this lock
                incident = state.incidents.get(incident_id)
                if incident is not None and contains(who.scope, incident.area.town):
                    book = self.pusher.actions
                    parts = dossier_locked(state, incident, book, who.sees_pii, now)
            if incident is not None and parts is not None:
                found = dossier_finish(parts[0], state, incident, *parts[1:], who.sees_pii, now)
        self.access.audit(
            "detail",
            who.name if who else "",
            role=who.role if who else "",
            scope=who.scope if who else "",
            incident=incident_id[:64],
            via=via,
            outcome="granted" if found else "refused",
            revealed="1" if found and not found["masked"] else "0",
        )
        return found

    def install(self, server: Flask, socketio: SocketIO, guard: SocketGuard) -> None:
        @server.get("/api/incident/<incident_id>")
        def incident(incident_id: str):  # type: ignore[no-untyped-def]
            found = self.get(self.access.current(), incident_id, "http")
            return jsonify(found) if found else (jsonify(error="not found"), 404)

        def on_incident(data: object = None, *_: object) -> dict[str, Any]:
            who = guard.principal(request.sid)  # type: ignore[attr-defined]
            asked = data.get("id") if isinstance(data, dict) else None
            # anything but a string asks for no incident: refused and audited like the rest
            found = self.get(who, asked if isinstance(asked, str) else "", "socket")
            return {"ok": True, "incident": found} if found else {"ok": False, "error": "not found"}

        socketio.on_event("incident", on_incident)
