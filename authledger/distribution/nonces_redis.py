"""A NonceStore shared by every gateway: one Redis round trip per request, with an epoch.

Atomic set-if-absent with expiry, so a request replayed to any other gateway (or any
other ``authledger serve`` process) within the window is still refused ``Nonce Used``.
Keys are namespaced per AppKey: ``<prefix>:nonce:<len(app_key)>:<app_key>:<nonce>``
(the length keeps an AppKey containing ``:`` from colliding with another's nonce).
Expiry uses Redis's clock (relative TTL), so gateways need no shared clock for it.
A Redis failure raises (redis.ConnectionError): /authz answers 500, never accepts a
request whose nonce it could not record.

**The epoch (replay fence).** A Redis that lost its data (FLUSHALL, a restart without
persistence, a failover to a replica that had not received the last writes) has
forgotten nonces that were used. ``<prefix>:nonce-epoch`` holds the epoch milliseconds at
which the current nonce data began; each request runs one Lua script that reads it —
creating it with the caller's clock when it is missing or garbled, i.e. when Redis lost
it — and then claims the nonce. The epoch is this store's ``fence``: a request stamped
before it is refused ``Timestamp Expired`` by the verifier (authledger.gateway.nonces), on every
gateway, since they all read the same key.

A failover to a replica keeps the replicated epoch key while losing the nonces written
last, so the store also watches the server's identity: ``INFO server``'s ``run_id``
(new on every restart and different on every replica), read on **every new connection**
before it carries a command (redis-py's ``redis_connect_func`` hook: a reconnect after a
failover, transparent retries included, is checked before its first claim) and at most
every ``identity_every`` seconds on the connections in use (a proxy that switches servers
behind a kept connection). When it changes, the store writes a new epoch (its clock now),
fencing every gateway. A server restarted *with* its data (RDB/AOF) changes its run_id
too: the fence is then conservative (the last second of an AOF may be lost anyway).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from authledger.distribution import DEFAULT_PREFIX

log = logging.getLogger("authledger.nonces")

# KEYS[1] the nonce, KEYS[2] the epoch; ARGV[1] TTL ms, ARGV[2] the caller's clock, epoch ms.
# pcall: a key of another type (hostile or garbled) counts as missing and is replaced.
CLAIM = """
local raw = redis.pcall('GET', KEYS[2])
local epoch = nil
if type(raw) == 'string' then epoch = tonumber(raw) end
if epoch == nil or epoch ~= epoch then
  redis.call('SET', KEYS[2], ARGV[2])
  epoch = ARGV[2]
else
  epoch = raw
end
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return {0, epoch}
end
return {1, epoch}
"""


class RedisNonceStore:
    """authledger.gateway.nonces.NonceStore on a Redis client, with the Redis epoch as its fence."""

    def __init__(self, client: Any, *, prefix: str = DEFAULT_PREFIX, identity_every: float = 1.0,
                 clock: Any = time.time) -> None:
        self.client = client
        self.prefix = f"{prefix}:nonce:"
        self.epoch_key = f"{prefix}:nonce-epoch"
        self.identity_every = identity_every
        self.clock = clock
        self.fence = -math.inf  # known after the first claim
        self.run_id: str | None = None  # the Redis server's identity last seen
        self._check_at = 0.0  # monotonic time of the next identity check
        self._lock = threading.RLock()  # _server may open a connection, whose hook calls it again
        self._claim = client.register_script(CLAIM) if client is not None else None
        if client is not None:
            # Every new connection of this client says which server it reached before use.
            client.connection_pool.connection_kwargs["redis_connect_func"] = self._on_connect
            try:  # start the epoch now if Redis has none, so requests signed from now on pass
                self.check_identity()
            except Exception as e:  # noqa: BLE001 - Redis down at start: the first request retries
                log.warning("nonce store: Redis not reachable at start (%s); checking on first use",
                            type(e).__name__)

    def key(self, app_key: str, nonce: str) -> str:
        return f"{self.prefix}{len(app_key)}:{app_key}:{nonce}"

    def seen(self, app_key: str, nonce: str, ttl_seconds: float, now: float) -> bool:
        """Record the nonce; True if it was already there (unexpired). Updates ``fence``."""
        if time.monotonic() >= self._check_at:
            self.check_identity()
        ttl_ms = max(1, int(ttl_seconds * 1000))
        try:
            used, epoch = self._claim(keys=[self.key(app_key, nonce), self.epoch_key],
                                      args=[ttl_ms, int(self.clock() * 1000)])
        except Exception:
            self._check_at = 0.0  # after any Redis trouble, look at who answers before trusting it
            raise
        self._set_fence(epoch)
        return bool(used)

    def _set_fence(self, epoch: Any) -> None:
        try:
            value = float(epoch) / 1000.0
        except (TypeError, ValueError):  # the script only returns what tonumber() accepted
            value = math.inf
        if math.isnan(value):
            value = math.inf
        if value > self.fence:
            if self.fence != -math.inf:
                log.warning("nonce store: Redis nonce epoch moved to %.3f (Redis lost its data); "
                            "refusing requests stamped before it", value)
            self.fence = value
        # An epoch going backwards (someone wrote an older one) never lowers the fence.

    def check_identity(self) -> None:
        """Compare the server's run_id with the last one seen (on a pooled connection)."""
        if time.monotonic() < self._check_at:
            return
        try:
            info = self.client.info("server")
        except Exception:
            self._check_at = 0.0
            raise
        run_id = str(info.get("run_id", "")) if isinstance(info, dict) else ""
        self._server(run_id, lambda *args: self.client.execute_command(*args))
        self._check_at = time.monotonic() + self.identity_every

    def _on_connect(self, connection: Any) -> None:
        """redis-py's connect hook: the usual handshake, then the server's identity."""
        connection.on_connect()
        connection.send_command("INFO", "server")
        raw = connection.read_response()
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        run_id = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                       if line.startswith("run_id:")), "")

        def command(*args: Any) -> Any:
            connection.send_command(*args)
            return connection.read_response()

        self._server(run_id, command)

    def _server(self, run_id: str, command: Any) -> None:
        """A server answered with ``run_id``: start an epoch if none, a new one if it changed."""
        with self._lock:
            if self.run_id is None:  # the first look: a Redis without an epoch starts one now
                command("SET", self.epoch_key, int(self.clock() * 1000), "NX")
            elif run_id != self.run_id:
                epoch = int(self.clock() * 1000)
                command("SET", self.epoch_key, epoch)
                log.warning("nonce store: Redis server changed (run_id %s → %s: restart or failover); "
                            "new nonce epoch %d", self.run_id[:8], run_id[:8], epoch)
                self._set_fence(epoch)
            self.run_id = run_id
