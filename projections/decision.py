"""What the auth index answers: a decision with a reason code from a fixed set."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

STAGES = ("RELEASE", "PRE", "TEST")


class Reason(str, Enum):
    """Why a credential may or may not call an API in a stage."""

    OK = "ok"
    UNKNOWN_KEY = "unknown_key"
    UNKNOWN_API = "unknown_api"
    APP_DISABLED = "app_disabled"
    APP_DELETED = "app_deleted"
    NOT_AUTHORIZED = "not_authorized"
    STAGE_NOT_AUTHORIZED = "stage_not_authorized"
    AUTHORIZATION_EXPIRED = "authorization_expired"
    APPCODE_NOT_ALLOWED = "appcode_not_allowed"


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to "may this credential call this API in this stage at this instant?"."""

    allowed: bool
    reason: Reason
    app_id: str | None = None
    extension: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "allowed": self.allowed,
            "reason": self.reason.value,
            "app_id": self.app_id,
            "extension": self.extension,
        }


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """The security settings of one API, as the verifier needs them."""

    api_id: str
    owner: str
    auth_type: str = "APP"  # APP | ANONYMOUS
    appcode_mode: str = "DISABLE"  # DISABLE | HEADER | HEADER_QUERY
    signature_methods: tuple[str, ...] = ("HmacSHA256",)
    nonce_required: bool = True
    http_method: str | None = None  # e.g. "GET"; None = any
    path_pattern: str | None = None  # e.g. "/v1/items/{id}"
    group_id: str | None = None  # its API group (None: the owner's default group)
