"""Who is asking: the signed-in person or wall every check sees, and what each role may see.

A ``Principal`` is made from an account or a kiosk token in the store and is what Flask-Login
keeps for a request, what the socket guard keeps for a live socket and what pages and
callbacks ask about (role, scope, whether names and numbers may be shown). The role sets here
are the only place that says which roles see personal data and incident details.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dashboard.access.store import Account, Kiosk

PII_ROLES = frozenset({"duty"})  # who sees names and numbers in free text
DETAIL_ROLES = frozenset({"duty", "leader", "admin"})  # who may open an incident's detail


@dataclass(frozen=True, eq=False)
class Principal:
    """A signed-in person or wall, as every check sees it.

    It is Flask-Login's user object: it carries the four members Flask-Login asks of one
    (``is_authenticated``, ``is_active``, ``is_anonymous``, ``get_id``) itself, as
    ``UserMixin`` would, and compares the way ``UserMixin`` does: by id, with identity hashing.
    """

    id: str  # "u:<name>:<generation>" or "k:<kiosk id>": what the session cookie names
    kind: str  # "user" | "kiosk"
    name: str
    role: str
    scope: str
    display: str
    expires: float | None  # epoch seconds; None: as long as the kiosk token lives
    session_id: str = ""  # this sign-in; ended by signing out

    # Only principals that passed the store's checks are ever made, so every one is active
    # and authenticated; Flask-Login stands its own anonymous user in for nobody.
    is_active = True
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return self.id

    def __eq__(self, other: object) -> bool:
        # Two loads of the same sign-in (one per request) are the same principal.
        if isinstance(other, Principal):
            return self.id == other.id
        return NotImplemented

    # eq=False keeps the dataclass from writing __eq__, but defining one above would still
    # drop the inherited hash: keep identity hashing, as UserMixin does.
    __hash__ = object.__hash__

    @property
    def sees_pii(self) -> bool:
        return self.role in PII_ROLES

    @classmethod
    def of_account(cls, a: Account, expires: float | None, session_id: str = "") -> Principal:
        return cls(a.principal_id, "user", a.name, a.role, a.scope, a.display, expires, session_id)

    @classmethod
    def of_kiosk(cls, k: Kiosk, session_id: str = "") -> Principal:
        expires = datetime.fromisoformat(k.expires).timestamp() if k.expires else None
        return cls(k.principal_id, "kiosk", k.id, "wall", k.scope, k.name, expires, session_id)
