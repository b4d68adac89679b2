"""The one place events meet msgpack: exact round-trips of every event field type.

Events are rebuilt by the library without ``__init__``, so types must come back exact:
UUID (ext 1), timezone-aware datetime (msgpack's own Timestamp extension, -1, decoded in
C as a UTC datetime: about 3x faster to read than a Python extension hook, which matters
to every projection rebuild), tuple (ext 3, a nested msgpack array); lists, dicts, str,
bytes, int, float, bool and None are native. Ext 2 (microseconds since the epoch) is the
earlier datetime encoding and is still read. Naive datetimes and anything else are
refused when encoding, never silently converted.

Decoding has one path with two views of the same bytes, both public: ``unpack`` (the exact
types, what the library's mapper and the auth index read) and ``unpack_raw`` (instants as
integer nanoseconds since the epoch, UUIDs as canonical strings: what the audit index
stores, without building a datetime per instant). Nothing else in the project calls
msgpack on an event's state.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import msgpack
from eventsourcing.persistence import Transcoder

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_UUID, _DATETIME, _TUPLE = 1, 2, 3


def _default(obj: Any) -> msgpack.ExtType:
    if isinstance(obj, UUID):
        return msgpack.ExtType(_UUID, obj.bytes)
    if isinstance(obj, datetime):
        # Aware datetimes of exactly this type are packed natively (datetime=True).
        raise TypeError("naive datetime cannot be stored; use a timezone-aware instant")
    if isinstance(obj, tuple):
        return msgpack.ExtType(
            _TUPLE,
            msgpack.packb(list(obj), default=_default, strict_types=True, use_bin_type=True, datetime=True),
        )
    raise TypeError(f"cannot encode {type(obj).__name__} in an event")


def ext_hook(code: int, data: bytes) -> Any:
    if code == _UUID:
        return UUID(bytes=data)
    if code == _DATETIME:
        return _EPOCH + timedelta(microseconds=int.from_bytes(data, "big", signed=True))
    if code == _TUPLE:
        return tuple(unpack(data))
    raise ValueError(f"unknown msgpack extension type {code}")


_local = threading.local()


def pack(obj: Any) -> bytes:
    packer = getattr(_local, "packer", None)
    if packer is None:
        packer = _local.packer = msgpack.Packer(
            default=_default, strict_types=True, use_bin_type=True, datetime=True
        )
    return packer.pack(obj)


def unpack(data: bytes) -> Any:
    """An event's stored state with its exact types (UUID, aware UTC datetime, tuple)."""
    # strict_map_key=False: the packer accepts int/None/UUID/tuple... map keys, so the
    # unpacker must read them back, or an event could be written that no replay can read.
    return msgpack.unpackb(data, ext_hook=ext_hook, raw=False, strict_map_key=False, timestamp=3)


def raw_ext_hook(code: int, data: bytes) -> Any:
    """``ext_hook`` for ``unpack_raw``: the same extensions, instants as ns integers."""
    if code == _DATETIME:  # the legacy µs instant, in the native Timestamp's unit (ns)
        return int.from_bytes(data, "big", signed=True) * 1000
    if code == _UUID:
        return str(UUID(bytes=data))
    if code == _TUPLE:
        return tuple(unpack_raw(data))
    raise ValueError(f"unknown msgpack extension type {code}")


def unpack_raw(data: bytes) -> Any:
    """An event's stored state with instants as integer nanoseconds since the epoch (exact:
    msgpack's Timestamp holds ns) and UUIDs as canonical strings; all else as ``unpack``."""
    return msgpack.unpackb(data, ext_hook=raw_ext_hook, raw=False, strict_map_key=False, timestamp=2)


class MsgpackTranscoder(Transcoder):
    """Transcoder for the eventsourcing mapper."""

    def encode(self, obj: Any) -> bytes:
        return pack(obj)

    def decode(self, data: bytes) -> Any:
        return unpack(data)
