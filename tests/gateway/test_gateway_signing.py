"""StringToSign and signatures: known answers from the spec, then the canonicalisation rules."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from authledger.gateway import accelerator, signing

# The known answers (docs/digest-auth.md, section 5) live in the repository, beside this test.
VECTORS = json.loads((Path(__file__).parent / "digest-auth-known-answers.json").read_text())["vectors"]


def test_the_known_answers_are_all_there() -> None:
    # Three from the vendor's gateway tests and the documentation's worked example.
    assert len(VECTORS) == 4 and all(v["string_to_sign"] and v["signature"] for v in VECTORS)


@pytest.fixture(params=["reference", "accelerator"])
def canon(request: pytest.FixtureRequest) -> ModuleType:
    """The pure-Python reference, then authledger.gateway.accelerator (the C module when it is in use)."""
    if request.param == "accelerator" and not accelerator.ACCELERATED:
        pytest.skip("the accelerator is not in use: same functions as the reference")
    return signing if request.param == "reference" else accelerator


DOC_EXAMPLE_HEADERS = [
    ("accept", "application/json; charset=utf-8"),
    ("content-type", "application/x-www-form-urlencoded; charset=utf-8"),
    ("date", "Wed, 09 May 2018 13:30:29 GMT+00:00"),
    ("x-ca-timestamp", "1525872629832"),
    ("x-ca-nonce", "c9f15cbf-f4ac-4a6c-b54d-f51abf4b5b44"),
    ("x-ca-key", "203753385"),
    ("x-ca-signature-method", "HmacSHA256"),
    ("x-ca-signature-headers", "x-ca-timestamp,x-ca-key,x-ca-nonce,x-ca-signature-method"),
]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_known_answer_signature(vector: dict[str, str]) -> None:
    assert (
        signing.sign(vector["app_secret"], vector["string_to_sign"], vector["method"])
        == (vector["signature"])
    )


def test_doc_worked_example_request_gives_the_known_string_to_sign(canon: ModuleType) -> None:
    (vector,) = [v for v in VECTORS if v["name"] == "doc_worked_example"]
    sts = canon.string_to_sign(
        "POST",
        "/http2test/test",
        "param1=test",
        DOC_EXAMPLE_HEADERS,
        b"username=xiaoming&password=123456789",
    )
    assert sts == vector["string_to_sign"]
    assert signing.sign(vector["app_secret"], sts, "HmacSHA256") == vector["signature"]


def test_higress_requests_give_their_known_strings_to_sign(canon: ModuleType) -> None:
    get_headers = [
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
        ("X-Ca-Key", "appKey"),
        ("X-Ca-Nonce", "787dd0c2-7bd8-41cd-9c19-62c05ea524a2"),
        ("X-Ca-Timestamp", "1646365291734"),
        ("X-Ca-Signature-Headers", "x-ca-timestamp,x-ca-nonce,x-ca-key"),
    ]
    by_name = {v["name"]: v["string_to_sign"] for v in VECTORS}
    assert (
        canon.string_to_sign("get", "/Third/Tools/checkSign", "", get_headers, None)
        == (by_name["higress_get_signed_headers"])
    )
    bare = [("Accept", "application/json")]
    assert (
        canon.string_to_sign("GET", "/Third/Tools/checkSign", "", bare, None)
        == (by_name["higress_get_no_signature_headers"])
    )
    form_headers = [
        ("Accept", "application/json"),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("x-ca-key", "appKey"),
        ("x-ca-nonce", "ca5a6753-b76c-4fff-a9d9-e5bb643e8cdf"),
        ("x-ca-timestamp", "1646646682418"),
        ("x-ca-signature-headers", "x-ca-key,x-ca-nonce,x-ca-timestamp"),
    ]
    body = b"uuid=uuid&nickname=nickname&photo=photo&room_id=6893"
    assert (
        canon.string_to_sign("POST", "/Third/User/getNyAccessToken", "", form_headers, body)
        == (by_name["higress_post_form"])
    )


def test_headers_match_case_insensitively_and_the_first_duplicate_wins(canon: ModuleType) -> None:
    headers = [("X-Ca-Key", "first"), ("x-ca-key", "second")]
    assert signing.get_header(headers, "X-CA-KEY") == "first"
    assert signing.get_header({"Accept": "a"}, "accept") == "a"
    assert signing.get_header(headers, "absent") is None
    assert canon.header_map(headers) == {"x-ca-key": "first"}
    assert canon.header_map({"Accept": "a", "ACCEPT": "b"}) == {"accept": "a"}


def test_only_str_pairs_count_as_headers(canon: ModuleType) -> None:
    # A 2-list or a 2-character str would unpack like a pair, but is not one.
    assert canon.header_map([("Accept", "a"), ["X-Ca-Key", "k"], "xy"]) == {"accept": "a"}
    assert canon.header_map((("Accept", "a"), ("X-B",), ("X-C", b"c"), (1, "d"))) == {"accept": "a"}
    assert canon.header_map(iter([("Accept", "a"), ["X-B", "b"]])) == {"accept": "a"}
    assert canon.header_map(None) == {}


def test_parameters_are_decoded_first_value_wins_and_form_beats_query(canon: ModuleType) -> None:
    # The form's value for a key in both, as the vendor's clients sign it (docs/digest-auth.md §2).
    params = canon.parse_params(
        "b=%E4%BD%A0+x&a=1&a=2&empty&bad=%zz%4&d=q1&d=q2",
        "application/x-www-form-urlencoded; charset=utf-8",
        b"a=form&b=form&c=only+form&a=form2",
    )
    assert params == {"b": "form", "a": "form", "empty": "", "bad": "%zz%4", "c": "only form", "d": "q1"}


def test_form_parameters_count_only_for_form_content_types(canon: ModuleType) -> None:
    assert canon.parse_params("", "application/json", b"a=1") == {}
    assert canon.parse_params("", "Application/X-WWW-Form-Urlencoded", b"a=1") == {"a": "1"}


def test_empty_values_have_two_spellings() -> None:
    params = {"lang": "x", "empty": ""}
    assert signing.path_and_parameters("/p", params) == "/p?empty&lang=x"
    assert signing.path_and_parameters("/p", params, "equals") == "/p?empty=&lang=x"
    assert signing.path_and_parameters("/p", {}) == "/p"


def test_signed_header_names_keep_their_spelling_and_skip_fixed_fields() -> None:
    headers = [
        ("X-Ca-Signature-Headers", " X-Ca-Key , date,x-b,Accept,x-missing"),
        ("x-ca-key", "k"),
        ("X-B", "b"),
        ("Date", "d"),
    ]
    assert (
        signing.canonical_headers(signing.header_map(headers)) == "X-Ca-Key:k\nx-b:b\nx-missing:\n"
    )


def test_non_utf8_bytes_never_share_a_string_to_sign(canon: ModuleType) -> None:
    headers = [("Content-Type", "application/x-www-form-urlencoded")]
    one = canon.string_to_sign("POST", "/p", "q=%FF", headers, b"a=\xff")
    two = canon.string_to_sign("POST", "/p", "q=%FE", headers, b"a=\xfe")
    assert one != two
    assert signing.sign("s", one) != signing.sign("s", two)


def test_sign_rejects_unknown_methods_and_supports_sha1() -> None:
    assert (
        signing.sign("s", "x", "HmacSHA1") == "77TRzBvXx7g7c8SdrLL0WDJX/Kc="
    )  # openssl dgst -sha1 -hmac s
    with pytest.raises(ValueError):
        signing.sign("s", "x", "HmacMD5")


def test_content_md5_is_base64_of_md5() -> None:
    assert signing.content_md5(b"") == "1B2M2Y8AsgTpgAmY7PhCfg=="
