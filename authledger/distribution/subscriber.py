"""The subscriber: a gateway's copy of the auth index, fed from Redis.

Bootstraps from the publisher's snapshot, then reads the stream from the snapshot's
position with blocking XREADs and applies each message strictly in position order:

- a message at or below the current position is skipped (already applied);
- a message whose ``prev`` is not the current position is a **gap** (trimmed stream,
  missed message): logged with the positions, then re-bootstrap;
- an entry that is not a valid message — garbage bytes, an unknown wire version, an entry
  id that is not ``<pos>-0`` of its message (a position going backwards), a change the
  index cannot apply — is logged with its entry id and position, remembered (so the
  re-read after the re-bootstrap skips it) and the subscriber re-bootstraps. Never a crash.

Fail-static: when Redis or the publisher is gone the index keeps answering as it stands;
the loop reconnects with exponential backoff and catches up. ``max_staleness`` makes
``GatewayIndex`` deny instead (and the sidecar answer 503), once the index's
**staleness** exceeds it: the age of the newest evidence that the *publisher* was alive
with nothing the index lacks —

- a heartbeat (``<prefix>:heartbeat``, read right after an XREAD in the same round trip,
  at most every ``HEARTBEAT_READ`` seconds), once the index has reached its position;
- an applied message.

Both are aged by their ``ts`` (the publisher's clock), capped at the moment this host
first read them, so a publisher clock running ahead cannot make a dead publisher look
alive for longer than one read; one running behind by d adds d to the staleness (fail
closed). Keep publisher and gateway clocks in NTP sync, as grant expiry already needs.

Contact with Redis alone proves nothing: a Redis whose publisher was SIGKILLed still
answers. A heartbeat that does not decode (garbled, hostile, another type) is counted,
logged once per value, and ignored — never a crash, never fresher. No heartbeat at all
(a publisher from before heartbeats) leaves only messages as evidence: upgrade
publishers first when gateways use ``max_staleness``.

Exposed: ``position``, ``lag`` (positions behind the last stream entry seen),
``lag_seconds`` (publish → applied of the last message), ``last_update`` (epoch time of
the last applied message or bootstrap), ``last_contact`` (Redis last answered),
``heartbeat_position``/``heartbeat_ts`` (the last valid heartbeat read), ``staleness``;
``status()``, what the health endpoints show, gives the instants as ISO 8601 UTC
(``ledger.isotime``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis

from authledger.distribution import DEFAULT_PREFIX, keys
from authledger.distribution.publisher import entry_position
from ledger.crypto import SecretBox
from ledger.errors import LedgerError
from ledger.isotime import iso
from projections.auth_index import AuthIndex
from projections.decision import ApiSettings, Decision, Reason
from projections.events import collector_paused
from projections.wire import Heartbeat, WireFormatError, decode_heartbeat, decode_message, decode_snapshot_chunk

log = logging.getLogger("authledger.subscriber")
HEARTBEAT_READ = 0.05  # seconds: the heartbeat is read with an XREAD at most this often


def _instant(epoch: float | None) -> str | None:
    return None if epoch is None else iso(datetime.fromtimestamp(epoch, UTC))


class _Rebootstrap(Exception):
    """The stream cannot be applied from here: load the snapshot again."""


class NoSnapshot(Exception):
    """Redis holds no snapshot (yet): the publisher has not written one."""


class Subscriber:
    """Keeps an AuthIndex current from a publisher's Redis stream (``run`` or ``start``)."""

    def __init__(self, client: Any, box: SecretBox | None, *, prefix: str = DEFAULT_PREFIX,
                 block_ms: int = 500, count: int = 1000, max_staleness: float | None = None,
                 backoff_max: float = 2.0, on_apply: Callable[[int], None] | None = None,
                 name: str = "subscriber") -> None:
        self.client = client
        self.box = box
        self.keys = keys(prefix)
        # Heartbeats are read once per XREAD: with a staleness bound, read at least 4 times in it.
        self.block_ms = block_ms if max_staleness is None else max(10, min(block_ms, int(max_staleness * 250)))
        self.count = count
        self.max_staleness = max_staleness
        self.backoff_max = backoff_max
        self.on_apply = on_apply
        self.name = name
        self.index = AuthIndex(box)
        self.view = GatewayIndex(self)
        self.bootstrapped = False
        self.connected = False
        self.head = 0
        self.lag_seconds = 0.0
        self.last_update: float | None = None
        self.last_contact: float | None = None
        self.fresh_at: float | None = None  # epoch seconds the index was last known current (module doc)
        self.heartbeat: Heartbeat | None = None  # the last valid heartbeat read
        self.heartbeats_malformed = 0
        self._heartbeat_raw: Any = None  # the heartbeat value last read (bytes), to see a new one
        self._awaited: tuple[int, float] | None = None  # (heartbeat position, its time) not reached yet
        self._heartbeat_read_at = 0.0  # monotonic time the heartbeat is next read
        self.bootstraps = 0
        self.gaps = 0
        self.malformed = 0
        self._cursor = "0-0"
        self._bad: OrderedDict[bytes, None] = OrderedDict()  # entry ids found malformed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    # -- state ------------------------------------------------------------------------

    @property
    def position(self) -> int:
        return self.index.position

    @property
    def lag(self) -> int:
        return max(0, self.head - self.index.position)

    def staleness(self, now: float | None = None) -> float:
        """Seconds since the publisher was last known alive with nothing the index lacks
        (inf before the first heartbeat or message): the module doc."""
        if self.fresh_at is None:
            return float("inf")
        return max(0.0, (time.time() if now is None else now) - self.fresh_at)

    def _fresh(self, at: float) -> None:
        if self.fresh_at is None or at > self.fresh_at:
            self.fresh_at = at

    def _reached(self) -> None:
        """The index reached the awaited heartbeat's position: fresh as of that heartbeat."""
        awaited = self._awaited
        if awaited is not None and self.index.position >= awaited[0]:
            self._awaited = None
            self._fresh(awaited[1])

    def _beat(self, raw: Any, read_at: float) -> None:
        """The heartbeat value, read by ``read_at``: note a new one."""
        if isinstance(raw, Exception):  # e.g. WRONGTYPE: something else took the key
            text = " ".join(str(raw).split())[:120]
            if text != self._heartbeat_raw:  # a str: never equal to a value read
                self.heartbeats_malformed += 1
                log.error("%s: cannot read the publisher heartbeat (%s); ignored", self.name, text)
                self._heartbeat_raw = text
            return
        if raw is None or raw == self._heartbeat_raw:
            return
        self._heartbeat_raw = raw
        try:
            beat = decode_heartbeat(raw)
        except WireFormatError as e:
            self.heartbeats_malformed += 1
            log.error("%s: malformed publisher heartbeat (%s); ignored", self.name, e)
            return
        self.heartbeat = beat
        # Aged by its own ts (the publisher's clock), capped at when it was read: a clock
        # running ahead cannot make a heartbeat fresher than its first sight here.
        self._awaited = (beat.pos, min(read_at, beat.ts))
        self._reached()

    def stale(self) -> bool:
        return self.max_staleness is not None and self.staleness() > self.max_staleness

    def status(self) -> dict[str, Any]:
        """What health endpoints report."""
        return {
            "position": self.position,
            "lag": self.lag,
            "lag_seconds": round(self.lag_seconds, 6),
            "last_update": _instant(self.last_update),
            "last_contact": _instant(self.last_contact),
            "staleness": None if self.fresh_at is None else round(self.staleness(), 3),
            "heartbeat_position": None if self.heartbeat is None else self.heartbeat.pos,
            "heartbeat_ts": None if self.heartbeat is None else _instant(self.heartbeat.ts),
            "heartbeats_malformed": self.heartbeats_malformed,
            "stale": self.stale(),
            "connected": self.connected,
            "bootstrapped": self.bootstrapped,
            "bootstraps": self.bootstraps,
            "gaps": self.gaps,
            "malformed": self.malformed,
        }

    # -- bootstrap --------------------------------------------------------------------

    def bootstrap(self) -> int:
        """Load the current snapshot into a fresh index and swap it in; return its position."""
        key = self.client.get(self.keys["pointer"])
        raw = self.client.lrange(key, 0, -1) if key else []
        if not raw:
            raise NoSnapshot("no snapshot in Redis yet")
        with collector_paused():  # like a ledger replay: see projections.events
            index = self._load(key, raw)
        pos = index.position
        self.index = index  # one reference swap: readers see the old index or the new one
        self._cursor = f"{pos}-0"
        self.head = max(self.head, pos)
        now = time.time()
        self.last_update = self.last_contact = now
        self.bootstraps += 1
        self.bootstrapped = True
        self._reached()  # a snapshot proves no publisher alive, but may reach an awaited heartbeat
        log.info("%s: bootstrapped from snapshot at position %d", self.name, pos)
        return pos

    def _load(self, key: bytes, raw: list[bytes]) -> AuthIndex:
        """A fresh index from the snapshot's chunks (raises WireFormatError)."""
        chunks = [decode_snapshot_chunk(c, check_each=False) for c in raw]
        pos = chunks[0].pos
        if [c.chunk for c in chunks] != list(range(len(chunks))) or any(
                c.pos != pos or c.of != len(chunks) for c in chunks):
            raise WireFormatError(f"snapshot {key!r} is incomplete or mixed")
        index = AuthIndex(self.box)
        # apply_change without its wrapper (hundreds of thousands of calls): an unknown kind
        # is a KeyError, a wrong arity a ValueError from the handler's unpacking.
        handlers = index._change_handlers
        try:
            for chunk in chunks:
                for change in chunk.changes:
                    handlers[change[0]](change)
        except (LedgerError, KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise WireFormatError(f"snapshot at {pos}: cannot apply a change ({type(e).__name__}: {e})") from None
        index.position = pos
        return index

    # -- the stream -------------------------------------------------------------------

    def read_once(self, block_ms: int | None = None) -> int:
        """One blocking XREAD; apply what came; return how many messages were applied."""
        # The stream and the heartbeat in one round trip: Redis runs the GET once XREAD
        # returns, so the heartbeat read is as of the reply, however long XREAD blocked.
        # Under a flood of messages (XREAD returning at once) the GET rides along at most
        # every HEARTBEAT_READ seconds; the messages themselves are evidence meanwhile.
        block = self.block_ms if block_ms is None else block_ms
        stream = {self.keys["stream"]: self._cursor}
        if time.monotonic() >= self._heartbeat_read_at:
            pipe = self.client.pipeline(transaction=False)
            pipe.xread(stream, count=self.count, block=block)
            pipe.get(self.keys["heartbeat"])
            reply, raw = pipe.execute(raise_on_error=False)
            if isinstance(reply, Exception):
                raise reply
            self._heartbeat_read_at = time.monotonic() + HEARTBEAT_READ
            self.connected = True
            self._beat(raw, time.time())
        else:
            reply = self.client.xread(stream, count=self.count, block=block)
            self.connected = True
        applied = 0
        entries = reply[0][1] if reply else []
        for entry_id, fields in entries:
            self._cursor = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            if entry_id in self._bad:
                continue
            applied += self._entry(entry_id, fields)
        if not entries or len(entries) < self.count:
            self.head = max(self.head, self.index.position)  # nothing more to read: current
            self.last_contact = time.time()
        return applied

    def _malformed(self, entry_id: bytes, why: str) -> None:
        self.malformed += 1
        self._bad[entry_id] = None
        while len(self._bad) > 10_000:
            self._bad.popitem(last=False)
        log.error("%s: malformed stream entry %s at position %d: %s; re-bootstrapping",
                  self.name, entry_id.decode("ascii", "replace"), self.index.position, why)
        raise _Rebootstrap()

    def _entry(self, entry_id: bytes, fields: dict[bytes, bytes]) -> int:
        try:
            id_pos, seq = entry_position(entry_id)
            message = decode_message(fields.get(b"m"))
        except (WireFormatError, ValueError) as e:
            self._malformed(entry_id, str(e))
        if seq != 0 or message.pos != id_pos:
            self._malformed(entry_id, f"entry id does not match its message's position {message.pos}")
        self.head = max(self.head, message.pos)
        index = self.index
        if message.pos <= index.position:
            return 0  # already applied
        if message.prev != index.position:
            self.gaps += 1
            log.warning("%s: gap in the stream: at position %d, next message starts from %d (entry %s); "
                        "re-bootstrapping", self.name, index.position, message.prev, entry_id.decode())
            raise _Rebootstrap()
        try:
            for change in message.changes:
                index.apply_change(change)
        except (LedgerError, KeyError, TypeError, ValueError, AttributeError) as e:
            self._malformed(entry_id, f"cannot apply a change ({type(e).__name__}: {e})")
        index.position = message.pos
        now = time.time()
        self.last_update = now
        self.lag_seconds = now - message.ts
        self._fresh(min(now, message.ts))  # the publisher was alive when it sent this
        self._reached()
        if self.on_apply is not None:
            self.on_apply(message.pos)
        return 1

    # -- the loop ---------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        """Bootstrap and follow until ``stop`` is set; never raises for Redis or wire trouble."""
        stop = stop or self._stop
        backoff = 0.05
        need_bootstrap = not self.bootstrapped
        while not stop.is_set():
            try:
                if need_bootstrap:
                    self.bootstrap()
                    need_bootstrap = False
                self.read_once()
                backoff = 0.05
            except _Rebootstrap:
                need_bootstrap = True
                stop.wait(min(backoff, 0.05))
                backoff = min(backoff * 2, self.backoff_max)
            except (redis.ConnectionError, redis.TimeoutError) as e:
                if self.connected:
                    log.warning("%s: Redis unreachable (%s) at position %d; answering from the index as is",
                                self.name, type(e).__name__, self.index.position)
                self.connected = False
                stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max)
            except (NoSnapshot, WireFormatError, redis.ResponseError) as e:
                log.warning("%s: cannot bootstrap yet (%s); retrying in %.2fs", self.name, e, backoff)
                need_bootstrap = True
                stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max)

    def start(self) -> Subscriber:
        """Run in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._main, name=f"authledger-{self.name}", daemon=True)
        self._thread.start()
        return self

    def _main(self) -> None:
        try:
            self.run(self._stop)
        except BaseException as e:  # pragma: no cover - run() handles its own failures
            log.exception("%s stopped", self.name)
            self.error = e

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_for(self, position: int, timeout: float = 10.0) -> bool:
        """Wait until the index reaches ``position`` (tests, readiness)."""
        deadline = time.monotonic() + timeout
        while self.index.position < position:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True


class GatewayIndex:
    """The subscriber's current index as the verifier and router see it (an AuthIndexView).

    Delegates to whichever index the subscriber holds now (a bootstrap swaps it), and
    denies every decision once the index is older than ``max_staleness``.
    """

    def __init__(self, subscriber: Subscriber) -> None:
        self._sub = subscriber

    @property
    def position(self) -> int:
        return self._sub.index.position

    @property
    def api_version(self) -> int:
        return self._sub.index.api_version

    def secret_for(self, app_key: str) -> tuple[str, str] | None:
        return self._sub.index.secret_for(app_key)

    def app_for_code(self, code: str) -> str | None:
        return self._sub.index.app_for_code(code)

    def api_settings(self, api_id: str) -> ApiSettings | None:
        return self._sub.index.api_settings(api_id)

    def api_ids(self) -> list[str]:
        return self._sub.index.api_ids()

    def hosts(self) -> dict[str, str]:
        return self._sub.index.hosts()

    def check(self, credential: str, api_id: str, stage: str, at: Any = None, *, kind: str = "app_key") -> Decision:
        if self._sub.max_staleness is not None and self._sub.stale():
            return Decision(False, Reason.NOT_AUTHORIZED, credential if kind == "app_id" else None)
        return self._sub.index.check(credential, api_id, stage, at, kind=kind)

    def digest(self) -> str:
        return self._sub.index.digest()
