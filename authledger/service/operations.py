"""The admin API's operation table types: one ``Operation`` per route, its parameters, the
``Call`` a handler gets (acting account, path parameters, body, query)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SOURCE = "http"  # the source recorded on every event an admin call writes


@dataclass(frozen=True)
class Param:
    """A body field or query parameter: its JSON type and whether it is required."""

    type: str  # string | boolean | object | strings | string_or_strings | integer
    required: bool = False
    description: str = ""
    schema: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Access:
    """Who may call an operation (issue 14.2), enforced in one place (authledger.service.permissions)
    before its handler runs; the OpenAPI document and docs/roles.md show the same.

    ``kind``: ``read`` or ``write`` (a read-only token, and an auditor, call reads only).
    ``roles``: the token roles that may call it at all (others: 403 before anything else).
    ``others``: what an owner gets asking about another account's app, API or token:
    ``own`` (the call acts on the caller's own account), ``public`` (answered: the public
    view), ``forbidden`` (403), ``hidden`` (404, the same answer as for an unknown id; the
    thing is named by a credential or token id that must not be probed). The command or
    query layer decides ownership; the table says what it must answer, and the role matrix
    (tests/service/test_roles.py) checks one against the other.
    ``target``: where the request names the app or API a scoped token must match
    (``path.app_id``, ``body.api_id``, ``query.app_id``, ``key:path.app_key``, ``code:body.code``,
    ``credential`` = body app_key/app_code, ``request`` = the raw request's credential);
    none: the operation is account-wide, refused to app- or API-scoped tokens.
    ``break_glass``: an admin may do it on any account's app or grant (attributed to the admin).
    """

    kind: str
    roles: tuple[str, ...]
    others: str
    target: tuple[str, ...] = ()
    break_glass: bool = False


@dataclass(frozen=True)
class Operation:
    op_id: str
    method: str
    path: str
    summary: str
    handler: Callable[..., Any]
    status: int = 200
    body: dict[str, Param] | None = None
    query: dict[str, Param] = field(default_factory=dict)
    tag: str = ""
    reveals: tuple[str, ...] = ()
    idempotent: bool = False  # takes an Idempotency-Key header
    # A create's new resource: the URL template for the 201's Location, filled from the answer.
    location: str | None = None
    access: Access | None = None  # who may call it (None: nobody; every operation declares it)


@dataclass
class Call:
    """One admin call: who acts, path parameters, body and query."""

    service: Any
    actor: str
    path: dict[str, str]
    body: dict[str, Any]
    query: dict[str, list[str]]
    principal: Any = None  # ledger.tokens.Principal: the token's account, role and scopes
    source: str = SOURCE  # recorded on the events the call writes: "http", or "console"
    idempotency: Any = None  # ledger.idempotency.Request: the Idempotency-Key the command runs under

    @property
    def sees_all(self) -> bool:
        """The caller reads every account (auditor, admin)."""
        return self.principal is not None and self.principal.sees_all

    @property
    def ledger(self) -> Any:
        return self.service.ledger


def _now() -> datetime:
    return datetime.now(UTC)


def _receipt(r: Any) -> dict[str, Any]:
    return r.to_dict()


def _one(c: Call, name: str) -> str | None:
    values = c.query.get(name)
    return values[0] if values else None
