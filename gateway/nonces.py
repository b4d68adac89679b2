"""Replay protection: remember each (AppKey, nonce) until it can no longer pass the clock check.

``NonceStore.seen`` is the whole contract, chosen so a Redis store is one command:
``SET nonce:<app_key>:<nonce> 1 NX PX <ttl_ms>`` — a nil reply means "already seen".
"""

from __future__ import annotations

import threading
from heapq import heappop, heappush
from typing import Protocol


class NonceStore(Protocol):
    """Records nonces per AppKey and tells whether one was already used."""

    def seen(self, app_key: str, nonce: str, ttl_seconds: float, now: float) -> bool:
        """Atomically record the nonce; return True if it was already present and unexpired."""
        ...


class InMemoryNonceStore:
    """A thread-safe, process-local NonceStore whose memory is bounded by rate × TTL."""

    def __init__(self) -> None:
        self._expiry: dict[tuple[str, str], float] = {}
        self._queue: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Return how many nonces are remembered (expired ones may linger until the next call)."""
        return len(self._expiry)

    def seen(self, app_key: str, nonce: str, ttl_seconds: float, now: float) -> bool:
        """Atomically record the nonce; return True if it was already present and unexpired."""
        key = (app_key, nonce)
        table, queue = self._expiry, self._queue
        with self._lock:
            if queue and queue[0][0] <= now:
                self._purge(now)
            expiry = table.get(key)
            if expiry is not None and expiry > now:
                return True
            expiry = now + ttl_seconds
            table[key] = expiry
            heappush(queue, (expiry, key))
            return False

    def _purge(self, now: float) -> None:
        """Forget every nonce whose expiry has passed (caller holds the lock)."""
        queue, table = self._queue, self._expiry
        while queue and queue[0][0] <= now:
            expiry, key = heappop(queue)
            if table.get(key) == expiry:
                del table[key]
