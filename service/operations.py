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


@dataclass
class Call:
    """One admin call: who acts, path parameters, body and query."""

    service: Any
    actor: str
    path: dict[str, str]
    body: dict[str, Any]
    query: dict[str, list[str]]

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
