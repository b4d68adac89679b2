"""The wire codec: round trips, refusals, and snapshots that rebuild the index exactly."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.application import Ledger
from ledger.crypto import SecretBox
from projections.auth_index import AuthIndex
from projections.wire import (
    WireFormatError,
    decode_message,
    decode_snapshot_chunk,
    encode_message,
    encode_snapshot,
)
from tests.distribution.harness import churn, populate

ids = st.uuids().map(str)
text = st.text(max_size=20)
stage = st.sampled_from(["RELEASE", "PRE", "TEST"])
end = st.none() | st.floats(min_value=0, max_value=4e9, allow_nan=False)
app_fields = st.dictionaries(st.sampled_from(["owner", "extension"]), text) | st.fixed_dictionaries(
    {}, optional={"enabled": st.booleans(), "deleted": st.booleans()})
changes = st.one_of(
    st.tuples(st.just("api_set"), ids, text, st.sampled_from(["APP", "ANONYMOUS"]),
              st.sampled_from(["DISABLE", "HEADER", "HEADER_QUERY"]),
              st.lists(st.sampled_from(["HmacSHA256", "HmacSHA1"]), max_size=2).map(tuple),
              st.booleans(), st.none() | st.just("GET"), st.none() | text),
    st.tuples(st.just("app_set"), ids, app_fields),
    st.tuples(st.just("key_set"), text, ids, st.binary(max_size=80)),
    st.tuples(st.just("key_removed"), text, ids),
    st.tuples(st.just("code_set"), text, ids),
    st.tuples(st.just("code_removed"), text, ids),
    st.tuples(st.just("grant_set"), ids, ids, stage, end),
    st.tuples(st.just("grant_removed"), ids, ids, stage),
    st.tuples(st.just("api_group"), ids, ids),
    st.tuples(st.just("group_set"), ids, text, text),
    st.tuples(st.just("host_set"), text, ids),
    st.tuples(st.just("host_removed"), text, ids),
)
positions = st.integers(min_value=0, max_value=2**62)


@given(prev=positions, step=st.integers(1, 1000), items=st.lists(changes, max_size=30),
       ts=st.floats(0, 4e9, allow_nan=False))
def test_a_message_round_trips(prev: int, step: int, items: list, ts: float) -> None:
    message = decode_message(encode_message(prev, prev + step, items, ts=ts))
    # Check every field comes back exactly (tuples stay tuples, bytes stay bytes)
    assert (message.prev, message.pos, message.ts) == (prev, prev + step, ts)
    assert list(message.changes) == items


@given(pos=positions, items=st.lists(changes, max_size=60), size=st.integers(1, 25))
def test_a_snapshot_round_trips_in_chunks(pos: int, items: list, size: int) -> None:
    chunks = [decode_snapshot_chunk(c) for c in encode_snapshot(pos, items, chunk_size=size)]
    assert [c.chunk for c in chunks] == list(range(len(chunks)))
    assert all(c.pos == pos and c.of == len(chunks) for c in chunks)
    assert [ch for c in chunks for ch in c.changes] == items


def test_a_message_of_an_unknown_version_is_refused_loudly() -> None:
    data = msgpack.packb({"v": 2, "pos": 5, "prev": 4, "ts": 0.0, "changes": []})
    with pytest.raises(WireFormatError, match="unsupported wire format version 2"):
        decode_message(data)
    with pytest.raises(WireFormatError, match="version"):
        decode_snapshot_chunk(msgpack.packb({"pos": 5, "chunk": 0, "of": 1, "changes": []}))


@pytest.mark.parametrize("data", [
    b"", b"\xc1", b"garbage bytes \xff\x00", msgpack.packb([1, 2, 3]), msgpack.packb({"v": True}),
    msgpack.packb({"v": 1, "pos": 5, "prev": 5, "ts": 0.0, "changes": []}),  # not forwards
    msgpack.packb({"v": 1, "pos": 4, "prev": 9, "ts": 0.0, "changes": []}),  # backwards
    msgpack.packb({"v": 1, "pos": -1, "prev": 0, "ts": 0.0, "changes": []}),
    msgpack.packb({"v": 1, "pos": 5, "prev": 4, "ts": 0.0, "changes": [["grant_set", "a"]]}),
    msgpack.packb({"v": 1, "pos": 5, "prev": 4, "ts": 0.0, "changes": [["drop_table", "a", "b"]]}),
    msgpack.packb({"v": 1, "pos": 5, "prev": 4, "ts": 0.0, "changes": "no"}),
    None, "text",
])
def test_anything_else_is_refused_never_guessed(data: object) -> None:
    with pytest.raises(WireFormatError):
        decode_message(data)


@pytest.mark.parametrize("seed", range(3))
def test_a_snapshot_of_the_index_rebuilds_it_exactly(ledger: Ledger, box: SecretBox, seed: int) -> None:
    world = populate(ledger, 8)
    churn(ledger, world, 120, seed=seed)
    ledger.delete_app(world["apps"][0][0], "bob")
    ledger.reset_key_pair(world["apps"][1][1], "bob")
    built = AuthIndex.build(ledger)
    copy = AuthIndex(box)
    for chunk in encode_snapshot(built.position, built.changes(), chunk_size=7):
        for change in decode_snapshot_chunk(chunk).changes:
            copy.apply_change(change)
    # Check the copy is the same index: same digest (secrets included), same answers
    assert copy.digest() == built.digest()
    for _kind, credential, _app in built.credentials():
        for api in world["apis"]:
            assert copy.check(credential, api, "RELEASE", 1e9) == built.check(credential, api, "RELEASE", 1e9)


@given(pos=positions, ts=st.floats(0, 4e9, allow_nan=False))
def test_a_heartbeat_round_trips(pos: int, ts: float) -> None:
    from projections.wire import Heartbeat, decode_heartbeat, encode_heartbeat

    assert decode_heartbeat(encode_heartbeat(pos, ts)) == Heartbeat(pos, ts)


@pytest.mark.parametrize("data", [
    b"", b"\xc1", b"\xff" * 40, msgpack.packb([1, 2]), msgpack.packb({"v": 2, "pos": 1, "ts": 1.0}),
    msgpack.packb({"v": 1, "pos": -1, "ts": 1.0}), msgpack.packb({"v": 1, "pos": "9", "ts": 1.0}),
    msgpack.packb({"v": 1, "pos": 1, "ts": float("nan")}), msgpack.packb({"v": 1, "pos": 1, "ts": float("inf")}),
    msgpack.packb({"v": 1, "pos": 1, "ts": True}), msgpack.packb({"v": 1, "pos": 1}), None, "text", 7,
])
def test_a_garbled_or_hostile_heartbeat_is_refused_never_guessed(data: object) -> None:
    from projections.wire import decode_heartbeat

    with pytest.raises(WireFormatError):
        decode_heartbeat(data)


@given(st.binary(max_size=64))
def test_no_bytes_make_the_heartbeat_decoder_raise_anything_but_wire_format_error(data: bytes) -> None:
    from projections.wire import decode_heartbeat

    try:
        decode_heartbeat(data)
    except WireFormatError:
        pass
