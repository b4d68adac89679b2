"""A NonceStore shared by every gateway: one Redis ``SET key 1 NX PX ttl`` per request.

Atomic set-if-absent with expiry, so a request replayed to any other gateway (or any
other ``authledger serve`` process) within the window is still refused ``Nonce Used``.
Keys are namespaced per AppKey: ``<prefix>:nonce:<len(app_key)>:<app_key>:<nonce>``
(the length keeps an AppKey containing ``:`` from colliding with another's nonce).
Expiry uses Redis's clock (relative TTL), so gateways need no shared clock for it.
A Redis failure raises (redis.ConnectionError): /authz answers 500, never accepts a
request whose nonce it could not record.
"""

from __future__ import annotations

from typing import Any

from distribution import DEFAULT_PREFIX


class RedisNonceStore:
    """gateway.nonces.NonceStore on a Redis client."""

    def __init__(self, client: Any, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = f"{prefix}:nonce:"

    def key(self, app_key: str, nonce: str) -> str:
        return f"{self.prefix}{len(app_key)}:{app_key}:{nonce}"

    def seen(self, app_key: str, nonce: str, ttl_seconds: float, now: float) -> bool:
        """Record the nonce; True if it was already there (unexpired)."""
        ttl_ms = max(1, int(ttl_seconds * 1000))
        return self.client.set(self.key(app_key, nonce), b"1", nx=True, px=ttl_ms) is None
