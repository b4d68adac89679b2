"""Idempotency keys: a client's retry of a command it sent under a key does not run it twice.

As in Stripe's API and draft-ietf-httpapi-idempotency-key-header: the first request with a
key runs the command and records (in the same transaction as the command's events, see
``ledger.domain.IdempotencyRecord``) a fingerprint of the request and the result, ids only;
a repeat with the same key and the same request returns that result and writes nothing; the
same key with another request is refused (``IdempotencyKeyReused``) and writes nothing.

Keys are scoped to the acting account, 1-255 printable ASCII characters (no leading or
trailing space), and never expire. A command that succeeded records its key (even if it
changed nothing: the record is then its only event); a refused command leaves the key
unused, so the client may correct the request and send it again under the same key.

Callers (the CLI, the admin API) describe the request as they received it: an operation
name and its parameters, ``request(key, operation, params)``, and pass it to the one command
they run as its ``idempotency`` argument (``ledger.create_app(..., idempotency=...)``); the
ledger computes the fingerprint (a keyed hash, because a request may carry a custom
AppSecret or AppCode) and does the rest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ledger.errors import InvalidInput

MAX_KEY = 255
_KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?")


def check_key(value: object) -> str:
    """An idempotency key: 1-255 printable ASCII characters, not starting or ending with a space."""
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise InvalidInput(f"idempotency key must be 1-{MAX_KEY} printable ASCII characters "
                           "(no leading or trailing space)", field="idempotency_key")
    return value


@dataclass(frozen=True)
class Request:
    """What a caller asked for under a key: the operation and its parameters as received."""

    key: str
    operation: str
    params: dict[str, Any]

    def canonical(self) -> str:
        """The request as one deterministic text (sorted keys, lists for tuples)."""
        return json.dumps({"operation": self.operation, "params": self.params}, sort_keys=True,
                          separators=(",", ":"), default=str, ensure_ascii=True)


def request(key: str | None, operation: str, params: dict[str, Any]) -> Request | None:
    """The request a command runs under ``key`` (validated); None without a key."""
    if key is None:
        return None
    return Request(check_key(key), operation, params)
