"""Throughput of Verifier.verify on a signed GET (4 signed headers, 3 query params).

Run: python tests/gateway/bench_verifier.py  (not collected by pytest)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[2])]

from gateway_fakes import API_ID, APP_KEY, NOW_MS, Request, self_signed, shop_index, verifier_for  # noqa: E402


def requests(n: int) -> list[Request]:
    """Return n distinct signed GETs (distinct nonces, so every one runs the full path)."""
    out = []
    for i in range(n):
        headers = [
            ("Host", "gw.example.com"),
            ("Accept", "application/json"),
            ("User-Agent", "bench/1"),
            ("X-Ca-Key", APP_KEY),
            ("X-Ca-Nonce", f"5b1d0c1e-0000-4000-8000-{i:012d}"),
            ("X-Ca-Timestamp", str(NOW_MS)),
            ("X-Ca-Signature-Method", "HmacSHA256"),
            ("X-Ca-Signature-Headers", "X-Ca-Key,X-Ca-Nonce,X-Ca-Signature-Method,X-Ca-Timestamp"),
        ]
        out.append(self_signed("GET", "/v1/items", "color=red&page=2&q=a+b%20c", headers))
    return out


def main(n: int = 50_000, repeat: int = 7) -> None:
    """Print the best of ``repeat`` runs over n fresh requests (timeit's min convention)."""
    best = float("inf")
    for _ in range(repeat):
        batch = [(r.method, r.path, r.query, r.headers, r.body, API_ID) for r in requests(n)]
        verify = verifier_for(shop_index()).verify
        start = time.process_time()  # CPU time: robust to other processes sharing the cores
        for args in batch:
            verdict = verify(*args)
        best = min(best, time.process_time() - start)
        assert verdict.accepted, verdict.error_message
    print(f"{n / best:,.0f} verifications/s ({best / n * 1e6:.2f} µs each, CPU time, best of {repeat})")


if __name__ == "__main__":
    main()
