"""Hostile input: verify() returns a Verdict for anything, and StringToSign never raises."""

from __future__ import annotations

from gateway_fakes import API_ID, APP_KEY, HEADER_NAMES, NOW_MS, shop_index, verifier_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authledger.gateway import signing
from authledger.gateway.verifier import Verdict

STATUSES = {200, 400, 401, 403, 404}
any_text = st.text(max_size=40)  # includes surrogates and control characters
huge = st.integers(10_000, 200_000).map(lambda n: "%" + "9" * n)
header_values = st.one_of(
    any_text,
    huge,
    st.just(APP_KEY),
    st.just(str(NOW_MS)),
    st.sampled_from(
        [
            "HmacSHA256",
            "HmacSHA1",
            "RELEASE",
            "TEST",
            "application/x-www-form-urlencoded",
            "APPCODE x",
            "x-ca-key,X-Ca-Nonce,,date",
            "Fri, 28 Nov 2025 03:20:00 GMT+00:00",
        ]
    ),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),  # malformed base64 signatures
    st.text("0123456789.e-+ ", max_size=25),  # near-numeric timestamps
)
header_lists = st.lists(
    st.tuples(st.one_of(st.sampled_from(HEADER_NAMES), any_text), header_values), max_size=14
)
queries = st.one_of(any_text, st.text("a=&%+b9ZF;", max_size=60), huge)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=200),
    st.text("a=&%+bF\xff", max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=any_text,
    path=any_text,
    query=queries,
    headers=header_lists,
    as_mapping=st.booleans(),
    body=bodies,
    api_id=st.sampled_from([API_ID, "api-none", ""]),
    mode=st.sampled_from(["DISABLE", "HEADER", "HEADER_QUERY"]),
)
def test_verify_only_ever_returns_a_verdict(
    method: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    as_mapping: bool,
    body: bytes | None,
    api_id: str,
    mode: str,
) -> None:
    verifier = verifier_for(
        shop_index(appcode_mode=mode, signature_methods=("HmacSHA1", "HmacSHA256"))
    )
    verdict = verifier.verify(
        method, path, query, dict(headers) if as_mapping else headers, body, api_id
    )
    assert isinstance(verdict, Verdict)
    assert verdict.status in STATUSES
    assert verdict.accepted == (verdict.status == 200) == (verdict.error_message is None)
    assert "ExampleAppSecret" not in repr(verdict)


@settings(max_examples=200, deadline=None)
@given(
    method=any_text,
    path=any_text,
    query=queries,
    headers=header_lists,
    body=bodies,
    style=st.sampled_from(["bare", "equals"]),
)
def test_string_to_sign_and_sign_never_raise(
    method: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
    style: str,
) -> None:
    sts = signing.string_to_sign(method, path, query, headers, body, empty_value_style=style)  # type: ignore[arg-type]
    assert sts.count("\n") >= 5
    assert len(signing.sign("secret\ud800", sts, "HmacSHA1")) == 28


def test_verify_survives_values_of_the_wrong_type() -> None:
    verifier = verifier_for(shop_index())
    odd_headers = [("X-Ca-Key", None), (None, "x"), ("only-one",), (b"X-Ca-Key", b"1"), 42]
    verdict = verifier.verify(None, b"/p", b"a=\xff", odd_headers, "text body", 7)  # type: ignore[arg-type]
    assert (verdict.status, verdict.error_message) == (404, "Invalid Api")
    verdict = verifier.verify(None, b"/p", b"a=\xff", odd_headers, "body", API_ID)  # type: ignore[arg-type]
    assert (verdict.status, verdict.error_message) == (400, "Invalid AppKey")
    odd_headers.append(("x-ca-key", APP_KEY))
    verdict = verifier.verify(None, b"/p", b"a=\xff", odd_headers, "body", API_ID)  # type: ignore[arg-type]
    assert (verdict.status, verdict.error_message) == (404, "Empty Signature")
    assert verifier.verify("GET", "/", "", None, None, API_ID).error_message == "Invalid AppKey"  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        any_text,
        st.builds(
            "{}, {:02d} {} {:04d} {:02d}:{:02d}:{:02d} {}".format,
            st.sampled_from(["Mon", "Fri", "xx"]),
            st.integers(0, 99),
            st.sampled_from(["Jan", "Feb", "May", "Nov", "Foo"]),
            st.integers(0, 9999),
            st.integers(0, 99),
            st.integers(0, 99),
            st.integers(0, 99),
            st.sampled_from(
                ["GMT", "UTC", "Z", "GMT+00:00", "+0800", "-23:59", "GMT+24:00", "PST"]
            ),
        ),
    )
)
def test_date_parsing_is_total(value: str) -> None:
    parsed = signing.parse_http_date(value)
    assert parsed is None or isinstance(parsed, float)
