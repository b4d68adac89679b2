"""The in-memory nonce store: per-AppKey, expiring, bounded, thread-safe (lock-free when hot)."""

from __future__ import annotations

import sys
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from authledger.gateway.nonces import InMemoryNonceStore, NonceStore


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


class ExpiringSet:
    """The contract, plainly: a nonce is seen while an unexpired record of it exists."""

    def __init__(self) -> None:
        self.expiry: dict[tuple[str, str], float] = {}

    def seen(self, app_key: str, nonce: str, ttl_seconds: float, now: float) -> bool:
        expiry = self.expiry.get((app_key, nonce))
        if expiry is not None and expiry > now:
            return True
        self.expiry[(app_key, nonce)] = now + ttl_seconds
        return False


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["k1", "k2"]),
            st.sampled_from(["n1", "n2", "n3", "n4"]),
            st.sampled_from([1, 2.5, 5, 10]),  # ints too: the claim must not rely on int identity
            st.sampled_from([0, 0, 0.5, 1, 2.5, 7, 30]),  # how far the clock moves
        ),
        max_size=80,
    )
)
def test_the_store_answers_like_an_expiring_set(calls: list[tuple[str, str, float, float]]) -> None:
    store, model = InMemoryNonceStore(), ExpiringSet()
    now: float = 1
    for app_key, nonce, ttl, step in calls:
        now += step
        assert store.seen(app_key, nonce, ttl, now) == model.seen(app_key, nonce, ttl, now)
    assert len(store) <= 2 * len(model.expiry)


def test_memory_is_bounded_by_two_generations() -> None:
    store = InMemoryNonceStore()
    for second in range(100):
        for i in range(50):
            store.seen("k", f"{second}-{i}", 10, now=float(second))
    assert len(store) <= 50 * 20  # at most two periods (2 × TTL) of nonces


def test_each_nonce_is_new_exactly_once_across_threads_and_rotations() -> None:
    # Eight threads race on the same 50 nonces per block, all at the block's time (callers'
    # clocks agree); the clock moves 0.3 s per block with a 1 s TTL, so generations rotate
    # every few blocks, at a call made under contention.
    store = InMemoryNonceStore()
    blocks = [[f"b{b}-n{i}" for i in range(50)] for b in range(120)]
    new: list[list[str]] = [[] for _ in range(8)]
    barrier = threading.Barrier(8)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:

        def race(mine: list[str]) -> None:
            for b, nonces in enumerate(blocks):
                barrier.wait()
                for nonce in nonces:
                    if not store.seen("k", nonce, 1.0, now=b * 0.3):
                        mine.append(nonce)

        threads = [threading.Thread(target=race, args=(mine,)) for mine in new]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    accepted = sorted(nonce for mine in new for nonce in mine)
    assert accepted == sorted(nonce for nonces in blocks for nonce in nonces)
    assert len(store) <= 50 * 8  # old generations were dropped


def test_a_claim_caught_by_a_rotation_is_still_exactly_once() -> None:
    # The race the lock-free path guards against, step by step: a call reads the
    # generations, another call rotates them, then the first claims in the old current one.
    store = InMemoryNonceStore()
    store.seen("k", "warm", 10, now=0.0)  # starts the clock: period 10 s
    current, _ = store._generations
    expiry = 5.0 + 10
    current[("k", "n")] = expiry  # the first call's claim ...
    store._generations = ({}, current)  # ... landed in a generation just rotated out
    # Its re-check sees the rotation and decides under the lock: its own claim is no replay.
    assert store._seen_locked(("k", "n"), expiry, 5.0, 10) is False
    # Everyone else sees the nonce as used, through either generation.
    assert store.seen("k", "n", 10, now=5.0) is True
    store._generations = ({}, store._generations[0])
    assert store.seen("k", "n", 10, now=5.0) is True


