"""Throughput of Verifier.verify on a signed GET (4 signed headers, 3 query params).

Run: python tests/gateway/bench_verifier.py  (not collected by pytest)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[2])]

from gateway_fakes import (
    API_ID,
    APP_ID,
    APP_KEY,
    APP_SECRET,
    NOW,
    NOW_MS,
    Request,
    self_signed,
    shop_index,
    verifier_for,
)

from gateway.verifier import Verifier
from projections.decision import ApiSettings, Decision, Reason


class ConstantIndex:
    """An index answering in O(1) with prebuilt values: isolates the verifier's own cost."""

    def __init__(self) -> None:
        self._secret = (APP_ID, APP_SECRET)
        self._api = ApiSettings(api_id=API_ID, owner="owner-1")
        self._ok = Decision(True, Reason.OK, APP_ID, "{}")

    def secret_for(self, app_key: str) -> tuple[str, str] | None:
        return self._secret

    def app_for_code(self, app_code: str) -> str | None:
        return None

    def api_settings(self, api_id: str) -> ApiSettings | None:
        return self._api

    def check_app(self, app_id: str, api_id: str, stage: str, at: float) -> Decision:
        return self._ok


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


def measure(label: str, make: Callable[[], Verifier], n: int = 50_000, repeat: int = 7) -> None:
    """Print the best of ``repeat`` runs over n fresh requests (timeit's min convention)."""
    best = float("inf")
    for _ in range(repeat):
        batch = [(r.method, r.path, r.query, r.headers, r.body, API_ID) for r in requests(n)]
        verify = make().verify
        start = time.process_time()  # CPU time: robust to other processes sharing the cores
        for args in batch:
            verdict = verify(*args)
        best = min(best, time.process_time() - start)
        assert verdict.accepted, verdict.error_message
    print(f"{label}: {n / best:,.0f} verifications/s ({best / n * 1e6:.2f} µs each, CPU time)")


def main() -> None:
    """Measure with the test FakeIndex, then with a constant index."""
    measure("FakeIndex", lambda: verifier_for(shop_index()))
    measure("ConstantIndex", lambda: Verifier(ConstantIndex(), clock=lambda: NOW))


if __name__ == "__main__":
    main()
