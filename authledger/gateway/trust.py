"""When ``/authz`` may believe ``X-Ca-Api-Id``: only when the gateway proves it sent it.

A client's ``X-Ca-Api-Id`` must never choose the API its request is checked against (it
would pick an API it holds a grant for, while the gateway forwards the request by its path).
The header is believed only when one of these holds (docs/gateway.md, "X-Ca-Api-Id"):

- ``AUTHLEDGER_GATEWAY_SECRET`` (or ``AUTHLEDGER_GATEWAY_SECRET_FILE``, a file holding it)
  is set and the request carries ``X-Authz-Gateway-Secret`` with that value, compared in
  constant time. The shipped nginx config sets the header on its own subrequest only.
- ``AUTHLEDGER_TRUST_API_ID_HEADER=1``: every ``X-Ca-Api-Id`` is believed. Use it ONLY behind
  a proxy that strips or replaces the client's copy of the header on every route to /authz.

Otherwise (the default) ``X-Ca-Api-Id`` is ignored and the API is resolved by method + path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from hmac import compare_digest
from pathlib import Path

from ledger.errors import InvalidInput

__all__ = ["PROOF_HEADER", "ApiIdTrust"]

PROOF_HEADER = b"x-authz-gateway-secret"
_MIN_SECRET = 16


class ApiIdTrust:
    """Decides whether a request's X-Ca-Api-Id came from the gateway."""

    def __init__(self, secret: str | None = None, *, trust_header: bool = False) -> None:
        if secret is not None and len(secret) < _MIN_SECRET:
            raise InvalidInput(f"the gateway secret must be at least {_MIN_SECRET} characters", field="gateway_secret")
        self._secret = secret.encode("utf-8") if secret else None
        self.trust_header = trust_header

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ApiIdTrust:
        env = os.environ if environ is None else environ
        secret = env.get("AUTHLEDGER_GATEWAY_SECRET") or None
        path = env.get("AUTHLEDGER_GATEWAY_SECRET_FILE")
        if secret is None and path:
            try:
                secret = Path(path).read_text(encoding="utf-8").strip() or None
            except OSError as exc:
                raise InvalidInput(f"cannot read AUTHLEDGER_GATEWAY_SECRET_FILE: {exc.strerror}",
                                   field="gateway_secret") from None
        flag = env.get("AUTHLEDGER_TRUST_API_ID_HEADER", "").strip().lower() in ("1", "true", "yes")
        return cls(secret, trust_header=flag)

    def trusted(self, proof: bytes | None) -> bool:
        """Tell whether X-Ca-Api-Id may be believed, given the request's proof header value."""
        if self.trust_header:
            return True
        if self._secret is None or proof is None:
            return False
        return compare_digest(proof.strip(), self._secret)
