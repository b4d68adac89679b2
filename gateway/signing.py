"""StringToSign and signatures of the digest scheme (../shared/reference/digest-auth.md §2).

Pure functions, no I/O, total on hostile input:

- Headers are (name, value) pairs or a mapping; names match case-insensitively and, when
  a header is repeated, the **first** value wins (a later copy cannot override what the
  signature covered). Items that are not (str, str) pairs are ignored; the HTTP layer
  decodes header bytes (latin-1) before calling.
- Percent-decoding and body decoding use UTF-8 with ``errors="surrogateescape"``: valid
  UTF-8 gives exactly what clients sign, and invalid bytes map to lone surrogates, so the
  decoding is lossless — two different byte strings never share a StringToSign (which
  ``errors="replace"`` would allow). HMAC input is encoded with ``"surrogatepass"``, which
  cannot fail for any ``str``. Clients cannot sign invalid UTF-8, so such requests fail
  closed with ``Invalid Signature``.
- Malformed ``%`` escapes are kept literally (``urllib.parse.unquote`` semantics).
- Parameters: query and form pieces are split on ``&`` only; empty pieces are skipped; a
  piece without ``=`` has the empty value; the first value of a repeated key wins; a query
  key shadows the same form key. Keys are sorted by code point.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from binascii import b2a_base64
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Literal
from urllib.parse import unquote, unquote_to_bytes

Headers = Iterable[tuple[str, str]] | Mapping[str, str]
EmptyValueStyle = Literal["bare", "equals"]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
DIGESTS: dict[str, str] = {"HmacSHA256": "sha256", "HmacSHA1": "sha1"}

# Names that X-Ca-Signature-Headers may list but that never form a Headers line.
_NOT_IN_HEADERS_PART = frozenset(
    {"x-ca-signature", "x-ca-signature-headers", "accept", "content-md5", "content-type", "date"}
)
_CACHEABLE_SIGNED_HEADERS = 1024  # longer X-Ca-Signature-Headers values are parsed uncached


def header_map(headers: Headers) -> dict[str, str]:
    """Map lower-cased header names to their first value (non-str names/values are ignored)."""
    if type(headers) is list or type(headers) is tuple:
        try:
            # Reversed, so the first of repeated names is assigned last and wins.
            return {
                name.lower(): value
                for name, value in reversed(headers)
                if type(name) is str and type(value) is str
            }
        except (TypeError, ValueError):  # some item is not a pair: take the item-by-item path
            pass
    result: dict[str, str] = {}
    if isinstance(headers, Mapping):
        items: Iterable[object] = headers.items()
    elif isinstance(headers, Iterable):
        items = headers
    else:
        return result
    for item in items:
        if type(item) is not tuple or len(item) != 2:
            continue
        name, value = item
        if type(name) is str and type(value) is str:
            result.setdefault(name.lower(), value)
    return result


def get_header(headers: Headers, name: str) -> str | None:
    """Return the first value of header ``name`` (case-insensitive), or None."""
    return header_map(headers).get(name.lower())


def _decode(text: str) -> str:
    """Decode ``+`` and ``%XX`` (UTF-8, lossless) in one query/form component."""
    if "+" in text:
        text = text.replace("+", " ")
    if "%" in text:
        if text.isascii():  # the usual case: skip unquote()'s split on non-ASCII runs
            return unquote_to_bytes(text).decode("utf-8", "surrogateescape")
        text = unquote(text, "utf-8", "surrogateescape")
    return text


def _parse(raw: str) -> dict[str, str]:
    """Return the decoded parameters of ``raw`` (a=b&c), keeping a repeated key's first value."""
    # Reversed, so the first occurrence of a key is assigned last and wins.
    pieces = reversed([piece.partition("=") for piece in raw.split("&") if piece])
    if "%" in raw or "+" in raw:
        return {
            (_decode(key) if "%" in key or "+" in key else key): (
                _decode(value) if "%" in value or "+" in value else value
            )
            for key, _, value in pieces
        }
    return {key: value for key, _, value in pieces}


def is_form(content_type: str | None) -> bool:
    """Tell whether a Content-Type makes the body part of PathAndParameters."""
    if content_type is None:
        return False
    return content_type[: len(FORM_CONTENT_TYPE)].lower() == FORM_CONTENT_TYPE


def body_bytes(body: object) -> bytes:
    """Return the body as bytes (None → empty; str → UTF-8; unknown types → empty)."""
    if type(body) is bytes:
        return body
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    return b""


def parse_params(query: str, content_type: str | None, body: bytes | None) -> dict[str, str]:
    """Return the decoded parameters (query, then form body when the body is a form)."""
    params = _parse(query) if query else {}
    if body and is_form(content_type):
        form = _parse(body_bytes(body).decode("utf-8", "surrogateescape"))
        form.update(params)  # the query value wins for a key in both
        return form
    return params


