"""The wire format gateways receive: versioned msgpack messages of index changes.

Documented in docs/wire-format.md. Two shapes, both msgpack maps with string keys:

- a **message** (one Redis Stream entry) brings an index from ledger position ``prev`` to
  ``pos``: ``{"v": 1, "pos": P, "prev": Q, "ts": T, "changes": [change, ...]}``;
- a **snapshot chunk**: ``{"v": 1, "pos": P, "chunk": i, "of": n, "changes": [...]}``;
  the n chunks together are the whole index at ``pos`` as changes to an empty index.

- a **heartbeat** (the one value of the key ``<prefix>:heartbeat``, overwritten every
  interval, never in the stream): ``{"v": 1, "pos": P, "ts": T}`` — the publisher was
  alive at ``T`` and its stream holds every change up to ``P``.

A change is an array ``[kind, ...]`` as in ``projections.changes``; AppSecrets stay sealed
(bytes that ``SecretBox.open`` opens with the ledger's key). A decoder that meets a
version it does not know, bytes that are not msgpack, or a shape it does not expect
raises ``WireFormatError``: never guess at authorization data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgpack

from ledger.errors import LedgerError
from projections.changes import ARITY, Change

VERSION = 1
SNAPSHOT_CHUNK = 20_000  # changes per snapshot chunk (a few MB at most)


class WireFormatError(LedgerError):
    """Bytes from the wire that are not a message this version understands."""

    exit_code = 1
    http_status = 500
    code = "wire_format"


@dataclass(frozen=True, slots=True)
class Message:
    """Changes that bring an index from position ``prev`` to ``pos`` (``ts``: publish time)."""

    pos: int
    prev: int
    ts: float
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The publisher was alive at ``ts`` (its clock) with everything up to ``pos`` published."""

    pos: int
    ts: float


@dataclass(frozen=True, slots=True)
class SnapshotChunk:
    """Chunk ``chunk`` of ``of`` of the whole index at ``pos``."""

    pos: int
    chunk: int
    of: int
    changes: tuple[Change, ...]


def _pack(obj: dict[str, Any]) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


def encode_message(prev: int, pos: int, changes: Iterable[Change], ts: float | None = None) -> bytes:
    """One stream message (``ts`` defaults to now)."""
    return _pack({"v": VERSION, "pos": pos, "prev": prev, "ts": time.time() if ts is None else ts,
                  "changes": list(changes)})


def encode_heartbeat(pos: int, ts: float | None = None) -> bytes:
    """The heartbeat value (``ts`` defaults to now)."""
    return _pack({"v": VERSION, "pos": pos, "ts": time.time() if ts is None else ts})


def encode_snapshot(pos: int, changes: Iterable[Change], chunk_size: int = SNAPSHOT_CHUNK) -> list[bytes]:
    """The whole index at ``pos`` as snapshot chunks (at least one, possibly with no changes)."""
    groups: list[list[Change]] = [[]]
    for change in changes:
        if len(groups[-1]) >= chunk_size:
            groups.append([])
        groups[-1].append(change)
    n = len(groups)
    return [_pack({"v": VERSION, "pos": pos, "chunk": i, "of": n, "changes": g}) for i, g in enumerate(groups)]


def _unpack(data: Any) -> dict[str, Any]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WireFormatError(f"expected bytes, got {type(data).__name__}")
    try:
        obj = msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=True)
    except Exception as e:  # noqa: BLE001 - msgpack raises many types; all mean "not ours"
        raise WireFormatError(f"not a msgpack message ({type(e).__name__})") from None
    if not isinstance(obj, dict):
        raise WireFormatError("message is not a map")
    version = obj.get("v")
    if version != VERSION or type(version) is not int:
        raise WireFormatError(f"unsupported wire format version {version!r} (this reader knows {VERSION})")
    return obj


def _int(obj: dict[str, Any], name: str) -> int:
    value = obj.get(name)
    if type(value) is not int or value < 0:
        raise WireFormatError(f"field {name!r} must be a non-negative integer")
    return value


def _changes(obj: dict[str, Any], check_each: bool = True) -> tuple[Change, ...]:
    changes = obj.get("changes")
    if not isinstance(changes, tuple):
        raise WireFormatError("field 'changes' must be an array")
    if not check_each:
        return changes
    for change in changes:
        if not isinstance(change, tuple) or not change or ARITY.get(change[0]) != len(change):
            kind = change[0] if isinstance(change, tuple) and change else None
            raise WireFormatError(f"malformed change {kind!r}")
    return changes


def decode_message(data: Any) -> Message:
    """A stream message, checked (raises WireFormatError)."""
    obj = _unpack(data)
    pos, prev = _int(obj, "pos"), _int(obj, "prev")
    if prev >= pos:
        raise WireFormatError(f"message goes from position {prev} to {pos}: not forwards")
    ts = obj.get("ts")
    if not isinstance(ts, (float, int)) or isinstance(ts, bool):
        raise WireFormatError("field 'ts' must be a number")
    return Message(pos, prev, float(ts), _changes(obj))


def decode_snapshot_chunk(data: Any, *, check_each: bool = True) -> SnapshotChunk:
    """One snapshot chunk, checked (raises WireFormatError).

    ``check_each=False`` leaves each change's shape to the applier (a bootstrap of 500,000
    changes saves a pass; ``AuthIndex`` handlers refuse a wrong kind or arity anyway).
    """
    obj = _unpack(data)
    pos, chunk, of = _int(obj, "pos"), _int(obj, "chunk"), _int(obj, "of")
    if chunk >= of:
        raise WireFormatError(f"snapshot chunk {chunk} of {of}")
    return SnapshotChunk(pos, chunk, of, _changes(obj, check_each))


def decode_heartbeat(data: Any) -> Heartbeat:
    """A heartbeat, checked (raises WireFormatError): ``ts`` a finite number, ``pos`` >= 0."""
    obj = _unpack(data)
    pos = _int(obj, "pos")
    ts = obj.get("ts")
    if not isinstance(ts, (float, int)) or isinstance(ts, bool) or not math.isfinite(ts):
        raise WireFormatError("field 'ts' must be a finite number")
    return Heartbeat(pos, float(ts))
