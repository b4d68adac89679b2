"""The route table against a plain reference model: the regex-per-pattern scan it replaced.

Attack (issue 13.3): a pattern like ``/r/{a}{b}{c}{d}{e}{f}{g}{h}/z`` compiled to a
backtracking regex took seconds per unauthenticated request. The table never builds a
regex from tenant input; here it must pick exactly what the old scan picked, for any
patterns and paths, and answer the hostile pattern at once.
"""

from __future__ import annotations

import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from authledger.gateway.routing import RouteTable
from ledger.patterns import mixed_match
from scripts.bench.routing import RegexScan

def _reference(routes: list[tuple[str, str | None, str]], method: str, path: str) -> str | None:
    """The old router (a regex per pattern, most specific first): the benchmark's peer."""
    return RegexScan(routes).resolve(method.upper(), path)


_SEG = st.sampled_from(["a", "b", "ab", "{x}", "{y}", "a{x}", "{x}b", "a{x}b", "{x}{y}", "x.json", "{x}.json", ""])
_PATH_SEG = st.sampled_from(["a", "b", "ab", "aab", "abb", "x.json", "q.json", ".json", "", "z", "aXb"])
_METHOD = st.sampled_from([None, "GET", "POST"])


@settings(max_examples=400, deadline=None)
@given(
    patterns=st.lists(st.tuples(st.lists(_SEG, min_size=1, max_size=4), _METHOD), max_size=8),
    paths=st.lists(st.tuples(st.lists(_PATH_SEG, min_size=1, max_size=5), st.sampled_from(["GET", "post"])), max_size=8),
)
def test_the_table_picks_what_the_regex_scan_picked(patterns, paths) -> None:
    routes = [("/" + "/".join(segs), m, f"api-{i:02d}") for i, (segs, m) in enumerate(patterns)]
    table = RouteTable()
    for pattern, m, api_id in routes:
        table.add(pattern, m, api_id)
    for segs, method in paths:
        path = "/" + "/".join(segs)
        assert table.resolve(method, path) == _reference(routes, method, path), (routes, method, path)


@given(st.lists(st.sampled_from(["", "a", "b", "ab"]), min_size=2, max_size=5), st.text("ab", max_size=8))
def test_mixed_segments_match_as_the_regex_did(pieces, segment) -> None:
    rx = "[^/]+".join(re.escape(p) for p in pieces)
    assert mixed_match(tuple(pieces), segment) == bool(re.fullmatch(rx, segment))


def test_a_hostile_pattern_costs_nothing_per_request() -> None:
    table = RouteTable()
    table.add("/r/{a}{b}{c}{d}{e}{f}{g}{h}/z", None, "hostile")  # a legacy event: routed, not compiled
    t0 = time.perf_counter()
    for _ in range(100):
        assert table.resolve("GET", "/r/" + "x" * 4000 + "/y") is None
    assert time.perf_counter() - t0 < 1.0  # the regex took seconds for ONE such request
    assert table.resolve("GET", "/r/abcdefgh/z") == "hostile"


def test_paths_beyond_the_segment_limit_match_nothing() -> None:
    table = RouteTable()
    table.add("/{a}", None, "one")
    assert table.resolve("GET", "/x") == "one"
    assert table.resolve("GET", "/" + "/".join(["x"] * 40)) is None