def has_empty_value(params: Mapping[str, str]) -> bool:
    """Tell whether some parameter has the empty value (its two spellings differ)."""
    return "" in params.values()


def path_and_parameters(
    path: str, params: Mapping[str, str], empty_value_style: EmptyValueStyle = "bare"
) -> str:
    """Return the path, then ``?`` and the sorted ``key=value`` pairs if there are any."""
    if not params:
        return path
    if empty_value_style == "equals":
        pairs = [key + "=" + params[key] for key in sorted(params)]
    else:
        pairs = [key + "=" + value if (value := params[key]) else key for key in sorted(params)]
    return path + "?" + "&".join(pairs)


@lru_cache(maxsize=512)
def _signed_header_names(listed: str) -> tuple[tuple[str, str], ...]:
    """Parse X-Ca-Signature-Headers into sorted (spelling, lower-case) names."""
    names = []
    for raw in listed.split(","):
        name = raw.strip()
        lower = name.lower()
        if name and lower not in _NOT_IN_HEADERS_PART:
            names.append((name, lower))
    names.sort()
    return tuple(names)


def signed_header_names(listed: str) -> tuple[tuple[str, str], ...]:
    """Return the names a Headers part covers, as (spelling, lower-case), sorted by spelling."""
    if len(listed) > _CACHEABLE_SIGNED_HEADERS:
        return _signed_header_names.__wrapped__(listed)  # type: ignore[attr-defined,no-any-return]
    return _signed_header_names(listed)


def canonical_headers(hmap: Mapping[str, str]) -> str:
    """Return the Headers part (``name:value\\n`` lines) for a lower-cased header map."""
    listed = hmap.get("x-ca-signature-headers")
    if not listed:
        return ""
    get = hmap.get
    return "".join([f"{name}:{get(lower, '')}\n" for name, lower in signed_header_names(listed)])


def signed_head(method: str, hmap: Mapping[str, str]) -> str:
    """Return StringToSign up to PathAndParameters: the five fixed lines, then Headers."""
    get = hmap.get
    head = (
        f"{method.upper()}\n{get('accept', '')}\n{get('content-md5', '')}\n"
        f"{get('content-type', '')}\n{get('date', '')}\n"
    )
    listed = get("x-ca-signature-headers")
    if not listed:
        return head
    names = signed_header_names(listed)
    return head + "".join([f"{name}:{get(lower, '')}\n" for name, lower in names])


def compose_string_to_sign(
    method: str,
    hmap: Mapping[str, str],
    path: str,
    params: Mapping[str, str],
    empty_value_style: EmptyValueStyle = "bare",
) -> str:
    """Return StringToSign from a lower-cased header map and parsed parameters."""
    return signed_head(method, hmap) + path_and_parameters(path, params, empty_value_style)


def string_to_sign(
    method: str,
    path: str,
    query: str,
    headers: Headers,
    body: bytes | None,
    *,
    empty_value_style: EmptyValueStyle = "bare",
) -> str:
    """Return the StringToSign of a request as received."""
    hmap = header_map(headers)
    params = parse_params(query, hmap.get("content-type"), body)
    return compose_string_to_sign(method, hmap, path, params, empty_value_style)


def signature_bytes(secret: str, string_to_sign: str, method: str) -> bytes:
    """Return Base64(HMAC(secret, StringToSign)) as ASCII bytes."""
    digest = hmac.digest(
        secret.encode("utf-8", "surrogatepass"),
        string_to_sign.encode("utf-8", "surrogatepass"),
        DIGESTS[method],
    )
    return b2a_base64(digest, newline=False)


def keyed_mac(secret: str, method: str) -> hmac.HMAC:
    """Return an HMAC keyed with the secret, to ``copy()`` per message (saves re-keying)."""
    return hmac.new(secret.encode("utf-8", "surrogatepass"), digestmod=DIGESTS[method])


def signature_with(mac: hmac.HMAC, string_to_sign: str) -> bytes:
    """Return Base64(HMAC(StringToSign)) as ASCII bytes using a keyed_mac()."""
    mac = mac.copy()
    mac.update(string_to_sign.encode("utf-8", "surrogatepass"))
    return b2a_base64(mac.digest(), newline=False)


def sign(secret: str, string_to_sign: str, method: str = "HmacSHA256") -> str:
    """Return Base64(HMAC-SHA256 or HMAC-SHA1(secret, StringToSign)); ValueError on other methods."""
    if method not in DIGESTS:
        raise ValueError(f"unsupported signature method {method!r}")
    return signature_bytes(secret, string_to_sign, method).decode("ascii")


def content_md5(body: bytes) -> str:
    """Return Base64(MD5(body)), the expected Content-MD5 header value."""
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii")
