"""Paging the admin API's lists: ``limit``, an opaque ``cursor``, and the answer's ``next``.

Every list answers ``{"data": [...], "next": cursor-or-null}`` (Kong's ``next``; the
vendor's NextToken): ``next`` is given while more follow; passed back as ``?cursor=`` it
gives the page after. ``limit`` is 1 to 1000 (default 100).

A cursor is where the last page ended (an order key: a log position, or an offset for the
short lists) bound to the listing it came from — the operation, the caller's account and
role, the filters — and sealed with a MAC keyed from the ledger's secret key, so every
instance of the server accepts the others' cursors. A cursor that was garbled, forged, or
comes from another listing (another filter, another tenant's) is refused with 400 and the
same message whatever is wrong with it: a cursor is no oracle, and since each page is
computed under the caller's own visibility, even a valid foreign order key would show
nothing that is not the caller's. The cursor is not secret (an order key), only checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from collections.abc import Sequence
from typing import Any

from ledger.errors import InvalidInput

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_CURSOR = 64  # characters; a real one has 40
_VERSION = 1
_LAYOUT = struct.Struct(">BQ8s")  # version, order key, listing binding
_TAG = 12
_BAD_CURSOR = "cursor is not one this listing gave (garbled, altered, or from another listing): start again without it"


def limit(values: Sequence[str] | None) -> int:
    """The ``limit`` query parameter: an integer from 1 to MAX_LIMIT (default DEFAULT_LIMIT)."""
    if not values:
        return DEFAULT_LIMIT
    if len(values) > 1:
        raise InvalidInput("give limit once", field="limit")
    text = values[0]
    if not (text.isascii() and text.isdigit()) or len(text) > 7 or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}, got {text[:20]!r}", field="limit")
    return int(text)


def _binding(listing: Sequence[Any]) -> bytes:
    text = "\x1f".join("" if v is None else str(v) for v in listing)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8]


def _tag(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, b"authledger/list-cursor/" + body, hashlib.sha256).digest()[:_TAG]


def encode(key: bytes, listing: Sequence[Any], after: int) -> str:
    body = _LAYOUT.pack(_VERSION, after, _binding(listing))
    return base64.urlsafe_b64encode(body + _tag(key, body)).decode().rstrip("=")


def decode(key: bytes, listing: Sequence[Any], values: Sequence[str] | None) -> int:
    """The order key a ``cursor`` query parameter carries (0 without one); 400 for any cursor
    this listing did not give."""
    if not values:
        return 0
    if len(values) > 1:
        raise InvalidInput("give cursor once", field="cursor")
    text = values[0]
    if not text or len(text) > MAX_CURSOR or not text.isascii():
        raise InvalidInput(_BAD_CURSOR, field="cursor")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise InvalidInput(_BAD_CURSOR, field="cursor") from None
    if len(raw) != _LAYOUT.size + _TAG:
        raise InvalidInput(_BAD_CURSOR, field="cursor")
    body, tag = raw[:_LAYOUT.size], raw[_LAYOUT.size:]
    version, after, binding = _LAYOUT.unpack(body)
    if (not hmac.compare_digest(tag, _tag(key, body)) or version != _VERSION
            or not hmac.compare_digest(binding, _binding(listing))):
        raise InvalidInput(_BAD_CURSOR, field="cursor")
    return int(after)


class Pager:
    """One list request's paging: its limit, where it starts, and how to say where it ended."""

    def __init__(self, key: bytes, listing: Sequence[Any], query: dict[str, list[str]]) -> None:
        self.key = key
        self.listing = tuple(listing)
        self.limit = limit(query.get("limit"))
        self.after = decode(key, self.listing, query.get("cursor"))

    def next(self, last: int | None) -> str | None:
        return None if last is None else encode(self.key, self.listing, last)

    def slice(self, items: Sequence[Any]) -> tuple[list[Any], str | None]:
        """A page of a short list held whole (keys, codes, tokens, groups): by offset."""
        start = self.after
        chunk = list(items[start:start + self.limit])
        more = start + self.limit < len(items)
        return chunk, self.next(start + self.limit if more else None)


def answer(data: list[Any], next_cursor: str | None, **extra: Any) -> dict[str, Any]:
    return {**extra, "data": data, "next": next_cursor}
