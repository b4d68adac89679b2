"""The C check (projections._check) against the Python reference (AuthIndex.check / check_app).

Random index states are built with ``apply_change`` (the same dicts the C Checker holds),
changed between queries, and queried with random and hostile arguments (non-str ids,
str subclasses, odd ``at`` values, other kinds, keyword spellings): the C answer must be
the very same Decision object as the reference's, or the same exception. The flat table
(a cache of the dicts, re-synced after each change) is compared with a plain model of what
it must hold and with its rebuild, over many keys, long and non-ASCII ids. Nothing leaks;
the module must be built; and the whole tests/projections suite passes again
with the accelerator switched off.
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from projections import accelerator
from projections.auth_index import AuthIndex
from tests.accelerated import (
    assert_built,
    assert_flat_table_true,
    assert_suite_passes_pure,
    memory_growth,
    pure_python,
)

native = pytest.mark.skipif(not accelerator.ACCELERATED, reason="the C check is not in use: this run is the pure-Python one")

APIS = ("api-a", "api-b", "api-c")
APPS = ("app-1", "app-2", "app-3")
KEYS = ("key-1", "key-2", "key-3", "key-4")
STAGES = ("RELEASE", "PRE", "TEST")
NOW_FAR = (0.0, 10.0, 1e9, 3e9, float("inf"))


class Str(str):
    """A str subclass: the C code must hand it to the reference."""


def test_the_extension_is_built() -> None:
    assert_built("projections._check", accelerator.ACCELERATED)


def test_the_environment_variable_forces_the_reference() -> None:
    code = ("from projections import accelerator as a; from projections.auth_index import AuthIndex as I; "
            "i = I(None); print(a.ACCELERATED, i.check.__func__ is I.check, i.check_app.__func__ is I.check_app)")
    assert pure_python(code) == ["False", "True", "True"]


@native
def test_the_projections_suite_passes_without_the_accelerator() -> None:
    assert_suite_passes_pure("projections")


# -- random index states -------------------------------------------------------------------

end = st.one_of(st.none(), st.sampled_from(NOW_FAR[:-1]), st.floats(0, 4e9), st.integers(0, 4_000_000_000))
grant_change = st.one_of(
    st.tuples(st.just("key_set"), st.sampled_from(KEYS), st.sampled_from(APPS)),
    st.tuples(st.just("grant_set"), st.sampled_from(APPS), st.sampled_from(APIS), st.sampled_from(STAGES), end),
)
any_change = st.one_of(
    st.tuples(st.just("api_set"), st.sampled_from(APIS), st.sampled_from(("HEADER", "DISABLE"))),
    st.tuples(st.just("app_set"), st.sampled_from(APPS),
              st.fixed_dictionaries({}, optional={"enabled": st.booleans(), "deleted": st.booleans(),
                                                  "extension": st.sampled_from(("", "x"))})),
    st.tuples(st.just("key_set"), st.sampled_from(KEYS), st.sampled_from(APPS)),
    st.tuples(st.just("key_removed"), st.sampled_from(KEYS), st.sampled_from(APPS)),
    st.tuples(st.just("grant_set"), st.sampled_from(APPS), st.sampled_from(APIS), st.sampled_from(STAGES), end),
    st.tuples(st.just("grant_removed"), st.sampled_from(APPS), st.sampled_from(APIS), st.sampled_from(STAGES)),
    st.tuples(st.just("deny"), st.sampled_from(APPS),
              st.sampled_from(("expired", "not_authorized", "stage_not_authorized", "unknown_api"))),
)
change = st.integers(0, 9).flatmap(lambda n: grant_change if n < 5 else any_change)


def _apply(index: AuthIndex, c: tuple[Any, ...]) -> None:
    kind = c[0]
    if kind == "api_set":
        index.apply_change(("api_set", c[1], "acme", "APP", c[2], ["HmacSHA256"], False, None, None))
    elif kind == "app_set":
        if c[1] not in index._apps:
            index.apply_change(("app_set", c[1], {"owner": "bob", "extension": ""}))
        index.apply_change(("app_set", c[1], c[2]))
    elif kind == "key_set":
        _apply(index, ("app_set", c[2], {}))
        index.apply_change(("key_set", c[1], c[2], b"sealed"))
    elif kind == "deny":  # a denial built before the query (the reference's lazy cache)
        if c[1] in index._apps:
            index._apps[c[1]].deny(c[2])
    else:
        _apply(index, ("app_set", c[1] if kind != "key_removed" else c[2], {}))
        index.apply_change(c)


def _mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` 8 times in 10 (st.one_of would draw the rare branches about as often)."""
    return st.integers(0, 9).flatmap(lambda n: usual if n < 8 else rare)


