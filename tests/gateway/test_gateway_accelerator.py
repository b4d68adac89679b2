"""The C accelerator (authledger.gateway._digest) returns exactly what the pure-Python reference returns.

Hypothesis compares each C function with its authledger.gateway.signing reference on hostile input
(non-tuple items, non-str names and values, case-differing duplicates, malformed and
non-UTF-8 escapes, lone surrogates, NULs, huge values). Also: inputs outside the C fast path
really go to the reference; nothing leaks; the module must be built; and the whole
tests/gateway suite passes again with the accelerator switched off.
"""

from __future__ import annotations

import base64
import gc
import hmac
import importlib
import os
import subprocess
import sys
import tracemalloc
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_fakes import HEADER_NAMES
from hypothesis import given, settings
from hypothesis import strategies as st

from authledger.gateway import accelerator, signing
from authledger.gateway.accelerator import PURE_PYTHON_ENV

ROOT = Path(__file__).parents[2]


def assert_built(module: str, accelerated: bool) -> None:
    """A silent fallback to pure Python must not hide a broken build (the install is optional,
    the test suite's is not: scripts/test makes sure a compiler is there)."""
    assert importlib.import_module(module) is not None
    if not os.environ.get(PURE_PYTHON_ENV):
        assert accelerated


def pure_python(code: str) -> list[str]:
    """What ``python -c code`` prints (split) with the reference forced."""
    env = {**os.environ, PURE_PYTHON_ENV: "1"}
    out = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def assert_suite_passes_pure(folder: str) -> None:
    """Run ``tests/<folder>`` again in a subprocess on the pure-Python reference."""
    env = {**os.environ, PURE_PYTHON_ENV: "1", "PYTHONHASHSEED": "0"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", f"tests/{folder}"],
                         check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout


def memory_growth(work: Callable[[], None], *, warm: int, rounds: int = 20_000) -> int:
    """Bytes still allocated after ``rounds`` calls of ``work`` (after ``warm`` unmeasured ones)."""
    for _ in range(warm):
        work()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(rounds):
            work()
        gc.collect()
        return int(tracemalloc.get_traced_memory()[0] - before)
    finally:
        tracemalloc.stop()


def test_the_extension_is_built() -> None:
    assert_built("authledger.gateway._digest", accelerator.ACCELERATED)


def test_the_environment_variable_forces_the_reference() -> None:
    code = "from authledger.gateway import accelerator as a, signing as s; print(a.ACCELERATED, a.header_map is s.header_map)"
    assert pure_python(code) == ["False", "True"]


@pytest.mark.skipif(
    not accelerator.ACCELERATED,
    reason="the accelerator is not in use: this run is the pure-Python one",
)
def test_the_gateway_suite_passes_without_the_accelerator() -> None:
    assert_suite_passes_pure("gateway")


# -- the C functions against the reference ------------------------------------------------------

try:
    from authledger.gateway import _digest as native  # type: ignore[attr-defined]
except ImportError:  # not built: test_the_extension_is_built guards CI
    native = None

# The comparisons run when the accelerator is in use (not in the pure-Python re-run).
compares = pytest.mark.skipif(
    native is None or not accelerator.ACCELERATED, reason="the accelerator is not in use"
)


class Name(str):
    """A str subclass: not a str for the header map, so its pairs are ignored."""


NAMES = [
    *HEADER_NAMES,
    "X-CA-KEY",
    "X-B",
    "İ",  # lower() is two characters
    "ẞ",
    "x\x00y",
]
any_text = st.text(max_size=30)  # includes lone surrogates, NULs and control characters
texts = st.one_of(any_text, st.sampled_from(NAMES))
pairs = st.tuples(texts, texts)
odd_items = st.one_of(
    st.lists(texts, min_size=2, max_size=2),  # a 2-list is not a pair
    st.text(min_size=2, max_size=2),  # nor is a 2-character str
    st.tuples(texts),
    st.tuples(texts, texts, texts),
    st.tuples(texts, st.one_of(st.none(), st.integers(), st.binary(max_size=4))),
    st.tuples(st.one_of(st.none(), st.binary(max_size=4)), texts),
    st.tuples(texts.map(Name), texts),
    st.tuples(texts, texts.map(Name)),
    st.none(),
    st.integers(),
)
header_lists = st.lists(st.one_of(pairs, pairs, odd_items), max_size=12)


def same(reference: Callable[..., Any], fast: Callable[..., Any], *args: Any) -> Any:
    """Assert the accelerated function returns (or raises) what the reference does."""
    try:
        expected: Any = reference(*args)
    except Exception as error:  # noqa: BLE001 - comparing failures too
        with pytest.raises(type(error)):
            fast(*args)
        return None
    got = fast(*args)
    assert got == expected
    assert type(got) is type(expected)
    return got


@compares
@settings(max_examples=500, deadline=None)
@given(headers=header_lists, as_tuple=st.booleans())
def test_header_map_equals_the_reference(headers: list[Any], as_tuple: bool) -> None:
    items = tuple(headers) if as_tuple else headers
    result = same(signing.header_map, native.header_map, items)
    assert all(type(k) is str and type(v) is str for k, v in result.items())


@compares
@settings(max_examples=200, deadline=None)
@given(
    headers=st.dictionaries(
        st.one_of(texts, st.integers()), st.one_of(texts, st.none()), max_size=10
    )
)
def test_header_map_of_a_dict_equals_the_reference(headers: dict[Any, Any]) -> None:
    same(signing.header_map, native.header_map, headers)


# Query and form pieces: escapes valid, malformed, non-UTF-8 and surrogate-encoding.
PIECES = [
    "%", "%4", "%zz", "%41", "%C3%A9", "%C3%28", "%ED%A0%80", "%F0%9F%98%80", "%FF", "%00",
    "%%", "%2B", "%26", "%3D", "+", "++", "&", "&&", "=", "==", "a", "Z", "é", "你", "\ud800",
    "\udcff", "\x00", " ", "%e9", "%E9%", "%é9", "k", "v",
    "%g0", "%0g", "%G1", "%:0", "%/0", "%@1", "%`1", "%F", "%Fg", "0", "9", "f", "F",  # hex edges
]  # fmt: skip
params_text = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=25).map("".join),
    st.lists(st.one_of(st.sampled_from(PIECES), any_text), max_size=8).map("".join),
    any_text,
)
forms = st.one_of(st.none(), params_text)


