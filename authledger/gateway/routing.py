"""Which API a (method, canonical path) is: a segment trie, no regular expressions.

A registered pattern such as ``/v1/items/{id}`` is split on ``/`` into segments; a segment is
a literal (matched exactly), a parameter ``{name}`` (any non-empty segment), or, for patterns
registered before parameters had to be whole segments (ledger.rules), a *mixed* segment like
``{name}.json``, matched piece by piece with ``str.startswith``/``find``, never a regex.
Tenant input never becomes code, and the cost of a lookup is bounded by the path's segment
count and the trie's branching, not by what a pattern's author wrote
(``/r/{a}{b}{c}{d}{e}{f}{g}{h}/z`` took seconds per request through a backtracking regex).

Of all matching APIs the most specific wins, as before: a method over ``ANY``, then the
longest literal text, then the fewest parameters, then the API id (deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.patterns import MAX_SEGMENTS, literal_length, mixed_match, param_count, split_params


@dataclass
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    param: _Node | None = None
    mixed: dict[tuple[str, ...], _Node] = field(default_factory=dict)
    ends: list[tuple[tuple[bool, int, int, str], str | None, str, str | None]] = field(default_factory=list)


class RouteTable:
    """Patterns → API ids, looked up segment by segment."""

    def __init__(self) -> None:
        self._root = _Node()

    def add(self, pattern: str, method: str | None, api_id: str, owner: str | None = None) -> None:
        segments = pattern.split("/")[1:]
        if len(segments) > MAX_SEGMENTS:
            return  # cannot match any path we look up
        node = self._root
        for seg in segments:
            pieces = split_params(seg)
            if len(pieces) == 1:
                node = node.literal.setdefault(seg, _Node())
            elif pieces == ["", ""]:
                node.param = node.param or _Node()
                node = node.param
            else:
                node = node.mixed.setdefault(tuple(pieces), _Node())
        key = (method is None, -literal_length(pattern), param_count(pattern), api_id)
        node.ends.append((key, method, api_id, owner))

    def resolve(self, method: str, path: str) -> str | None:
        """The most specific API whose method and pattern match ``path``, else None."""
        return self.resolve_owned(method, path)[0]

    def resolve_owned(self, method: str, path: str) -> tuple[str | None, bool]:
        """(the most specific matching API, whether matching APIs have more than one owner).

        Among hostless groups (authledger.service.authz.Router) two owners' APIs matching one request
        is an ambiguity the router refuses rather than hand the request to either."""
        segments = path.split("/")[1:]
        if not path.startswith("/") or len(segments) > MAX_SEGMENTS:
            return None, False
        method = method.upper()
        best: tuple[bool, int, int, str] | None = None
        found: str | None = None
        first_owner: str | None = None
        ambiguous = False
        stack = [(self._root, 0)]
        while stack:
            node, depth = stack.pop()
            if depth == len(segments):
                for key, m, api_id, owner in node.ends:
                    if m is None or m == method:
                        if found is None:
                            first_owner = owner
                        elif owner != first_owner:
                            ambiguous = True
                        if best is None or key < best:
                            best, found = key, api_id
                continue
            seg = segments[depth]
            child = node.literal.get(seg)
            if child is not None:
                stack.append((child, depth + 1))
            if seg:
                if node.param is not None:
                    stack.append((node.param, depth + 1))
                for pieces, sub in node.mixed.items():
                    if mixed_match(pieces, seg):
                        stack.append((sub, depth + 1))
        return found, ambiguous
