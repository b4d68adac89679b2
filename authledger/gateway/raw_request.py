"""A raw HTTP/1.1 request, verified as ``/authz`` would: ``verify-request`` on the CLI and
``POST /v1/verify-request`` share this, so both read a request the way the gateway does."""

from __future__ import annotations

from typing import Any

from authledger.gateway.paths import InvalidPath, canonical_path
from authledger.gateway.signing import header_text
from ledger.errors import InvalidInput

__all__ = ["parse_http_request", "verify_raw_request"]


def parse_http_request(raw: bytes) -> tuple[str, str, str, list[tuple[str, str]], bytes]:
    """Split a raw HTTP/1.1 request into (method, path, query, headers, body); CRLF or LF."""
    crlf, lf = raw.find(b"\r\n\r\n"), raw.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        head, body = raw[:crlf], raw[crlf + 4 :]
    elif lf >= 0:
        head, body = raw[:lf], raw[lf + 2 :]
    else:
        head, body = raw.rstrip(b"\r\n"), b""
    # Each line decoded as /authz decodes header bytes (ASCII as is, else UTF-8), so a
    # request signed over a UTF-8 header verifies here exactly as it does at the gateway.
    lines = [header_text(line) for line in head.replace(b"\r\n", b"\n").split(b"\n")]
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[2].startswith("HTTP/") or not parts[1]:
        raise InvalidInput("malformed request line (want: METHOD /path?query HTTP/1.1)", field="request")
    method, target, _version = parts
    if not target.startswith("/"):
        raise InvalidInput("request target must start with /", field="request")
    path, _, query = target.partition("?")
    headers: list[tuple[str, str]] = []
    for number, line in enumerate(lines[1:], start=2):
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise InvalidInput(f"malformed header on line {number} (want: Name: value)", field="request")
        headers.append((name, value.strip(" \t")))
    length = next((v for n, v in headers if n.lower() == "content-length"), None)
    if length is not None:
        if not (length.isascii() and length.isdigit()) or int(length) > len(body):
            raise InvalidInput("Content-Length does not match the body", field="request")
        body = body[: int(length)]
    return method, path, query, headers, body


def verify_raw_request(verifier: Any, raw: bytes, api_id: str) -> dict[str, Any]:
    """Verify a raw HTTP/1.1 request as /authz does: header bytes decoded alike, the path
    made canonical (or refused with 400 ``Invalid Url``), then the verifier; the answer with
    the system parameters (CaAppExtInfo …) the backend would be sent."""
    method, path, query, headers, body = parse_http_request(raw)
    try:
        path = canonical_path(path)
    except InvalidPath:
        return {"accepted": False, "status": 400, "error_message": "Invalid Url", "reason": "invalid_path",
                "app_id": None, "app_key": None, "stage": None, "string_to_sign": None,
                "system_parameters": {}}
    v = verifier.verify(method, path, query, headers, body, api_id)
    return {
        "accepted": v.accepted, "status": v.status, "error_message": v.error_message,
        "reason": v.reason.value if v.reason is not None else None, "app_id": v.app_id,
        "app_key": v.app_key, "stage": v.stage, "string_to_sign": v.string_to_sign,
        "system_parameters": v.system_parameters(),
    }