def test_a_call_that_claims_in_a_rotated_out_generation_defers_to_the_newer_claim() -> None:
    # Call X reads the generations; before its claim lands, call Y rotates them and claims
    # the same nonce in the new current generation (it found nothing in the old one).
    store = InMemoryNonceStore()
    store.seen("k", "warm", 10, now=0.0)  # starts the clock: period 10 s, next rotation at 10
    answers: list[bool] = []

    class OtherCallFirst(dict[tuple[str, str], float]):
        def setdefault(self, key: tuple[str, str], default: float) -> float:  # type: ignore[override]
            if not answers:
                store._generations = ({}, self)  # the rotation
                answers.append(store.seen("k", "n", 10, now=5.0))  # call Y
            return super().setdefault(key, default)

    store._generations = (OtherCallFirst(store._generations[0]), store._generations[1])
    answers.append(store.seen("k", "n", 10, now=5.0))  # call X
    assert answers == [False, True]  # Y was first; X is a replay


# -- the replay fence (issue 13, point 7) --------------------------------------------------


def test_a_request_stamped_before_the_store_began_is_refused_timestamp_expired() -> None:
    # The attack: a request used at a previous process (whose memory is gone) is replayed
    # to the new one, still inside the timestamp window. Its nonce is unknown here, so the
    # fence refuses what the store cannot vouch for, with the vendor's expired-timestamp error.
    from authledger.gateway.verifier import Verifier
    from tests.gateway.gateway_fakes import NOW, NOW_MS, shop_index
    from tests.gateway.test_gateway_attacks import check, shop_get

    store = InMemoryNonceStore(fence=NOW)  # this process started at NOW
    verifier = Verifier(shop_index(), nonce_store=store, clock=lambda: NOW + 5)
    before = shop_get(timestamp_ms=NOW_MS - 1)
    check(verifier.verify(*before.args()), 400, "Timestamp Expired")
    check(verifier.verify(*before.args()), 400, "Timestamp Expired")  # and again: never accepted
    # Check requests stamped at or after the start pass once, then are replays as usual.
    at = shop_get(timestamp_ms=NOW_MS)  # the same nonce: a fenced request burnt none
    assert verifier.verify(*at.args()).accepted
    check(verifier.verify(*at.args()), 400, "Nonce Used")
    assert verifier.verify(*shop_get(timestamp_ms=NOW_MS + 3000, nonce="another").args()).accepted


def test_the_fence_is_checked_after_the_signature_and_only_for_requests_with_a_nonce() -> None:
    from authledger.gateway.verifier import Verifier
    from tests.gateway.gateway_fakes import APP_KEY, NOW, NOW_MS, self_signed, shop_index
    from tests.gateway.test_gateway_attacks import shop_get

    store = InMemoryNonceStore(fence=NOW)
    verifier = Verifier(shop_index(), nonce_store=store, clock=lambda: NOW)
    # Check a forged request learns nothing about the fence: the signature fails first.
    forged = verifier.verify(*shop_get(timestamp_ms=NOW_MS - 1, secret="guess").args())
    assert forged.error_message is not None and forged.error_message.startswith("Invalid Signature")
    # Check a request without a nonce (nonce_required=False) has no replay protection to fence.
    headers = [("X-Ca-Key", APP_KEY), ("X-Ca-Timestamp", str(NOW_MS - 1000)),
               ("X-Ca-Signature-Headers", "X-Ca-Key,X-Ca-Timestamp")]
    request = self_signed("GET", "/v1/items", "page=1", headers)
    assert Verifier(shop_index(nonce_required=False), nonce_store=store, clock=lambda: NOW).verify(
        *request.args()).accepted


def test_a_verifier_without_a_store_has_no_fence_so_past_instants_still_verify() -> None:
    # verify-request --at T and tests with a frozen clock: a private store without a fence.
    from authledger.gateway.verifier import Verifier
    from tests.gateway.gateway_fakes import NOW, NOW_MS, shop_index
    from tests.gateway.test_gateway_attacks import shop_get

    assert InMemoryNonceStore().fence == float("-inf")
    verifier = Verifier(shop_index(), clock=lambda: NOW)
    assert verifier.verify(*shop_get(timestamp_ms=NOW_MS - 60_000).args()).accepted
