"""One error root, narrow leaves.

    LedgerError                      exit 1 (internal) unless a leaf says otherwise
    ├── InvalidInput                 exit 2  HTTP 400   a value or request is malformed
    │   └── IdempotencyKeyReused     exit 2  HTTP 422   the key was used for another request
    ├── NotFound                     exit 3  HTTP 404   an app, API, key pair, AppCode or grant
    │   ├── AppNotFound, ApiNotFound, KeyPairNotFound, AppCodeNotFound, GrantNotFound
    │   ├── ApiGroupNotFound, HostNotBound
    ├── NotPermitted                 exit 4  HTTP 403   the acting account may not do this
    └── Conflict                     exit 5  HTTP 409   the current state refuses the change
        ├── DuplicateAppKey, DuplicateAppCode, ConcurrentChange
        ├── AppIsDeleted, KeyPairLimitReached, DefaultKeyPairUndeletable
        ├── HostAlreadyBound, RouteOverlap
    (elsewhere: SecretKeyError exit 2; LogMismatch exit 6 / HTTP 409; NotVerified exit 3 —
     verify-log had no recorded chain nor digest to compare with; ledger.store.StoreUnavailable
     exit 7 / HTTP 503 — the store is away or locked past the retry bound; retry the command)

Messages name what was wrong in one line and never carry a secret or an AppCode.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error authledger raises on purpose."""

    exit_code = 1
    http_status = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, object]:
        return error_body(self.code, self.message, self.field)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    """Every error as data (HTTP bodies, the CLI's ``--json``): the same three keys always,
    ``field`` null when no one field is to blame."""
    return {"error": code, "message": message, "field": field or None}


class InvalidInput(LedgerError):
    """A value or request is malformed or breaks a validation rule."""

    exit_code = 2
    http_status = 400
    code = "invalid_input"


class IdempotencyKeyReused(InvalidInput):
    """An idempotency key already recorded for a different request (or command) of the account."""

    http_status = 422
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__("idempotency key already used for a different request; use a new key",
                         field="idempotency_key")


class Busy(LedgerError):
    """A bounded resource is in use (one expensive query at a time); retry shortly."""

    exit_code = 7
    http_status = 503
    code = "busy"


class NotFound(LedgerError):
    """Something named by id does not exist."""

    exit_code = 3
    http_status = 404
    code = "not_found"


class AppNotFound(NotFound):
    def __init__(self, app_id: object) -> None:
        super().__init__(f"app not found: {app_id}", field="app_id")


class ApiNotFound(NotFound):
    def __init__(self, api_id: object, *, deleted: bool = False) -> None:
        # A deleted API is gone for every command (404, exit 3); its history stays for audits.
        super().__init__(f"API {api_id} was deleted" if deleted else f"API not found: {api_id}", field="api_id")


class KeyPairNotFound(NotFound):
    def __init__(self, app_key: str) -> None:
        super().__init__(f"key pair not found: AppKey {app_key}", field="app_key")


class AppCodeNotFound(NotFound):
    def __init__(self, where: str = "") -> None:
        # Never echo the code itself.
        super().__init__(f"AppCode not found{where}", field="code")


class GrantNotFound(NotFound):
    def __init__(self, app_id: object, api_id: object, stage: str) -> None:
        super().__init__(
            f"no grant for app {app_id} on API {api_id} in stage {stage}", field="grant"
        )


class ApiGroupNotFound(NotFound):
    """No such group of the acting account (another account's group is not found either)."""

    def __init__(self, group_id: object) -> None:
        super().__init__(f"API group not found: {group_id}", field="group_id")


class HostNotBound(NotFound):
    def __init__(self, host: str, group_id: object) -> None:
        super().__init__(f"host {host} is not bound to group {group_id}", field="host")


class NotPermitted(LedgerError):
    """The acting account is not allowed to do this."""

    exit_code = 4
    http_status = 403
    code = "not_permitted"


class Conflict(LedgerError):
    """The current state of the ledger refuses the change."""

    exit_code = 5
    http_status = 409
    code = "conflict"


class DuplicateAppKey(Conflict):
    def __init__(self, app_key: str) -> None:
        super().__init__(f"AppKey already in use: {app_key}", field="app_key")


class DuplicateAppCode(Conflict):
    def __init__(self) -> None:
        super().__init__("AppCode already in use", field="code")


class ConcurrentChange(Conflict):
    def __init__(self, what: str = "the ledger") -> None:
        super().__init__(f"concurrent change to {what}; retry the command")


class AppIsDeleted(Conflict):
    def __init__(self, app_id: object) -> None:
        super().__init__(f"app {app_id} is deleted; nothing can be changed on it", field="app_id")


class KeyPairLimitReached(Conflict):
    def __init__(self, limit: int) -> None:
        super().__init__(f"an app holds at most {limit} key pairs", field="app_key")


class DefaultKeyPairUndeletable(Conflict):
    def __init__(self, app_key: str) -> None:
        super().__init__(
            f"the default key pair {app_key} cannot be deleted (reset it instead)",
            field="app_key",
        )


class HostAlreadyBound(Conflict):
    """The host is bound to a group already (this one or another: nothing more is said)."""

    def __init__(self, host: str) -> None:
        super().__init__(f"host already bound: {host}", field="host")


class RouteOverlap(Conflict):
    """Some request (method + path) would match both the new API and one already routed beside it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="path")