@compares
@settings(max_examples=800, deadline=None)
@given(query=params_text, form=forms)
def test_parameters_equal_the_reference(query: str, form: str | None) -> None:
    same(signing.parameters, native.parameters, query, form)


@compares
@settings(max_examples=300, deadline=None)
@given(query=params_text, content_type=st.sampled_from([None, "application/x-www-form-urlencoded; charset=utf-8", "text/plain", "APPLICATION/X-WWW-FORM-URLENCODED"]), body=st.one_of(st.none(), st.binary(max_size=40), params_text.map(lambda t: t.encode("utf-8", "surrogatepass"))))  # fmt: skip
def test_parse_params_equals_the_reference(
    query: str, content_type: str | None, body: bytes | None
) -> None:
    same(signing.parse_params, accelerator.parse_params, query, content_type, body)


listed_values = st.one_of(
    any_text,
    st.lists(
        st.one_of(
            st.sampled_from(NAMES + ["date", "ACCEPT", "content-type", "x-ca-signature", "", "  "]),
            any_text,
        ),
        max_size=8,
    ).map(lambda names: ",".join(f"\u3000{n}\t" if len(n) % 3 == 0 else n for n in names)),
)


@compares
@settings(max_examples=500, deadline=None)
@given(listed=listed_values)
def test_signed_header_names_equal_the_reference(listed: str) -> None:
    same(signing.signed_header_names, native.signed_header_names, listed)
    same(signing.signed_header_names, native.signed_header_names, listed)  # now cached


