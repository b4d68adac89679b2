"""Replay protection: remember each (AppKey, nonce) until it can no longer pass the clock check.

``NonceStore.seen`` is the contract, chosen so a Redis store is one round trip:
``SET nonce:<app_key>:<nonce> 1 NX PX <ttl_ms>`` — a nil reply means "already seen".

``NonceStore.fence`` (epoch seconds) is the **replay fence**: the store cannot vouch for
nonces of requests stamped before it, because it did not exist then (a process-local
store made when its process started) or lost what it held (a Redis flushed, restarted
empty or failed over: authledger.distribution.nonces_redis). The verifier refuses a request carrying
a nonce whose timestamp is before the fence with 400 ``Timestamp Expired``, so a request
used before a restart cannot be replayed after it. ``-inf`` means no fence (a store that
remembers everything it was ever told, or one-shot tools such as ``verify-request``).
"""

from __future__ import annotations

import math
import threading
from typing import Protocol


class NonceStore(Protocol):
    """Records nonces per AppKey and tells whether one was already used."""

    def seen(self, app_key: str, nonce: str, ttl_seconds: float, now: float) -> bool:
        """Atomically record the nonce; return True if it was already present and unexpired."""
        ...

    @property
    def fence(self) -> float:
        """Epoch seconds before which this store cannot vouch for nonces (read after ``seen``)."""
        ...


Key = tuple[str, str]
Generation = dict[Key, float]


class InMemoryNonceStore:
    """A thread-safe, process-local NonceStore: two generations of dicts, lock-free when hot.

    Each entry maps (AppKey, nonce) to its expiry; a nonce counts as seen while its expiry
    is after ``now``, exactly as if it were remembered for ``ttl_seconds`` and then forgotten.
    Instead of a heap of expiries, whole generations are forgotten: the *current* dict takes
    new nonces; every ``period`` seconds (the largest TTL seen) it becomes the *previous*
    one and the old previous is dropped. An entry is recorded while its generation is
    current (before the rotation at ``rotate_at``), so it expires before ``rotate_at +
    period``, which is the earliest time its generation is dropped: nothing unexpired is ever
    forgotten. Memory is bounded by rate × 2 × TTL. Time is the callers' ``now``: like any
    store that expires by the caller's clock, it assumes callers' clocks agree.

    Atomicity without a lock on the hot path (CPython: ``dict.get`` and ``dict.setdefault``
    on str-tuple keys are each atomic under the GIL; rotation happens only under the lock
    and replaces the ``(current, previous)`` tuple in one assignment). A call reads that
    tuple once, checks ``previous``, then claims the nonce with ``current.setdefault``: of
    all calls that use the same ``current``, exactly one inserts. A call that inserted
    answers "new" only if ``current`` is still current afterwards; then any later call
    either uses the same ``current`` (its setdefault finds the claim) or starts after the
    rotation and finds the claim in ``previous`` (which it checks first), and every earlier
    call that used an older ``current`` and inserted there finds, on its own re-check, that
    a rotation happened. Such a call — and a call that meets an expired entry, which must be
    replaced — redoes the claim under the lock in the current generation, ignoring its own
    entry (recognised by identity: each call's expiry is a fresh float object).
    """

    def __init__(self, *, fence: float = -math.inf) -> None:
        # ``fence``: when this store began remembering (a server passes its start time;
        # requests stamped before it may have used their nonce in a previous process).
        self.fence = float(fence)
        self._generations: tuple[Generation, Generation] = ({}, {})  # (current, previous)
        self._period = 0.0
        self._rotate_at = -math.inf  # the first call takes the locked path and starts the clock
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Return how many entries are held (expired ones linger until their generation goes)."""
        current, previous = self._generations
        return len(current) + len(previous)

    def seen(self, app_key: str, nonce: str, ttl_seconds: float, now: float) -> bool:
        """Atomically record the nonce; return True if it was already present and unexpired."""
        expiry = now + ttl_seconds + 0.0  # a float object of its own (small ints are shared)
        if now >= self._rotate_at or ttl_seconds > self._period:
            return self._seen_locked((app_key, nonce), expiry, now, ttl_seconds)
        generations = self._generations
        current, previous = generations
        key = (app_key, nonce)
        found = previous.get(key)
        if found is not None and found > now:
            return True
        found = current.setdefault(key, expiry)
        if found is not expiry:
            return found > now or self._seen_locked(key, expiry, now, ttl_seconds)
        if self._generations is generations:
            return False
        return self._seen_locked(key, expiry, now, ttl_seconds)  # a rotation raced this call

    def _seen_locked(self, key: Key, expiry: float, now: float, ttl_seconds: float) -> bool:
        """The same decision under the lock: rotate if due, then claim in the current dict."""
        with self._lock:
            if ttl_seconds > self._period:
                self._period = float(ttl_seconds)
            if now >= self._rotate_at:
                current, _ = self._generations
                if now >= self._rotate_at + self._period:  # everything held has expired
                    self._generations = ({}, {})
                else:
                    self._generations = ({}, current)
                self._rotate_at = now + self._period
            current, previous = self._generations
            found = previous.get(key)
            if found is not None and found is not expiry and found > now:
                return True
            found = current.setdefault(key, expiry)
            if found is expiry:
                return False
            if found > now:
                return True
            # An expired entry: calls that meet it come here too, and wait for the lock.
            current[key] = expiry
            return False
