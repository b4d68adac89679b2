"""authledger.gateway.paths: one canonical path, or 400 Invalid Url for every ambiguous form."""

from __future__ import annotations

import posixpath
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authledger.gateway.paths import InvalidPath, canonical_path

# Known tricks: each would let a check see one path while some backend serves another.
REFUSED = {
    "encoded slash": "/v1/weather/..%2F..%2Fv1%2Fadmin%2Fdrop",
    "encoded slash lower case": "/v1/weather/a%2fb",
    "raw dot dot": "/v1/weather/../admin/drop",
    "raw dot": "/v1/./weather/paris",
    "trailing dot dot": "/v1/weather/..",
    "encoded dot dot": "/v1/weather/%2e%2e/admin",
    "mixed encoded dot": "/v1/weather/.%2E/admin",
    "double encoded dot": "/v1/weather/%252e%252e/admin",
    "double encoded slash": "/v1/weather/..%252F..%252Fadmin",
    "raw backslash": "/v1/weather\\..\\admin",
    "encoded backslash": "/v1/weather/..%5C..%5Cadmin",
    "path parameter": "/v1/admin;/drop",
    "path parameter in segment": "/v1/weather/paris;jsessionid=1",
    "encoded semicolon": "/v1/admin%3Bx/drop",
    "raw nul": "/v1/weather/paris\x00/admin",
    "encoded nul": "/v1/weather/paris%00.json",
    "encoded cr lf": "/v1/weather/paris%0D%0AX-Ca-Api-Id:x",
    "encoded tab": "/v1/weather/%09",
    "invalid escape": "/v1/weather/%zz",
    "truncated escape": "/v1/weather/%2",
    "lone percent": "/v1/weather/100%",
    "overlong utf-8 dot": "/v1/weather/%C0%AE%C0%AE/admin",
    "overlong utf-8 slash": "/v1/weather/%C0%AFadmin",
    "invalid utf-8": "/v1/weather/%FF",
    "raw invalid utf-8": "/v1/weather/\udcff",
    "double slash": "/v1//admin/drop",
    "leading double slash": "//v1/admin",
    "encoded question mark": "/v1/weather/paris%3Fx=1",
    "encoded hash": "/v1/weather/paris%23frag",
    "raw hash": "/v1/weather/paris#frag",  # was let through by the fast path (review)
    "no leading slash": "v1/weather/paris",
    "empty": "",
}

ACCEPTED = {
    "/v1/weather/paris": "/v1/weather/paris",
    "/": "/",
    "/v1/weather/": "/v1/weather/",
    "/v1/weather/s%C3%A3o": "/v1/weather/s\u00e3o",
    "/v1/weather/s\u00e3o": "/v1/weather/s\u00e3o",
    "/v1/%77eather/paris": "/v1/weather/paris",
    "/v1/weather/new%20york": "/v1/weather/new york",
    "/v1/weather/a.b": "/v1/weather/a.b",
    "/v1/weather/...": "/v1/weather/...",
    "/v1/weather/.hidden": "/v1/weather/.hidden",
    "/v1/weather/a+b&c=d": "/v1/weather/a+b&c=d",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_known_path_tricks_are_refused_invalid_url(name: str) -> None:
    with pytest.raises(InvalidPath):
        canonical_path(REFUSED[name])


@pytest.mark.parametrize("raw", sorted(ACCEPTED))
def test_unambiguous_paths_are_decoded_once(raw: str) -> None:
    assert canonical_path(raw) == ACCEPTED[raw]


def _lenient(path: str) -> str:
    """What the most forgiving backend could make of a path: decode thrice, \\ as /, no ;params, dots resolved."""
    for _ in range(3):
        path = unquote(path, errors="replace")
    path = path.replace("\\", "/").replace("\x00", "")
    path = "/".join(segment.split(";")[0] for segment in path.split("/"))
    return posixpath.normpath(path)


PIECES = [*"/.%;\\2eEfF5cC0aAb\x00", "%2F", "%2e", "%25", "..", "%5C", "%3B", "%00", "%C0%AE"]


@given(st.lists(st.sampled_from(PIECES), max_size=20).map("".join))
def test_a_canonical_path_means_the_same_to_every_backend(tail: str) -> None:
    raw = "/v1/weather/" + tail
    try:
        path = canonical_path(raw)
    except InvalidPath:
        return
    # Accepted: decoding again or normalising changes nothing a router could route on.
    assert _lenient(raw) == posixpath.normpath(path)
    assert canonical_path(path) == path  # canonical means a fixed point


@given(st.text(max_size=40))
def test_canonical_path_is_total(raw: str) -> None:
    try:
        out = canonical_path("/" + raw)
    except InvalidPath:
        return
    assert out.startswith("/") and "\\" not in out and ";" not in out and "//" not in out
    assert "." not in out.split("/") and ".." not in out.split("/")
