"""Routing section: which API a request is, with 10 and 10,000 registered APIs (issue 13.3).

Also a whole signed request through ``/authz`` (the real ASGI endpoint of ``authledger serve``,
called in process: canonical path, router, verifier, index) over a ledger holding 10 and then
10,000 registered APIs, p50/p99 side by side: what a request pays for the APIs it is not.

The route table (authledger.gateway.routing) against the regex-per-pattern scan it replaced, on the same
patterns and paths in the same run; p99 per lookup, since one slow lookup stalls /authz for
everyone. The hostile pattern ``/r/{a}{b}{c}{d}{e}{f}{g}{h}/z`` is refused at registration now;
one in an old event is still routed, and is measured here against the regex it once was.
"""

from __future__ import annotations

import random
import re
import statistics
import time

from authledger.gateway.routing import RouteTable
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


def _authz_latencies(n_apis: int, calls: int) -> tuple[float, float]:
    """p50/p99 (µs) of one signed GET through /authz, over a ledger holding ``n_apis`` APIs."""
    import asyncio

    from authledger.gateway.signing import sign, string_to_sign
    from ledger.bootstrap import open_ledger
    from authledger.service.app import create_app

    ledger = open_ledger(":memory:", key=bytes(32))
    for i, (pattern, method, _api) in enumerate(_patterns(n_apis - 1)):
        ledger.register_api("bench", f"api{i}", http_method=method, path_pattern=pattern, nonce_required=False)
    target = ledger.register_api("bench", "target", http_method="GET", path_pattern="/bench/items/{id}",
                                 nonce_required=False).ids["api_id"]
    key, secret = "bench-route-key-01", "BenchRouteSecret-0123456789abcdef"
    app_id = ledger.create_app("bench", "benchApp", app_key=key, app_secret=secret).ids["app_id"]
    ledger.grant("bench", app_id, target, "RELEASE")
    app = create_app(ledger, window=3600, access_log=False)
    try:
        service = app.state.service
        deadline = time.monotonic() + 60
        while not service.ready() and time.monotonic() < deadline:
            time.sleep(0.01)
        from authledger.service.authz import AuthzEndpoint

        endpoint = AuthzEndpoint(service)
        headers = [("X-Ca-Key", key), ("X-Ca-Timestamp", str(int(time.time() * 1000))),
                   ("X-Ca-Signature-Headers", "x-ca-key,x-ca-timestamp"), ("Accept", "application/json")]
        signature = sign(secret, string_to_sign("GET", "/bench/items/42", "", headers, None), "HmacSHA256")
        raw = [(k.lower().encode(), v.encode()) for k, v in [*headers, ("X-Ca-Signature", signature)]]
        raw += [(b"x-original-method", b"GET"), (b"x-original-uri", b"/bench/items/42"),
                (b"x-authz-mode", b"auth_request"), (b"host", b"api.example.com")]
        scope = {"type": "http", "method": "GET", "path": "/authz", "raw_path": b"/authz",
                 "query_string": b"", "headers": raw}
        statuses: list[int] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(int(message["status"]))  # type: ignore[arg-type]

        async def measure() -> list[float]:
            times = []
            for _ in range(calls):
                t0 = time.perf_counter()
                await endpoint(scope, receive, send)
                times.append(time.perf_counter() - t0)
            return times

        times = sorted(asyncio.run(measure()))
        assert set(statuses) == {200}, set(statuses)
        return statistics.median(times) * 1e6, times[int(len(times) * 0.99)] * 1e6
    finally:
        app.state.service.close()
        ledger.close()


def run(quick: bool) -> list[Row]:
    rows = []
    calls = 2_000 if quick else 20_000
    few50, few99 = _authz_latencies(10, calls)
    many = 2_000 if quick else 10_000
    many50, many99 = _authz_latencies(many, calls)
    rows.append(Row(SECTION, f"/authz signed GET p99, {many:,} APIs (in process)", round(many99, 1), "µs",
                    peer="same, 10 APIs", peer_value=round(few99, 1), goal="<= 1.5x the 10-API p99",
                    met=many99 <= 1.5 * few99))
    rows.append(Row(SECTION, f"/authz signed GET p50, {many:,} APIs (in process)", round(many50, 1), "µs",
                    peer="same, 10 APIs", peer_value=round(few50, 1)))
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
