"""An incident's detail, over HTTP (``GET /api/incident/<id>``) and Socket.IO (``incident``).

The one way to an incident's full text: refused outside the asker's scope or role (the same
404 whether the incident exists elsewhere or not at all, so ids cannot be probed), free text
masked unless the asker is a duty officer, and every request, granted or not, written to the
audit stream.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

from dashboard.access.auth import DETAIL_ROLES, Access, Principal
from dashboard.cold.store import ColdStore
from dashboard.incident import Incident
from dashboard.live.inbound import ANY_ROLE, Caller, IncidentAsk, Reply, SocketApi
from dashboard.live.livestate import LiveState
from dashboard.views.contact import Contacts
from dashboard.views.dossier import dossier_finish, dossier_locked
from dashboard.views.lifecycle import loop_options
from dashboard.views.places import Places
from feeds.geo import contains


class Details:
    def __init__(
        self,
        access: Access,
        live: LiveState,
        cold: ColdStore | None = None,
        contacts: Contacts | None = None,
        places: Places | None = None,
    ) -> None:
        self.access = access
        self.live = live
        self.cold = cold  # incidents that have left memory, read from the archive
        self.contacts = contacts  # workers' names beside their ids
        self.places = places  # the city's own layers: the places near it (docs/maps.md)

    def get(self, who: Principal | None, incident_id: str, via: str) -> dict[str, Any] | None:
        found = None
        if who is not None and who.role in DETAIL_ROLES:
            found = self._dossier(who, incident_id, archived=False)
            if found is None and self.cold is not None:  # the archive, outside the lock
                found = self._dossier(who, incident_id, archived=True)
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

    def _dossier(self, who: Principal, incident_id: str, archived: bool) -> dict[str, Any] | None:
        now = datetime.now(UTC)
        incident: Incident | None = None
        if archived:
            assert self.cold is not None
            incident = self.cold.recall({incident_id}).get(incident_id)
            if incident is None:
                return None
        with self.live.read() as state:  # the bridge mutates incidents under its lock
            if not archived:
                incident = state.incidents.get(incident_id)
            if incident is None or not contains(who.scope, incident.area.town):
                return None
            parts = dossier_locked(state, incident, self.live.actions, who.sees_pii, now)
            parts[0]["loop"] = loop_options(who, incident)
        found = dossier_finish(parts[0], state, incident, *parts[1:], who.sees_pii, now)
        if archived:
            found["archived"] = True  # read from the archive: it has left memory
        if self.contacts is not None:
            self.contacts.name_workers(found, incident.reporter, who.sees_pii)
        if self.places is not None and self.places.layers:
            found["places"] = self.places.near(incident.lon, incident.lat)
        return found

    def install(self, server: Flask, api: SocketApi) -> None:
        @server.get("/api/incident/<incident_id>")
        def incident(incident_id: str) -> ResponseReturnValue:
            found = self.get(self.access.current(), incident_id, "http")
            return jsonify(found) if found else (jsonify(error="not found"), 404)

        # Any role: a refusal is decided, and audited, in ``get``; the gate audits its own.
        api.on("incident", IncidentAsk, roles=ANY_ROLE, audit_as="detail")(self.on_incident)

    def on_incident(self, caller: Caller, asked: IncidentAsk) -> Reply:
        found = self.get(caller.who, asked.id, "socket")
        return {"ok": True, "incident": found} if found else {"ok": False, "error": "not found"}
