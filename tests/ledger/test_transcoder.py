"""Every event type survives the store exactly; the transcoder refuses what it cannot round-trip."""

from __future__ import annotations

import dataclasses
import enum
import typing
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from eventsourcing.utils import resolve_topic

from ledger import domain
from ledger.application import Ledger
from ledger.domain import Api, ApiGroup, App, AppCodeClaim, AppKeyClaim, HostClaim, IdempotencyRecord, LedgerEvent
from ledger.transcoder import MsgpackTranscoder, pack, unpack

EVENT_CLASSES: list[type] = [
    Api.ApiRegistered,
    Api.Modified,
    Api.Deleted,
    App.AppCreated,
    App.Modified,
    App.Disabled,
    App.Enabled,
    App.Deleted,
    App.KeyPairAdded,
    App.KeyPairDeleted,
    App.KeyPairReset,
    App.AppCodeAdded,
    App.AppCodeDeleted,
    App.AppCodeReset,
    App.GrantGiven,
    App.GrantEndChanged,
    App.GrantRevoked,
    AppKeyClaim.AppKeyClaimed,
    AppCodeClaim.AppCodeClaimed,
    IdempotencyRecord.IdempotencyKeyUsed,
    ApiGroup.ApiGroupCreated,
    ApiGroup.HostBound,
    ApiGroup.HostUnbound,
    HostClaim.HostClaimed,
    HostClaim.Released,
    HostClaim.Reclaimed,
]
AGGREGATES = {Api: "authledger:Api", App: "authledger:App", AppKeyClaim: "authledger:AppKeyClaim",
              AppCodeClaim: "authledger:AppCodeClaim", IdempotencyRecord: "authledger:IdempotencyRecord",
              ApiGroup: "authledger:ApiGroup", HostClaim: "authledger:HostClaim"}

instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone.utc)
)
texts = st.text(max_size=40)


