"""The in-memory nonce store: per-AppKey, expiring, bounded, thread-safe."""

from __future__ import annotations

import threading

from gateway.nonces import InMemoryNonceStore, NonceStore


def test_a_nonce_is_new_once_then_seen_until_it_expires() -> None:
    store: NonceStore = InMemoryNonceStore()
    # Check first use records, second use within the TTL is a replay.
    assert store.seen("key-a", "n1", 10, now=100.0) is False
    assert store.seen("key-a", "n1", 10, now=109.9) is True
    # Check nonces are per AppKey.
    assert store.seen("key-b", "n1", 10, now=100.0) is False
    # Check that after expiry the nonce is new again.
    assert store.seen("key-a", "n1", 10, now=110.0) is False


def test_expired_nonces_are_purged() -> None:
    store = InMemoryNonceStore()
    for i in range(1000):
        store.seen("k", f"n{i}", 5 + i % 10, now=0.0)
    assert len(store) == 1000
    store.seen("k", "late", 5, now=1000.0)
    assert len(store) == 1


def test_concurrent_uses_of_one_nonce_succeed_exactly_once() -> None:
    store = InMemoryNonceStore()
    results: list[bool] = []
    barrier = threading.Barrier(16)

    def use() -> None:
        barrier.wait()
        results.append(store.seen("k", "same", 60, now=1.0))

    threads = [threading.Thread(target=use) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] + [True] * 15