def _arg(likely: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """Mostly a plausible id, sometimes any text, now and then something hostile."""
    hostile = st.one_of(st.none(), st.integers(), st.binary(max_size=2), st.lists(st.integers(), max_size=1),
                        st.builds(Str, st.sampled_from(likely)), st.tuples(st.text(max_size=1)))
    return _mostly(st.sampled_from(likely), st.one_of(st.text(max_size=3), hostile))


good_at = st.one_of(st.sampled_from(NOW_FAR), st.floats(0, 4e9))
at = _mostly(good_at, st.one_of(st.floats(allow_nan=True), st.none(), st.integers(0, 4_000_000_000),
               st.just(datetime(2030, 1, 1, tzinfo=UTC)), st.just(datetime(2030, 1, 1)),
               st.sampled_from(("1.5", "soon", b"1")), st.lists(st.none(), max_size=0)))
query = st.sampled_from(("check", "check_app")).flatmap(lambda name: st.tuples(
    st.just(name), _arg(KEYS if name == "check" else APPS), _arg(APIS), _arg(STAGES),
    _mostly(st.just("positional"), st.sampled_from(("keyword", "absent", "both"))), at,
    _mostly(st.none(), st.one_of(st.sampled_from(("app_key", "app_code_hash", "bogus")),
                                 st.builds(Str, st.just("app_key")), st.integers())),
    st.booleans(),  # which side answers first (a lazily built denial is then cached for the other)
))


def _call(fn: Any, q: tuple[Any, ...]) -> tuple[str, Any]:
    _name, a, b, c, how, when, kind, _first = q
    args: list[Any] = [a, b, c]
    kwargs: dict[str, Any] = {}
    if how == "positional":
        args.append(when)
    elif how == "keyword":
        kwargs["at"] = when
    elif how == "both":
        args.append(when)
        kwargs["at"] = when
    if kind is not None and _name == "check":
        kwargs["kind"] = kind
    try:
        return "value", fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the same exception is the point
        return "raised", (type(e), str(e))


@native
@settings(max_examples=500, deadline=None)
@given(steps=st.lists(st.tuples(st.lists(change, max_size=10), st.lists(query, max_size=10)), min_size=1, max_size=6))
def test_the_c_check_returns_the_reference_decision(steps: list[Any]) -> None:
    index = AuthIndex(None)
    assert type(index.check).__name__ == "Checker"
    for changes, queries in steps:
        for c in changes:
            _apply(index, c)
        for q in queries:
            mine = getattr(index, q[0])
            reference = getattr(AuthIndex, q[0]).__get__(index)
            first, second = (mine, reference) if q[-1] else (reference, mine)
            got_first, got_second = _call(first, q), _call(second, q)
            if got_first[0] == "value":
                assert got_second[0] == "value" and got_first[1] is got_second[1], (q, got_first, got_second)
                event(f"{q[0]}: {got_first[1].reason.value}")
            else:
                assert got_first == got_second, q
                event(f"{q[0]}: raised")


@native
def test_the_checker_follows_the_index_it_was_built_for() -> None:
    index = AuthIndex(None)
    _apply(index, ("api_set", "api-a", "HEADER"))
    _apply(index, ("key_set", "key-1", "app-1"))
    assert index.check("key-1", "api-a", "RELEASE", 1.0).reason.value == "not_authorized"
    index.apply_change(("grant_set", "app-1", "api-a", "RELEASE", 100.0))
    assert index.check("key-1", "api-a", "RELEASE", 1.0) is index._apps["app-1"].allowed
    assert index.check_app("app-1", "api-a", "RELEASE", 100.0).reason.value == "authorization_expired"
    index.apply_change(("app_set", "app-1", {"enabled": False}))
    assert index.check("key-1", "api-a", "RELEASE", 1.0).reason.value == "app_disabled"


# -- no leaks -------------------------------------------------------------------------------


@native
def test_nothing_leaks() -> None:
    index = AuthIndex(None)
    for c in (("api_set", "api-a", "HEADER"), ("key_set", "key-1", "app-1"), ("key_set", "key-2", "app-2"),
              ("app_set", "app-2", {"deleted": True}), ("grant_set", "app-1", "api-a", "RELEASE", 100.0),
              ("grant_set", "app-1", "api-a", "PRE", None)):
        _apply(index, c)
    at = datetime(2030, 1, 1, tzinfo=UTC)

    def work() -> None:
        check: Any = index.check  # called with bad arguments on purpose below
        check_app: Any = index.check_app
        check("key-1", "api-a", "RELEASE", 1.0)
        check("key-1", "api-a", "RELEASE", 1e9)
        check("key-1", "api-a", "PRE")
        check("key-1", "api-a", "PRE", at=at)
        check("key-1", "api-a", "TEST", 1.0)
        check("key-1", "api-b", "TEST", 1.0, kind="app_key")
        check("key-2", "api-a", "RELEASE", 1.0)
        check("nope", "api-a", "RELEASE", 1.0)
        check(Str("key-1"), "api-a", "RELEASE", 1.0)
        check("key-1", "api-a", "RELEASE", 1.0, kind="app_code_hash")
        check_app("app-1", "api-a", "RELEASE", 50)
        check_app("app-1", "api-a", "PRE", 50.0)
        check.sync("key-1", "api-a")
        check.sync("key-1", "api-zz")
        check.sync("ключ", "api-a")
        check.rebuild()
        check.flat_items()
        index.apply_change(("grant_removed", "app-1", "api-a", "TEST"))
        index.apply_change(("grant_set", "app-1", "api-a", "TEST", 5.0))
        for bad in (lambda: check([], "a", "b"), lambda: check("key-1", "api-a", "PRE", "x"),
                    lambda: check_app("app-1", "api-a", "RELEASE"), lambda: check("key-1", "api-a", "PRE", datetime(2030, 1, 1))):
            try:
                bad()
            except (TypeError, ValueError):
                pass

    assert memory_growth(work, warm=100) < 64_000  # a leaked object per call would be > 1 MB


@native
def test_an_index_with_its_checkers_is_collected() -> None:
    import weakref

    index = AuthIndex(None)
    _apply(index, ("key_set", "key-1", "app-1"))
    _apply(index, ("grant_set", "app-1", "api-a", "RELEASE", 100.0))
    assert index.check.flat_size()[0] == 1  # the table holds the _App; the index holds the table
    ref = weakref.ref(index)
    del index
    gc.collect()
    assert ref() is None


# -- the flat table -----------------------------------------------------------------------------

# Many keys and APIs (the table grows, probes collide, deletions shift entries back), some ids
# the table must leave to the dicts: too long together, not ASCII.
FLAT_KEYS = (*(f"k{i}" for i in range(60)), "k" * 60, "ключ")
FLAT_APIS = (*(f"api-{i}" for i in range(15)), "a" * 30, "apí")
FLAT_APPS = APPS + ("app-4", "app-5")
flat_key_set = st.tuples(st.just("key_set"), st.sampled_from(FLAT_KEYS), st.sampled_from(FLAT_APPS))
flat_grant_set = st.tuples(st.just("grant_set"), st.sampled_from(FLAT_APPS), st.sampled_from(FLAT_APIS),
                           st.sampled_from((*STAGES, "CANARY")), end)
flat_other = st.one_of(
    st.tuples(st.just("key_removed"), st.sampled_from(FLAT_KEYS), st.sampled_from(FLAT_APPS)),
    st.tuples(st.just("grant_removed"), st.sampled_from(FLAT_APPS), st.sampled_from(FLAT_APIS),
              st.sampled_from((*STAGES, "CANARY"))),
    st.tuples(st.just("app_set"), st.sampled_from(FLAT_APPS),
              st.fixed_dictionaries({}, optional={"enabled": st.booleans(), "deleted": st.booleans()})),
    st.tuples(st.just("api_set"), st.sampled_from(FLAT_APIS), st.sampled_from(("HEADER", "DISABLE"))),
)
flat_change = st.integers(0, 9).flatmap(lambda n: flat_key_set if n < 4 else flat_grant_set if n < 7 else flat_other)
flat_query = st.tuples(st.sampled_from(FLAT_KEYS), st.sampled_from(FLAT_APIS),
                       st.sampled_from((*STAGES, "CANARY", "release")), st.sampled_from(NOW_FAR))


@native
@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.tuples(st.lists(flat_change, min_size=5, max_size=100), st.lists(flat_query, max_size=30)),
                      min_size=1, max_size=5))
