"""StringToSign and signatures of the digest scheme (docs/digest-auth.md §2).

Pure functions, no I/O, total on hostile input:

- Headers are (name, value) pairs or a mapping; names match case-insensitively and, when
  a header is repeated, the **first** value wins (a later copy cannot override what the
  signature covered). Items that are not (str, str) pairs are ignored; the HTTP layer
  decodes header bytes with ``header_text`` (ASCII as is, else UTF-8) before calling.
- Percent-decoding and body decoding use UTF-8 with ``errors="surrogateescape"``: valid
  UTF-8 gives exactly what clients sign, and invalid bytes map to lone surrogates, so the
  decoding is lossless — two different byte strings never share a StringToSign (which
  ``errors="replace"`` would allow). HMAC input is encoded with ``"surrogatepass"``, which
  cannot fail for any ``str``. Clients cannot sign invalid UTF-8, so such requests fail
  closed with ``Invalid Signature``.
- Malformed ``%`` escapes are kept literally (``urllib.parse.unquote`` semantics).
- Parameters: query and form pieces are split on ``&`` only; empty pieces are skipped; a
  piece without ``=`` has the empty value; the first value of a repeated key wins; a form
  key shadows the same query key, as every vendor-written client signs it (the Python and
  Java demos, the Node SDK: docs/digest-auth.md §2). Keys are sorted by code point.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
from binascii import b2a_base64
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Literal, Protocol
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


_ONLY_TUPLES = {tuple}


def header_map(headers: Headers) -> dict[str, str]:
    """Map lower-cased header names to their first value (non-str names/values are ignored)."""
    if (type(headers) is list or type(headers) is tuple) and {*map(type, headers)} == _ONLY_TUPLES:
        # Every item is a tuple (a 2-list or a 2-character str is not a pair, yet would unpack).
        try:
            # Reversed, so the first of repeated names is assigned last and wins.
            return {
                name.lower(): value
                for name, value in reversed(headers)
                if type(name) is str and type(value) is str
            }
        except ValueError:  # some tuple is not a pair: take the item-by-item path
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


def header_text(raw: bytes) -> str:
    """Decode header (or request-line) bytes as every entry point does: ASCII as is, anything
    else as UTF-8 — what clients sign — losslessly (``surrogateescape``), so a byte that is
    not UTF-8 can never match a signature."""
    return raw.decode("latin-1") if raw.isascii() else raw.decode("utf-8", "surrogateescape")


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


def form_text(content_type: str | None, body: object) -> str | None:
    """Return the body decoded (UTF-8, lossless) if it is a non-empty form, else None."""
    if body and is_form(content_type):
        return body_bytes(body).decode("utf-8", "surrogateescape")
    return None


def parameters(query: str, form: str | None) -> dict[str, str]:
    """Return the decoded parameters of the query and of the form body text, if any."""
    params = _parse(query) if query else {}
    if form is not None:
        params.update(_parse(form))  # the form value wins for a key in both (vendor clients)
    return params


def parse_params(query: str, content_type: str | None, body: bytes | None) -> dict[str, str]:
    """Return the decoded parameters (query, then form body when the body is a form)."""
    return parameters(query, form_text(content_type, body))


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


def strings_to_sign(
    method: str, hmap: Mapping[str, str], path: str, params: Mapping[str, str]
) -> tuple[str, str | None]:
    """Return StringToSign with an empty value spelled ``key``, and spelled ``key=`` (else None).

    The second spelling exists only when some parameter has the empty value.
    """
    head = signed_head(method, hmap)
    bare = head + path_and_parameters(path, params, "bare")
    if not has_empty_value(params):
        return bare, None
    return bare, head + path_and_parameters(path, params, "equals")


def request_strings(
    method: str, hmap: Mapping[str, str], path: str, query: str, form: str | None
) -> tuple[str, str | None]:
    """Return strings_to_sign() of the request's parameters; ``form`` is the decoded form body.

    ``form`` is ``form_text(content_type, body)``: None unless the body is a non-empty form.
    """
    return strings_to_sign(method, hmap, path, parameters(query, form))


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


class HashState(Protocol):
    """A hashlib object: what an HMAC is computed from."""

    def copy(self) -> HashState: ...

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


KeyedStates = tuple[HashState, HashState]

# XOR tables for HMAC's inner and outer pads (RFC 2104; as the stdlib's hmac module has them).
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def keyed_states(secret: str, method: str) -> KeyedStates:
    """Return HMAC's inner and outer hash states keyed with the secret (RFC 2104).

    The key (hashed first when longer than a block) is zero-padded to the block size and
    XORed with ipad / opad: ``signature()`` then only copies two states per message, which
    costs less than copying a keyed ``hmac`` object (whose ``digest()`` copies again).
    """
    name = DIGESTS[method]
    key = secret.encode("utf-8", "surrogatepass")
    block_size = hashlib.new(name).block_size
    if len(key) > block_size:
        key = hashlib.new(name, key).digest()
    key = key.ljust(block_size, b"\0")
    return hashlib.new(name, key.translate(_IPAD)), hashlib.new(name, key.translate(_OPAD))


def signature(states: KeyedStates, string_to_sign: str) -> bytes:
    """Return Base64(HMAC(StringToSign)) as ASCII bytes from keyed_states()."""
    inner = states[0].copy()
    inner.update(string_to_sign.encode("utf-8", "surrogatepass"))
    outer = states[1].copy()
    outer.update(inner.digest())
    return b2a_base64(outer.digest(), newline=False)


def signature_matches(states: KeyedStates, string_to_sign: str, provided: str) -> bool:
    """Tell, in constant time, whether ``provided`` is the signature() of StringToSign."""
    wanted = provided.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(signature(states, string_to_sign), wanted)


def sign(secret: str, string_to_sign: str, method: str = "HmacSHA256") -> str:
    """Return Base64(HMAC-SHA256 or HMAC-SHA1(secret, StringToSign)); ValueError on other methods."""
    if method not in DIGESTS:
        raise ValueError(f"unsupported signature method {method!r}")
    return signature_bytes(secret, string_to_sign, method).decode("ascii")


def content_md5(body: bytes) -> str:
    """Return Base64(MD5(body)), the expected Content-MD5 header value."""
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii")


# Client time: X-Ca-Timestamp (epoch ms), else the Date header.
MAX_TIMESTAMP_DIGITS = 15  # epoch ms until year 33658; also keeps int() far from its digit limit
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = frozenset(d.lower() for d in calendar.day_abbr)


def _digits(text: str) -> int | None:
    """Return a non-negative ASCII integer, else None."""
    return int(text) if text.isascii() and text.isdigit() else None


def _zone_offset(zone: str) -> int | None:
    """Return seconds east of UTC for GMT/UTC/Z[±hh[:]mm] or ±hh[:]mm, else None."""
    upper = zone.upper()
    for name in ("GMT", "UTC", "Z"):
        if upper.startswith(name):
            upper = upper[len(name) :]
            if not upper:
                return 0
            break
    if len(upper) < 2 or upper[0] not in "+-":
        return None
    hhmm = upper[1:].replace(":", "", 1)
    value = _digits(hhmm) if len(hhmm) in (2, 4) else None
    if value is None:
        return None
    hours, minutes = (value, 0) if len(hhmm) == 2 else divmod(value, 100)
    if hours > 23 or minutes > 59:
        return None
    seconds = hours * 3600 + minutes * 60
    return seconds if upper[0] == "+" else -seconds


def parse_http_date(value: str) -> float | None:
    """Return epoch seconds of an RFC 1123 date (also ``GMT+00:00``), else None."""
    parts = value.replace(",", " ").split()
    if parts and parts[0].lower() in _DAYS:
        parts = parts[1:]
    if len(parts) != 5:
        return None
    day, month, year, clock, zone = parts
    d, y, m = _digits(day), _digits(year), _MONTHS.get(month.lower())
    hms = clock.split(":")
    if d is None or y is None or m is None or len(year) != 4 or len(day) > 2 or len(hms) != 3:
        return None
    hh, mi, ss = (_digits(p) if len(p) == 2 else None for p in hms)
    offset = _zone_offset(zone)
    if hh is None or mi is None or ss is None or offset is None:
        return None
    if not 1 <= d <= calendar.monthrange(y, m)[1] or hh > 23 or mi > 59 or ss > 60 or y < 1970:
        return None
    return float(calendar.timegm((y, m, d, hh, mi, ss, 0, 0, 0)) - offset)


DigestFields = tuple[str | None, str | None, str, float | None, str | None, str, str | None]


def digest_fields(hmap: Mapping[str, str]) -> DigestFields:
    """Return what a digest check reads from the headers, in one call.

    (X-Ca-Key, X-Ca-Signature, signature method, X-Ca-Timestamp in epoch seconds, Content-MD5,
    stage, X-Ca-Nonce), None where absent. The method is X-Ca-Signature-Method, else
    X-Ca-SignatureMethod, else ``HmacSHA256``; the stage is X-Ca-Stage, else ``RELEASE``
    (empty counts as absent). The time is None unless X-Ca-Timestamp is 1 to 15 ASCII digits:
    ``request_time()`` then decides (Date, or invalid).
    """
    get = hmap.get
    millis = get("x-ca-timestamp")
    seconds = None
    if millis and len(millis) <= MAX_TIMESTAMP_DIGITS and millis.isascii() and millis.isdigit():
        seconds = int(millis) / 1000.0
    method = get("x-ca-signature-method") or get("x-ca-signaturemethod") or "HmacSHA256"
    stage = get("x-ca-stage") or "RELEASE"
    return (
        get("x-ca-key"),
        get("x-ca-signature"),
        method,
        seconds,
        get("content-md5"),
        stage,
        get("x-ca-nonce"),
    )


def request_time(hmap: Mapping[str, str]) -> float | None:
    """Return the client's time in epoch seconds (X-Ca-Timestamp, else Date), else None."""
    stamp = hmap.get("x-ca-timestamp")
    if stamp:
        if len(stamp) > MAX_TIMESTAMP_DIGITS or not (stamp.isascii() and stamp.isdigit()):
            return None
        return int(stamp) / 1000.0
    date = hmap.get("date")
    return parse_http_date(date) if date else None