def header_maps() -> st.SearchStrategy[dict[str, str]]:
    fixed = st.fixed_dictionaries(
        {},
        optional={
            "accept": texts,
            "content-md5": texts,
            "content-type": texts,
            "date": texts,
            "x-ca-signature-headers": listed_values,
            "x-ca-key": texts,
            "x-b": texts,
            "i̇": texts,
        },
    )
    return st.one_of(fixed, header_lists.map(signing.header_map))


methods = st.one_of(st.sampled_from(["GET", "get", "Post", "ß", "ǅ", "ﬀ"]), any_text)
params_dicts = st.one_of(
    st.dictionaries(texts, st.one_of(texts, st.just("")), max_size=8),
    st.tuples(params_text, forms).map(lambda qf: signing.parameters(*qf)),
)


@compares
@settings(max_examples=500, deadline=None)
@given(method=methods, hmap=header_maps(), path=any_text, params=params_dicts)
def test_strings_to_sign_equal_the_reference(
    method: str, hmap: dict[str, str], path: str, params: dict[str, str]
) -> None:
    result = same(signing.strings_to_sign, native.strings_to_sign, method, hmap, path, params)
    assert (result[1] is None) == ("" not in params.values())


@compares
@settings(max_examples=500, deadline=None)
@given(method=methods, hmap=header_maps(), path=any_text, query=params_text, form=forms)
def test_request_strings_equal_the_reference(
    method: str, hmap: dict[str, str], path: str, query: str, form: str | None
) -> None:
    same(signing.request_strings, native.request_strings, method, hmap, path, query, form)


@compares
@settings(max_examples=300, deadline=None)
@given(
    method=methods,
    path=any_text,
    query=params_text,
    headers=header_lists,
    body=st.one_of(st.none(), params_text.map(lambda t: t.encode("utf-8", "surrogatepass"))),
    style=st.sampled_from(["bare", "equals"]),
)
def test_whole_string_to_sign_equals_the_reference(
    method: str, path: str, query: str, headers: list[Any], body: bytes | None, style: str
) -> None:
    headers = [*headers, ("Content-Type", "application/x-www-form-urlencoded")]
    expected = signing.string_to_sign(method, path, query, headers, body, empty_value_style=style)  # type: ignore[arg-type]
    got = accelerator.string_to_sign(method, path, query, headers, body, empty_value_style=style)  # type: ignore[arg-type]
    assert got == expected


stamps = st.one_of(
    st.text("0123456789", max_size=17),
    st.sampled_from(
        ["", "0", "1764300000000", "999999999999999", "1" * 16, "١٢٣", "12.5", " 12", "-1"]
    ),
    any_text,
)


@compares
@settings(max_examples=500, deadline=None)
@given(
    hmap=st.fixed_dictionaries(
        {},
        optional={
            "x-ca-key": texts,
            "x-ca-signature": texts,
            "x-ca-signature-method": st.sampled_from(["", "HmacSHA1", "HmacSHA256", "x"]),
            "x-ca-signaturemethod": st.sampled_from(["", "HmacSHA1", "y"]),
            "x-ca-timestamp": stamps,
            "content-md5": texts,
            "x-ca-stage": st.sampled_from(["", "RELEASE", "TEST", "pre"]),
            "x-ca-nonce": texts,
        },
    )
)
def test_digest_fields_equal_the_reference(hmap: dict[str, str]) -> None:
    same(signing.digest_fields, native.digest_fields, hmap)


@settings(max_examples=300, deadline=None)
@given(
    secret=st.one_of(any_text, st.text(min_size=60, max_size=200)),  # keys past a block are hashed
    method=st.sampled_from(["HmacSHA256", "HmacSHA1"]),
    message=st.one_of(any_text, st.text(max_size=300)),
)
def test_the_signature_is_hmac(secret: str, method: str, message: str) -> None:
    # The reference against the stdlib's hmac (OpenSSL), then the C function against both.
    key, data = secret.encode("utf-8", "surrogatepass"), message.encode("utf-8", "surrogatepass")
    expected = base64.b64encode(hmac.digest(key, data, signing.DIGESTS[method]))
    states = signing.keyed_states(secret, method)
    assert signing.signature(states, message) == expected
    if native is not None:
        assert native.signature(states, message) == expected
        assert native.signature(states, message) == expected  # the states are left as they were


