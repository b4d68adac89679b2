"""Console sessions: a random id in an HttpOnly, SameSite=Strict cookie; the token stays on
the server.

A session holds the bearer token it was opened with and a CSRF token. Every request looks
the bearer token up again (ledger.tokens.principal_for_token), so a session ends the moment
its token is revoked or expires, with no state of its own to go stale. Sessions also end
after ``IDLE`` seconds without a request and ``LIFETIME`` seconds after log-in. They live
in the serving process's memory: a restart logs everyone out, and several ``serve``
processes behind one balancer need sticky sessions (docs/console.md).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

COOKIE = "authledger_console"
IDLE = 30 * 60
LIFETIME = 12 * 3600
MAX_SESSIONS = 10_000
_ID_LENGTH = 43  # token_urlsafe(32)


@dataclass
class Session:
    token: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    created: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)


class Sessions:
    """The open sessions of this process, by id."""

    def __init__(self, idle: float = IDLE, lifetime: float = LIFETIME, limit: int = MAX_SESSIONS) -> None:
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()
        self.idle, self.lifetime, self.limit = idle, lifetime, limit

    def open(self, token: str) -> tuple[str, Session]:
        """A new session for ``token`` (the caller checked it); its id for the cookie."""
        sid = secrets.token_urlsafe(32)
        session = Session(token)
        with self._lock:
            self._expire(time.monotonic())
            if len(self._by_id) >= self.limit:  # bounded: the oldest session goes first
                oldest = min(self._by_id, key=lambda k: self._by_id[k].seen)
                del self._by_id[oldest]
            self._by_id[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        """The live session of a cookie value, else None (unknown, malformed, idle or too old)."""
        if not sid or len(sid) != _ID_LENGTH:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._by_id.get(sid)
            if session is None:
                return None
            if now - session.seen > self.idle or now - session.created > self.lifetime:
                del self._by_id[sid]
                return None
            session.seen = now
            return session

    def close(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)

    def _expire(self, now: float) -> None:
        dead = [k for k, s in self._by_id.items() if now - s.seen > self.idle or now - s.created > self.lifetime]
        for k in dead:
            del self._by_id[k]


def csrf_ok(session: Session, sent: object) -> bool:
    """The form's CSRF token is the session's (compared in constant time)."""
    return isinstance(sent, str) and hmac.compare_digest(session.csrf.encode(), sent.encode())
