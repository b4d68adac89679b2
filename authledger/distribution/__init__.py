"""Distributing the auth index to gateways over Redis: publisher, subscriber, shared nonces.

Redis lives only here (and in the CLI commands that need it). Every class receives a
client; ``connect(url)`` makes one with the timeouts these loops expect, and nothing
connects at import time. The wire format is ``projections.wire`` (docs/wire-format.md).
"""

from __future__ import annotations

from typing import Any

STREAM = "changes"  # key names: f"{prefix}:changes", f"{prefix}:snapshot", ...
DEFAULT_PREFIX = "authledger"


def connect(url: str, *, socket_timeout: float = 5.0) -> Any:
    """A redis-py client for ``url`` (``redis://host:port/db``); connects lazily, on first use.

    ``socket_timeout`` must exceed the subscriber's XREAD BLOCK time.
    """
    import redis

    return redis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=1.0,
                                health_check_interval=0)


def keys(prefix: str = DEFAULT_PREFIX) -> dict[str, str]:
    """The Redis keys a publisher and its subscribers share."""
    return {
        "stream": f"{prefix}:{STREAM}",
        "pointer": f"{prefix}:snapshot",  # → the key of the current snapshot (a list of chunks)
        "snapshot": f"{prefix}:snapshot:",  # + "<pos>:<random>"
        "heartbeat": f"{prefix}:heartbeat",  # the publisher's last heartbeat (one value, overwritten)
    }