@settings(max_examples=300, deadline=None)
@given(
    secret=any_text,
    method=st.sampled_from(["HmacSHA256", "HmacSHA1"]),
    message=any_text,
    provided=st.one_of(
        any_text,
        st.sampled_from(["", "=", "\x00" * 44, "é" * 44, "\ud800" * 28]),
        st.binary(min_size=20, max_size=32).map(lambda b: base64.b64encode(b).decode()),
    ),
    tamper=st.integers(-1, 43),
)
def test_signature_matching_equals_the_reference(
    secret: str, method: str, message: str, provided: str, tamper: int
) -> None:
    states = signing.keyed_states(secret, method)
    right = signing.signature(states, message).decode()
    candidates = [provided, right, right + "x", right[:-1]]
    if 0 <= tamper < len(right):  # one character changed
        candidates.append(right[:tamper] + chr(ord(right[tamper]) ^ 1) + right[tamper + 1 :])
    for candidate in candidates:
        expected = signing.signature_matches(states, message, candidate)
        assert expected == (candidate == right)
        if native is not None:
            assert native.signature_matches(states, message, candidate) is expected


class FixedDigest:
    """A stand-in hash state whose digest is given: Base64 of every length, odd outputs."""

    def __init__(self, value: object) -> None:
        self.value = value

    def copy(self) -> FixedDigest:
        return self

    def update(self, data: bytes, /) -> None:
        pass

    def digest(self) -> object:
        return self.value


@compares
@settings(max_examples=200, deadline=None)
@given(value=st.one_of(st.binary(max_size=70), st.text(max_size=3), st.none()))
def test_the_signature_encodes_any_digest_like_the_reference(value: object) -> None:
    states = (FixedDigest(b"inner"), FixedDigest(value))
    same(signing.signature, native.signature, states, "message")


@compares
def test_huge_and_odd_values_equal_the_reference() -> None:
    huge = "%" + "9" * 200_000
    escapes = "a=" + "%41%C3%A9%ED%A0%80+" * 20_000 + "&" * 10_000 + "b"
    wide = "k=" + "\U0001f600%F0%9F%98%80" * 10_000
    for query in (
        huge,
        escapes,
        wide,
        "x=" + "\x00" * 1000,
        "&".join(f"k{i % 300}={i}" for i in range(5000)),
    ):
        same(signing.parameters, native.parameters, query, None)
        same(signing.parameters, native.parameters, "", query)
        hmap = signing.header_map(
            [("X-Ca-Signature-Headers", huge + "," + query), ("Accept", query)]
        )
        same(signing.strings_to_sign, native.strings_to_sign, "GET", hmap, query, {query: query})
        same(signing.request_strings, native.request_strings, "GET", hmap, "/", query, query)
    same(signing.header_map, native.header_map, [(huge, wide)] * 3)


# -- inputs outside the C fast path go to the reference ----------------------------------------