def test_the_flat_table_is_what_the_dicts_say_after_every_change(steps: list[Any]) -> None:
    index = AuthIndex(None)
    for changes, queries in steps:
        for c in changes:
            _apply(index, c)
        assert_flat_table_true(index)
        for q in queries:
            assert index.check(*q) is AuthIndex.check(index, *q), q
    event(f"flat entries: {min(index.check.flat_size()[0] // 25 * 25, 100)}+")


@native
def test_bulk_loads_build_the_flat_table_once_at_the_end_even_when_they_fail() -> None:
    index = AuthIndex(None)
    with index.bulk():
        for i in range(200):
            _apply(index, ("key_set", f"k{i}", f"app-{i % 7}"))
            _apply(index, ("grant_set", f"app-{i % 7}", f"api-{i % 11}", STAGES[i % 3], float(i)))
        assert index.check.flat_size()[0] == 0  # deferred
    assert index.check.flat_size()[0] > 0
    assert_flat_table_true(index)
    with pytest.raises(ValueError), index.bulk():
        _apply(index, ("grant_set", "app-0", "api-99", "PRE", None))
        index.apply_change(("grant_set", "no-such-app", "api-1", "PRE", None))
    assert ("k0", "api-99") in {(k, a) for k, a, _app, _ends in index.check.flat_items()}
    assert_flat_table_true(index)


