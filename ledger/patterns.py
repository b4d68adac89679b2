"""Path patterns as data: their pieces, their specificity, and whether two can overlap.

A registered pattern such as ``/v1/items/{id}`` is split on ``/`` into segments; a segment is
a literal, a parameter ``{name}`` (any one non-empty segment), or, for patterns registered
before parameters had to be whole segments (ledger.rules), a *mixed* segment like
``{name}.json``, matched piece by piece with ``str.startswith``/``find``, never a regex.

The write side uses ``routes_overlap`` to refuse an API whose method + pattern could take
another API's requests (ledger.commands.groups); the gateway's segment trie
(authledger.gateway.routing) matches with the same pieces, so the two agree on what a
pattern matches.
"""

from __future__ import annotations

from ledger.rules import MAX_PATH_SEGMENTS as MAX_SEGMENTS  # longer paths match nothing


def split_params(segment: str) -> list[str]:
    """The literal pieces around a segment's ``{…}`` parameters: ``a{x}b{y}`` → [a, b, ""]."""
    pieces, i = [], 0
    while True:
        start = segment.find("{", i)
        if start < 0:
            pieces.append(segment[i:])
            return pieces
        end = segment.find("}", start)
        if end < 0:  # unbalanced: ledger.rules refuses it; treat the rest as literal
            pieces.append(segment[i:])
            return pieces
        pieces.append(segment[i:start])
        i = end + 1


def literal_length(pattern: str) -> int:
    return sum(len(p) for seg in pattern.split("/") for p in split_params(seg))


def param_count(pattern: str) -> int:
    return sum(len(split_params(seg)) - 1 for seg in pattern.split("/"))


def mixed_match(pieces: tuple[str, ...], segment: str) -> bool:
    """Does ``segment`` match literal ``pieces`` with a non-empty parameter between each two?

    Leftmost placement of each middle piece leaves the most room for the rest, so one pass
    decides it: O(len(segment) * pieces), no backtracking."""
    first, last = pieces[0], pieces[-1]
    if not segment.startswith(first) or not segment.endswith(last):
        return False
    limit = len(segment) - len(last)  # the parameters and middle pieces live in [len(first), limit)
    pos = len(first)
    for piece in pieces[1:-1]:
        found = segment.find(piece, pos + 1, limit - 1)
        if found < 0 or found + len(piece) > limit - 1:
            return False
        pos = found + len(piece)
    return limit - pos >= 1


# -- overlap: could one request match both? (ledger.commands.groups refuses such APIs) --


def _segment_kind(segment: str) -> tuple[str, tuple[str, ...]]:
    pieces = split_params(segment)
    if len(pieces) == 1:
        return "literal", (segment,)
    if pieces == ["", ""]:
        return "param", ()
    return "mixed", tuple(pieces)


def _segments_overlap(a: str, b: str) -> bool:
    """Is there one path segment that both pattern segments match (as ``RouteTable`` matches)?"""
    ka, pa = _segment_kind(a)
    kb, pb = _segment_kind(b)
    if ka == "literal" and kb == "literal":
        return a == b
    if ka == "literal":
        ka, pa, kb, pb, a, b = kb, pb, ka, pa, b, a  # the literal second
    if kb == "literal":
        if ka == "param":
            return b != ""  # a parameter matches any non-empty segment
        return mixed_match(pa, b)
    # parameter or mixed on both sides: a parameter matches any segment a mixed one does
    # (mixed segments always match some non-empty segment). Two mixed segments (only in
    # patterns registered before parameters had to be whole segments) are taken to overlap:
    # refusing a registration is safe, missing an overlap is not.
    return True


def patterns_overlap(a: str | None, b: str | None) -> bool:
    """Does some path match both patterns? A ``{param}`` segment matches any one non-empty
    segment, a literal only itself; patterns of different segment counts never overlap.
    No pattern (None: the API is reached only by ``X-Ca-Api-Id``) overlaps nothing."""
    if not a or not b:
        return False
    sa, sb = a.split("/")[1:], b.split("/")[1:]
    if len(sa) != len(sb) or len(sa) > MAX_SEGMENTS:
        return False
    return all(_segments_overlap(x, y) for x, y in zip(sa, sb))


def methods_overlap(a: str | None, b: str | None) -> bool:
    """None is any method."""
    return a is None or b is None or a.upper() == b.upper()


def routes_overlap(method_a: str | None, pattern_a: str | None, method_b: str | None, pattern_b: str | None) -> bool:
    """Could one request (method + path) be routed to both APIs?"""
    return methods_overlap(method_a, method_b) and patterns_overlap(pattern_a, pattern_b)
