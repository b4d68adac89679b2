"""A small in-test auth index and helpers that sign requests with a real client library."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aliyun_api_gateway import ApiGatewayClient, ApiGatewayRequest

from authledger.gateway.verifier import Verifier
from projections.decision import ApiSettings, Decision, Reason

NOW_MS = 1_764_300_000_000  # the instant every test request is signed at
NOW = NOW_MS / 1000
APP_KEY, APP_SECRET, APP_ID = "203753385", "ExampleAppSecret-0123456789abcdef", "app-shop"
APP_CODE = "c0ffee0c0ffee0c0ffee0c0ffee0c0ff"
API_ID = "api-items"
# Header names the verifier reads, in the spellings clients send (for generated requests).
HEADER_NAMES = [
    "X-Ca-Key",
    "x-ca-key",
    "X-Ca-Signature",
    "X-Ca-Signature-Method",
    "X-Ca-SignatureMethod",
    "X-Ca-Signature-Headers",
    "X-Ca-Timestamp",
    "X-Ca-Nonce",
    "X-Ca-Stage",
    "Content-MD5",
    "Content-Type",
    "Accept",
    "Date",
    "Authorization",
    "X-Custom",
]


@dataclass
class FakeIndex:
    """Dicts and sets standing in for the auth index (the tests are about verifier logic)."""

    keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)
    apis: dict[str, ApiSettings] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    extensions: dict[str, str] = field(default_factory=dict)
    grants: dict[tuple[str, str, str], float | None] = field(default_factory=dict)

    def secret_for(self, app_key: str) -> tuple[str, str] | None:
        return self.keys.get(app_key)

    def app_for_code(self, app_code: str) -> str | None:
        return self.codes.get(app_code)

    def api_settings(self, api_id: str) -> ApiSettings | None:
        return self.apis.get(api_id)

    def check(self, app_id: str, api_id: str, stage: str, at: float, *, kind: str) -> Decision:
        assert kind == "app_id"  # the verifier asks about the app it has authenticated
        if app_id in self.deleted:
            return Decision(False, Reason.APP_DELETED, app_id)
        if app_id in self.disabled:
            return Decision(False, Reason.APP_DISABLED, app_id)
        if (app_id, api_id, stage) not in self.grants:
            other_stage = any(a == app_id and i == api_id for a, i, _ in self.grants)
            reason = Reason.STAGE_NOT_AUTHORIZED if other_stage else Reason.NOT_AUTHORIZED
            return Decision(False, reason, app_id)
        until = self.grants[(app_id, api_id, stage)]
        if until is not None and at >= until:
            return Decision(False, Reason.AUTHORIZATION_EXPIRED, app_id)
        return Decision(True, Reason.OK, app_id, self.extensions.get(app_id))


def shop_index(**settings: Any) -> FakeIndex:
    """Return an index with one app granted API_ID in RELEASE and TEST, with an AppCode."""
    index = FakeIndex()
    index.keys[APP_KEY] = (APP_ID, APP_SECRET)
    index.codes[APP_CODE] = APP_ID
    index.extensions[APP_ID] = '{"tenant":"shop"}'
    index.apis[API_ID] = ApiSettings(api_id=API_ID, owner="owner-1", **settings)
    index.grants[(APP_ID, API_ID, "RELEASE")] = None
    index.grants[(APP_ID, API_ID, "TEST")] = None
    return index


def verifier_for(index: FakeIndex, **kwargs: Any) -> Verifier:
    """Return a Verifier whose clock is frozen at NOW."""
    return Verifier(index, clock=lambda: NOW, **kwargs)


@dataclass
class Request:
    """A request as the gateway receives it."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes | None

    def args(self) -> tuple[str, str, str, list[tuple[str, str]], bytes | None, str]:
        return (self.method, self.path, self.query, self.headers, self.body, API_ID)

    def with_header(self, name: str, value: str) -> Request:
        """Return a copy with header ``name`` (any case) replaced or added."""
        kept = [(n, v) for n, v in self.headers if n.lower() != name.lower()]
        return Request(self.method, self.path, self.query, [*kept, (name, value)], self.body)

    def without_header(self, name: str) -> Request:
        kept = [(n, v) for n, v in self.headers if n.lower() != name.lower()]
        return Request(self.method, self.path, self.query, kept, self.body)


def client_request(
    method: str = "GET",
    path: str = "/v1/items",
    *,
    secret: str = APP_SECRET,
    app_key: str = APP_KEY,
    signature_method: str = "HmacSHA256",
    timestamp_ms: int = NOW_MS,
    nonce: str = "6f1e3c3a-5b2d-4c8e-9a0b-1d2e3f4a5b6c",
    **request_fields: Any,
) -> Request:
    """Sign a request with aliyun-api-gateway-python and return it as the gateway sees it."""
    client = ApiGatewayClient(
        "http://gw.example.com", app_key, secret, signature_method=signature_method
    )
    signed = client.sign(
        ApiGatewayRequest(method=method, path=path, **request_fields),
        timestamp=timestamp_ms,
        nonce=nonce,
    )
    url = urlsplit(signed.url)
    return Request(signed.method, url.path, url.query, list(signed.headers.items()), signed.body)


def self_signed(
    method: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes | None = None,
    secret: str = APP_SECRET,
) -> Request:
    """Sign with authledger.gateway.signing (itself pinned by the known answers) where clients cannot."""
    from authledger.gateway.signing import sign, string_to_sign

    sts = string_to_sign(method, path, query, headers, body)
    signed = [*headers, ("X-Ca-Signature", sign(secret, sts, "HmacSHA256"))]
    return Request(method, path, query, signed, body)