@pytest.fixture
def reference_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record calls of the authledger.gateway.signing functions the C module may hand inputs to."""
    calls: list[str] = []
    for name in (
        "header_map",
        "parameters",
        "signed_header_names",
        "strings_to_sign",
        "request_strings",
        "digest_fields",
        "signature",
        "signature_matches",
    ):
        original = getattr(signing, name)

        def spy(*args: Any, _original: Any = original, _name: str = name) -> Any:
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(signing, name, spy)
    yield calls


@compares
def test_the_fast_path_takes_its_own_inputs(reference_calls: list[str]) -> None:
    hmap = native.header_map([("Accept", "a"), ("X-Ca-Signature-Headers", "x-b")])
    native.header_map({"Accept": "a"})
    native.parameters("a=1", "b=2")
    native.signed_header_names("a,b")
    native.strings_to_sign("GET", hmap, "/", {"a": ""})
    native.request_strings("GET", hmap, "/", "a=%41", None)
    native.digest_fields(hmap)
    native.signature(signing.keyed_states("s", "HmacSHA1"), "x")
    native.signature_matches(signing.keyed_states("s", "HmacSHA1"), "x", "y")
    assert reference_calls == []


def via_reference(calls: list[str], name: str, function: Callable[..., Any], *args: Any) -> Any:
    """Call the C function; assert it handed the input to the reference function ``name``."""
    calls.clear()
    result = function(*args)
    assert calls[:1] == [name]
    return result


@compares
def test_other_inputs_go_to_the_reference(reference_calls: list[str]) -> None:
    calls = reference_calls
    assert via_reference(calls, "header_map", native.header_map, OrderedDict(Accept="a")) == {
        "accept": "a"
    }
    assert via_reference(calls, "header_map", native.header_map, iter([("Accept", "a")])) == {
        "accept": "a"
    }
    assert via_reference(calls, "parameters", native.parameters, Name("a=1"), None) == {"a": "1"}
    assert via_reference(calls, "parameters", native.parameters, "a=1", Name("b")) == {
        "a": "1",
        "b": "",
    }
    listed = Name("x-b")
    assert via_reference(calls, "signed_header_names", native.signed_header_names, listed) == (
        ("x-b", "x-b"),
    )
    odd_value = {"accept": Name("a")}
    sts = via_reference(calls, "strings_to_sign", native.strings_to_sign, "GET", odd_value, "/", {})
    assert sts == ("GET\na\n\n\n\n/", None)
    via_reference(
        calls, "strings_to_sign", native.strings_to_sign, "GET", {}, "/", OrderedDict(a="1")
    )
    via_reference(calls, "request_strings", native.request_strings, Name("GET"), {}, "/", "a", None)
    via_reference(calls, "digest_fields", native.digest_fields, {"x-ca-key": 1})
    via_reference(calls, "digest_fields", native.digest_fields, OrderedDict())
    states = list(signing.keyed_states("s", "HmacSHA1"))
    assert (
        via_reference(calls, "signature", native.signature, states, "x")
        == signing.sign("s", "x", "HmacSHA1").encode()
    )
    right = signing.sign("s", "x", "HmacSHA1")
    assert via_reference(calls, "signature_matches", native.signature_matches, states, "x", right)
    assert not via_reference(
        calls, "signature_matches", native.signature_matches, tuple(states), "x", Name(right + "=")
    )


@compares
def test_wrong_argument_counts_raise_type_error() -> None:
    for function in (
        native.header_map,
        native.parameters,
        native.strings_to_sign,
        native.request_strings,
        native.digest_fields,
        native.signed_header_names,
    ):
        with pytest.raises(TypeError):
            function()
        with pytest.raises(TypeError):
            function(*[None] * 6)


# -- no leaks -----------------------------------------------------------------------------------


@compares
def test_nothing_leaks() -> None:
    hmap = signing.header_map(
        [("Accept", "a"), ("X-Ca-Signature-Headers", "X-Ca-Key,x-b"), ("X-Ca-Key", "k")]
    )
    odd = [("X-Ca-Key", "k"), ["a", "b"], ("İ", "x"), 7, (None, "v")]
    states = signing.keyed_states("secret", "HmacSHA256")

    def work() -> None:
        native.header_map(odd)
        native.header_map({"Accept": "a", "X-B": "b"})
        native.parameters("b=%C3%A9+x&a=1&a=2&é=%ED%A0%80&&z", "c=3&a=f")
        native.strings_to_sign("get", hmap, "/p", {"b": "", "a": "1"})
        native.request_strings("ǅ", hmap, "/p", "q=%zz&e&\ud800=1", "f=2")
        native.digest_fields({"x-ca-timestamp": "1764300000000", "x-ca-stage": ""})
        native.digest_fields({"x-ca-key": 1})  # through the reference
        native.signature(states, "GET\n\ud800")
        native.signature_matches(states, "GET", "é")
        native.parameters(Name("a=1"), None)  # through the reference
        try:
            native.strings_to_sign("GET", hmap, "/", {"a": 1})  # the reference raises TypeError
        except TypeError:
            pass

    # Warm: caches filled, free lists settled. A leaked object per call would be > 1 MB.
    assert memory_growth(work, warm=2_000) < 64_000
