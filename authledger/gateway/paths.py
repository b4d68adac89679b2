"""The one canonical request path: what the router, the verifier and the backend all see.

``canonical_path(raw)`` takes the path of the request target as the client sent it (no
query) and returns the path the backend will decode it to, or raises ``InvalidPath``
(``/authz`` answers 400 ``Invalid Url``, nothing else is checked). The rules, per case
(docs/gateway.md, "One canonical path"):

- must start with ``/``; ASCII control characters (NUL, CR, LF, TAB, DEL, ...) raw or
  percent-encoded: refused (a space, `%20`, is an ordinary character);
- ``%XX`` with two hex digits is decoded (either case); a ``%`` not followed by two hex
  digits (invalid escape) is refused; the decoded bytes must be valid UTF-8, else refused;
  raw non-ASCII text must be valid UTF-8 (no lone surrogates), else refused;
- an encoded ``/`` (``%2F``) or ``\\`` (``%5C``), a raw ``\\``: refused (backends disagree on
  whether they separate segments);
- an encoded ``%`` (``%25``: double encoding, ``%252e``), ``?`` or ``#``: refused (a second
  decoder, or the StringToSign's ``?``, would read them as something else);
- ``;`` raw or encoded (path parameters, ``/admin;x/``): refused;
- a dot segment, raw or encoded (``.``, ``..``, ``%2e%2E``): refused, never resolved;
- an empty segment (``//``, ``/a//b``): refused; a trailing ``/`` is kept, it is part of
  the path;
- everything else: the decoded text, which is what a backend decoding the raw target once
  sees; the router matches ``{param}`` on it and the StringToSign uses it (the vendor's
  clients sign the path unencoded).

Refusing rather than resolving is the safer default: a form that two components could read
differently is never let through, so no encoding can make the check see one API while the
backend serves another.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from ledger.errors import InvalidInput

__all__ = ["InvalidPath", "canonical_path"]


class InvalidPath(InvalidInput):
    """A request path that is refused rather than canonicalised (``400 Invalid Url``)."""


# Anything that needs a closer look; a path without any of these is its own canonical form.
_SUSPECT = re.compile(r"[%;#\\\x00-\x20\x7f]|//|/\.\.?(?:/|$)")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENCODED_SLASH = re.compile(rb"%2[Ff]")
# Characters refused anywhere in the decoded path (raw or from %XX).
_FORBIDDEN = re.compile(r"[\\;%?#\x00-\x1f\x7f]")


def canonical_path(raw: str) -> str:
    """Return the decoded, checked path of a request target's path, else raise InvalidPath."""
    if not raw.startswith("/"):
        raise InvalidPath("the path must start with /", field="path")
    if raw.isascii() and _SUSPECT.search(raw) is None:
        return raw  # the usual case: nothing encoded, nothing ambiguous
    return _checked(raw)


def _checked(raw: str) -> str:
    if _BAD_ESCAPE.search(raw) is not None:
        raise InvalidPath("invalid percent escape in the path", field="path")
    try:
        data = raw.encode("utf-8")  # lone surrogates: raw bytes that were not UTF-8
    except UnicodeEncodeError:
        raise InvalidPath("the path is not valid UTF-8", field="path") from None
    if _ENCODED_SLASH.search(data) is not None:
        raise InvalidPath("an encoded / in the path", field="path")
    try:
        text = unquote_to_bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPath("the decoded path is not valid UTF-8", field="path") from None
    if _FORBIDDEN.search(text) is not None:
        raise InvalidPath("a character the path may not hold (\\ ; % ? # or a control)", field="path")
    segments = text.split("/")[1:]
    if "" in segments[:-1]:
        raise InvalidPath("an empty path segment (//)", field="path")
    if "." in segments or ".." in segments:
        raise InvalidPath("a dot segment in the path", field="path")
    return text
