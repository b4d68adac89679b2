"""A minimal signing client for the digest scheme: what an app does to call an API.

Used by ``scripts/call_api.py`` (and the README's quickstart) to send a signed request
through ``/authz`` or a gateway. It builds the StringToSign with ``authledger.gateway.signing``, the
same code the verifier uses; the tests check the verifier against independent clients
(``aliyun-api-gateway-python``, ``alibabacloud-apigateway-util``).
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

from authledger.gateway import signing

SIGNED = ("x-ca-key", "x-ca-nonce", "x-ca-signature-method", "x-ca-stage", "x-ca-timestamp")


def sign_headers(
    method: str,
    url: str,
    app_key: str,
    app_secret: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    stage: str = "RELEASE",
    signature_method: str = "HmacSHA256",
    now: float | None = None,
) -> dict[str, str]:
    """The request's headers with X-Ca-* and X-Ca-Signature added (Content-MD5 for non-form bodies)."""
    parts = urlsplit(url)
    out = dict(headers or {})
    out.setdefault("Accept", "application/json")
    if body and not signing.is_form(out.get("Content-Type")):
        out["Content-MD5"] = signing.content_md5(body)
    out.update(
        {
            "x-ca-key": app_key,
            "x-ca-nonce": str(uuid.uuid4()),
            "x-ca-signature-method": signature_method,
            "x-ca-stage": stage,
            "x-ca-timestamp": str(int((time.time() if now is None else now) * 1000)),
            "x-ca-signature-headers": ",".join(SIGNED),
        }
    )
    sts = signing.string_to_sign(method.upper(), parts.path or "/", parts.query, list(out.items()), body)
    out["x-ca-signature"] = signing.sign(app_secret, sts, signature_method)
    return out