def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    """A strategy for a field's declared type (the types the domain uses)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        return st.one_of(*(strategy_for(a) for a in args))
    if tp is type(None):
        return st.none()
    if tp is Any:  # a receipt's ids: text, None, flags, lists of small maps (bulk grants)
        leaves = st.none() | texts | st.booleans() | st.integers(min_value=-(2**62), max_value=2**62)
        return st.recursive(leaves, lambda c: st.lists(c, max_size=3) | st.dictionaries(texts, c, max_size=3),
                            max_leaves=8)
    if origin is tuple:
        return st.lists(strategy_for(args[0]), max_size=4).map(tuple)
    if origin is dict:
        return st.dictionaries(strategy_for(args[0]), strategy_for(args[1]), max_size=5)
    simple = {
        UUID: st.uuids(),
        datetime: instants,
        str: texts,
        bytes: st.binary(max_size=64),
        bool: st.booleans(),
        int: st.integers(min_value=1, max_value=2**62),
    }
    if tp in simple:
        return simple[tp]
    raise AssertionError(f"no strategy for field type {tp!r}: extend the test")


LIBRARY_FIELDS = {"originator_id": UUID, "originator_version": int, "timestamp": datetime, "originator_topic": str}


def hints(cls: type) -> dict[str, Any]:
    """Declared field types: the library's base fields, then the domain's own annotations."""
    ns = {**vars(domain), "datetime": datetime, "UUID": UUID}
    out: dict[str, Any] = dict(LIBRARY_FIELDS)
    for klass in reversed(cls.__mro__):
        if klass.__module__ == "ledger.domain":
            for name, ann in vars(klass).get("__annotations__", {}).items():
                out[name] = eval(ann, ns) if isinstance(ann, str) else ann
    return out


def event_strategy(cls: type) -> st.SearchStrategy[Any]:
    types = hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    overrides = {"originator_topic": st.sampled_from(list(AGGREGATES.values())), "originator_version": st.integers(1, 2**62)}
    fields = {n: overrides[n] if n in overrides else strategy_for(types[n]) for n in names}

    def build(values: dict[str, Any]) -> Any:
        # Built the way the mapper rebuilds events: without __init__ (actor and source are init=False).
        ev = object.__new__(cls)
        ev.__dict__.update(values)
        return ev

    return st.fixed_dictionaries(fields).map(build)


def assert_exactly_equal(a: Any, b: Any, where: str = "") -> None:
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_exactly_equal(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_exactly_equal(x, y, f"{where}[{i}]")
    elif isinstance(a, datetime):
        assert a == b and a.utcoffset() == b.utcoffset() == timedelta(0), where
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def mapper() -> Any:
    ledger = Ledger({"PERSISTENCE_MODULE": "eventsourcing.popo"}, box=None)  # type: ignore[arg-type]
    return ledger.mapper


def subclasses(c: type) -> set[type]:
    out = set()
    for s in c.__subclasses__():
        out |= {s} | subclasses(s)
    return out


def test_the_event_list_covers_every_event_the_domain_defines() -> None:
    defined = {c for c in subclasses(LedgerEvent) if c.__module__ == "ledger.domain"}
    # The aggregates' base Event classes, and the library's unused default Created classes.
    bases = {c for c in defined if c.__name__ in ("Event", "Created")}
    assert defined - bases == set(EVENT_CLASSES)


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__qualname__)
def test_every_event_type_round_trips_exactly_through_the_mapper(mapper: Any, cls: type) -> None:
    @settings(max_examples=60)
    @given(event_strategy(cls))
    def check(event: Any) -> None:
        stored = mapper.to_stored_event(event)
        assert isinstance(stored.state, bytes)
        again = mapper.to_domain_event(stored)
        assert type(again) is cls
        # The mapper may reorder an event's top-level fields; nested dicts keep their order.
        before, after = vars(event), vars(again)
        assert sorted(before) == sorted(after)
        for name in before:
            assert_exactly_equal(before[name], after[name], f"{cls.__qualname__}.{name}")

    check()


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__qualname__)
def test_every_event_is_stored_under_an_explicit_authledger_topic(mapper: Any, cls: type) -> None:
    topic = cls.__dict__.get("TOPIC")
    assert topic and topic.startswith("authledger:"), f"{cls.__qualname__} has no explicit topic"
    assert resolve_topic(topic) is cls

    @settings(max_examples=3)
    @given(event_strategy(cls))
    def check(event: Any) -> None:
        assert mapper.to_stored_event(event).topic == topic

    check()


def test_topics_are_unique_and_name_no_python_module() -> None:
    topics = [c.__dict__["TOPIC"] for c in EVENT_CLASSES] + [a.__dict__["TOPIC"] for a in AGGREGATES]
    assert len(set(topics)) == len(topics)
    assert all(t.startswith("authledger:") and "ledger.domain" not in t for t in topics)
    assert {a: a.__dict__["TOPIC"] for a in AGGREGATES} == AGGREGATES


def test_events_written_by_the_ledger_carry_only_explicit_topics(memory_ledger: Ledger) -> None:
    api = memory_ledger.register_api("p", "api1").ids["api_id"]
    app = memory_ledger.create_app("c", "AppOne").ids["app_id"]
    memory_ledger.grant("p", app, api, "TEST")
    for n in memory_ledger.recorder.select_notifications(start=1, limit=100):
        assert n.topic.startswith("authledger:")
        state = unpack(n.state)
        if "originator_topic" in state:
            assert state["originator_topic"].startswith("authledger:")


# -- the transcoder itself -------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
    st.uuids(),
    instants,
)
# Any hashable value the packer accepts as a map key must come back (a write-only key would
# make the event unreadable on every replay).
keys = st.one_of(st.text(max_size=10), st.binary(max_size=10), st.integers(-(2**63), 2**63), st.none(), st.uuids(), instants)
nested = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(keys, inner, max_size=4),
    ),
    max_leaves=30,
)


@given(nested)
def test_the_transcoder_round_trips_nested_structures_with_exact_types(value: Any) -> None:
    t = MsgpackTranscoder()
    assert_exactly_equal(value, t.decode(t.encode(value)))


@example(datetime(1999, 10, 31, 1, 0, tzinfo=ZoneInfo("America/Inuvik")))  # a wall time that happened twice
@example(datetime(1999, 10, 31, 1, 0, fold=1, tzinfo=ZoneInfo("America/Inuvik")))
@given(st.datetimes(timezones=st.timezones()))
def test_aware_datetimes_in_any_zone_come_back_as_the_same_instant_in_utc(value: datetime) -> None:
    again = unpack(pack(value))
    # Compare instants, in one zone: Python's == across zones is False for an ambiguous wall
    # time (PEP 495) even when both name the same instant.
    assert again.tzinfo is timezone.utc and again == value.astimezone(timezone.utc)


class Colour(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    LOW = 1


class Name(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        {1, 2},
        frozenset({1}),
        Decimal("1.5"),
        datetime(2030, 1, 1),  # naive
        date(2030, 1, 1),
        timedelta(seconds=1),
        Colour.RED,
        Level.LOW,  # an int subclass is not an int
        Name("x"),  # a str subclass is not a str
        object(),
        [1, {"nested": {2}}],
        (1, datetime(2030, 1, 1)),
    ],
    ids=repr,
)
def test_unknown_types_are_refused_when_encoding(value: Any) -> None:
    with pytest.raises(TypeError):
        pack(value)


@pytest.mark.parametrize("value", [{1: "a"}, {None: 1}, {(1, 2): 3}, {b"k": {2: [3]}}], ids=repr)
def test_whatever_the_packer_accepts_as_a_map_key_reads_back(value: Any) -> None:
    assert_exactly_equal(value, unpack(pack(value)))


def test_an_unknown_extension_type_is_refused_when_decoding() -> None:
    import msgpack

    with pytest.raises(ValueError):
        unpack(msgpack.packb(msgpack.ExtType(42, b"x")))


def test_every_event_class_has_a_topic_of_its_own_that_names_it() -> None:
    # Including the aggregates' base Event and the library's generated Created classes,
    # which no command stores: a class inheriting another's explicit topic would be
    # registered under it, and that topic would then name the wrong class.
    defined = [c for c in subclasses(LedgerEvent) if c.__module__ == "ledger.domain"]
    own = {c: c.__dict__.get("TOPIC") for c in defined}
    assert all(own.values()), [c.__qualname__ for c, t in own.items() if not t]
    assert len(set(own.values())) == len(own)
    assert all(resolve_topic(t) is c for c, t in own.items() if c.__name__ != "Event")
