"""Routing section: which API a request is, with 10 and 10,000 registered APIs (issue 13.3).

The route table (gateway.routing) against the regex-per-pattern scan it replaced, on the same
patterns and paths in the same run; p99 per lookup, since one slow lookup stalls /authz for
everyone. The hostile pattern ``/r/{a}{b}{c}{d}{e}{f}{g}{h}/z`` is refused at registration now;
one in an old event is still routed, and is measured here against the regex it once was.
"""

from __future__ import annotations

import random
import re
import statistics
import time

from gateway.routing import RouteTable
from scripts.bench.common import Row

SECTION = "routing"
_PARAM = re.compile(r"\{[^{}/]*\}")


def _patterns(n: int) -> list[tuple[str, str | None, str]]:
    rng = random.Random(n)
    out = []
    for i in range(n):
        shape = i % 4
        if shape == 0:
            p = f"/svc{i}/items/{{id}}"
        elif shape == 1:
            p = f"/v1/tenant{i}/orders/{{order}}/lines/{{line}}"
        elif shape == 2:
            p = f"/api/{{region}}/t{i}/status"
        else:
            p = f"/static{i}/health"
        out.append((p, rng.choice([None, "GET", "POST"]), f"api-{i:05d}"))
    return out


def _paths(n: int, count: int) -> list[str]:
    rng = random.Random(7)
    paths = []
    for _ in range(count):
        i = rng.randrange(n)
        paths.append(rng.choice([f"/svc{i}/items/42", f"/v1/tenant{i}/orders/7/lines/3",
                                 f"/api/eu/t{i}/status", f"/static{i}/health", f"/nowhere/{i}"]))
    return paths


class RegexScan:
    """The router before issue 13.3: a compiled regex per pattern, most specific first."""

    def __init__(self, routes: list[tuple[str, str | None, str]]) -> None:
        found = []
        for pattern, m, api_id in routes:
            parts, last = [], 0
            for p in _PARAM.finditer(pattern):
                parts += [re.escape(pattern[last:p.start()]), "[^/]+"]
                last = p.end()
            parts.append(re.escape(pattern[last:]))
            key = (m is None, -len(_PARAM.sub("", pattern)), len(_PARAM.findall(pattern)), api_id)
            found.append((key, m, re.compile("".join(parts)), api_id))
        self.routes = [(m, rx, a) for _, m, rx, a in sorted(found, key=lambda r: r[0])]

    def resolve(self, method: str, path: str) -> str | None:
        for m, rx, api_id in self.routes:
            if (m is None or m == method) and rx.fullmatch(path):
                return api_id
        return None


def _p99_us(resolve, paths: list[str]) -> tuple[float, float]:
    times = []
    for path in paths:
        t0 = time.perf_counter()
        resolve("GET", path)
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times) * 1e6, times[int(len(times) * 0.99)] * 1e6


def run(quick: bool) -> list[Row]:
    rows = []
    lookups = 2_000 if quick else 20_000
    for n in (10, 10_000):
        routes = _patterns(n)
        table, scan = RouteTable(), RegexScan(routes)
        for r in routes:
            table.add(*r)
        paths = _paths(n, lookups)
        assert all(table.resolve("GET", p) == scan.resolve("GET", p) for p in paths[:500])
        t50, t99 = _p99_us(table.resolve, paths)
        s50, s99 = _p99_us(scan.resolve, paths[: max(200, lookups // (50 if n > 10 else 1))])
        rows.append(Row(SECTION, f"route lookup p99, {n:,} APIs", round(t99, 2), "µs",
                        peer="regex scan (the old router), same APIs", peer_value=round(s99, 2),
                        goal="< 50 µs" if n > 10 else "", met=(t99 < 50) if n > 10 else None))
        rows.append(Row(SECTION, f"route lookup p50, {n:,} APIs", round(t50, 2), "µs",
                        peer="regex scan p50", peer_value=round(s50, 2)))
    hostile = "/r/{a}{b}{c}{d}{e}{f}{g}{h}/z"
    table = RouteTable()
    table.add(hostile, None, "hostile")
    path = "/r/" + "x" * 26 + "/y"
    t0 = time.perf_counter()
    for _ in range(1_000):
        table.resolve("GET", path)
    ours = (time.perf_counter() - t0) / 1_000 * 1e6
    old = RegexScan([(hostile, None, "hostile")])
    t0 = time.perf_counter()
    old.resolve("GET", path)
    theirs = (time.perf_counter() - t0) * 1e6
    rows.append(Row(SECTION, "hostile legacy pattern /r/{a}…{h}/z, 26-character segment", round(ours, 2), "µs",
                    peer="the regex it once compiled to", peer_value=round(theirs, 1), goal="< 50 µs",
                    met=ours < 50))
    return rows
