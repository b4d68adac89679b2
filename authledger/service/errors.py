"""Every error body of the HTTP service, built by one function: ``error_response``.

Whatever went wrong — an unknown route (404), a known path's wrong method (405), a body
too large (413) or not JSON (415, 400), a ledger error (400/403/404/409/422), a missing or
bad token (401), the store unavailable or busy (503), an internal error (500) — the body
is ``{"error": code, "message": text, "field": name-or-null}`` (``ledger.errors.error_body``,
the CLI's ``--json`` error too), with the status of the error's class and the headers it
calls for (``WWW-Authenticate`` on 401, ``Retry-After`` on 503, ``Allow`` on 405).

(``/authz`` is the gateway's protocol, not this API: its refusals are an empty body with
``X-Ca-Error-Message``, as authledger.service.authz documents.)
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

from ledger.errors import LedgerError, NotFound


class Unauthenticated(LedgerError):
    """No bearer token, or one the ledger does not know (or has revoked)."""

    exit_code = 4
    http_status = 401
    code = "unauthenticated"


class UnknownRoute(NotFound):
    """No endpoint at this path."""


class MethodNotAllowed(LedgerError):
    """A known path asked with a method it does not take."""

    exit_code = 2
    http_status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, allowed: list[str]) -> None:
        super().__init__(message, field="method")
        self.allowed = allowed


class UnsupportedMediaType(LedgerError):
    """A request body sent as something other than JSON."""

    exit_code = 2
    http_status = 415
    code = "unsupported_media_type"


class PayloadTooLarge(LedgerError):
    """A request body over the limit (raised while it streams in)."""

    http_status = 413
    code = "payload_too_large"


class InternalError(LedgerError):
    """A bug: nothing about it reaches the client but this."""


def error_response(e: LedgerError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The one builder of an error answer: body ``e.to_dict()``, status and headers by class."""
    status = e.http_status if 400 <= e.http_status < 500 or e.http_status == 503 else 500
    out = dict(headers or {})
    if status == 401:
        out["WWW-Authenticate"] = 'Bearer realm="authledger"'
    elif status == 503:
        out["Retry-After"] = "1"
    elif isinstance(e, MethodNotAllowed):
        out["Allow"] = ", ".join(e.allowed)
    return JSONResponse(e.to_dict(), status_code=status, headers=out or None)