@native
@pytest.mark.parametrize("seed", range(3))
def test_the_flat_table_survives_long_churn(seed: int) -> None:
    """Thousands of entries: the table grows several times, deletions shift probe chains."""
    import random

    rng = random.Random(seed)
    index = AuthIndex(None)
    keys = [f"key-{i}" for i in range(400)]
    apps = [f"app-{i}" for i in range(40)]
    apis = [f"api-{i}" for i in range(30)]
    for i in range(6000):
        r = rng.random()
        if r < 0.25:
            _apply(index, ("key_set", rng.choice(keys), rng.choice(apps)))
        elif r < 0.7:
            _apply(index, ("grant_set", rng.choice(apps), rng.choice(apis), rng.choice(STAGES), rng.choice((None, 5.0))))
        elif r < 0.85:
            _apply(index, ("grant_removed", rng.choice(apps), rng.choice(apis), rng.choice(STAGES)))
        else:
            _apply(index, ("key_removed", rng.choice(keys), rng.choice(apps)))
        if i % 500 == 499:
            assert_flat_table_true(index)
            for _ in range(200):
                q = (rng.choice(keys), rng.choice(apis), rng.choice(STAGES), 1.0)
                assert index.check(*q) is AuthIndex.check(index, *q), q
    assert index.check.flat_size()[0] > 1000
