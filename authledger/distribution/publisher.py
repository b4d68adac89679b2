"""The publisher: follows the ledger and appends its index changes to a Redis Stream.

Exactly-once without a second store: each stream entry's id is ``<pos>-0``, the ledger
position its message brings an index to. Redis refuses an XADD whose id is not above the
stream's last one, so the stream's last entry *is* the durable published position:

- killed (SIGKILL) after XADD, it restarts from the stream's last entry — nothing twice;
- killed before XADD, that entry is not there and is published again — nothing lost;
- a re-XADD of an already published position fails and is skipped.

Every message also carries ``prev`` (the position it starts from), so subscribers see a
missing message as ``prev != their position``. Messages are one per page of ledger
events (up to ``page``), including pages whose events change nothing in the index
(claims, tokens), so positions stay contiguous.

Snapshots: every ``snapshot_every`` seconds (and whenever the stream has grown by half its
length since the last one, so trimming never outruns the snapshot) the whole index is
written as chunks to a new list key, then a MULTI swaps the pointer key to it and gives
the old snapshot a minute to live. The stream is trimmed with ``MAXLEN ~ maxlen``.

Heartbeat: every ``heartbeat_every`` seconds (default 1) the publishing loop overwrites the
key ``<prefix>:heartbeat`` with ``{"v": 1, "pos": <published>, "ts": <now>}`` (wire.py): one
key, so heartbeats never grow the stream nor push real messages out of it, and
subscribers that predate them never read it. Written by the loop that reads the ledger,
so a publisher stuck on its ledger or killed stops beating, and gateways with
``--max-staleness`` refuse once the heartbeat is older than that (subscriber.py).

If Redis has neither stream nor snapshot (first run, or Redis lost its data) the
publisher snapshots the ledger's current state at once and publishes from there.
When Redis is unreachable it keeps its unsent message and retries with backoff.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

import redis

from authledger.distribution import DEFAULT_PREFIX, keys
from projections.auth_index import AuthIndex
from projections.changes import Change
from projections.events import decode
from projections.log import UuidCache, log_for
from projections.wire import encode_heartbeat, encode_message, encode_snapshot

log = logging.getLogger("authledger.publisher")
PAGE = 1000
HEARTBEAT_EVERY = 1.0  # seconds between heartbeats
OLD_SNAPSHOT_TTL = 60  # seconds a replaced snapshot stays readable (a subscriber mid-read)


def entry_position(entry_id: bytes | str) -> tuple[int, int]:
    """(ms, seq) of a stream entry id ``b"<ms>-<seq>"``."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class Publisher:
    """Publishes a ledger's index changes to Redis (``run`` until stopped)."""

    def __init__(self, ledger: Any, client: Any, *, prefix: str = DEFAULT_PREFIX, maxlen: int = 100_000,
                 snapshot_every: float = 60.0, poll_interval: float = 0.01, page: int = PAGE,
                 heartbeat_every: float | None = HEARTBEAT_EVERY) -> None:
        self.ledger = ledger
        self.client = client
        self.keys = keys(prefix)
        self.maxlen = maxlen
        self.snapshot_every = snapshot_every
        self.poll_interval = poll_interval
        self.page = page
        self.heartbeat_every = heartbeat_every  # None: no heartbeats (what publishers before them did)
        self.heartbeats = 0
        self.index = AuthIndex(ledger.box)
        self.published = 0  # the last position known to be in the stream
        self.snapshot_position = -1
        self.snapshot_time = 0.0
        self.messages = 0
        self._pending: tuple[int, bytes] | None = None
        self._wake = threading.Event()
        self._recovered = False
        self._since_snapshot = 0  # messages since the last snapshot
        self._ids = UuidCache()
        self.log = log_for(ledger)

    # -- start ------------------------------------------------------------------------

    def recover(self) -> int:
        """Find the durable published position in Redis and build the index up to it."""
        c, k = self.client, self.keys
        last = c.xrevrange(k["stream"], "+", "-", count=1)
        stream_pos = entry_position(last[0][0])[0] if last else 0
        pointer = c.get(k["pointer"])
        snap_pos = int(pointer.decode().split(":")[-2]) if pointer else 0
        self.index = AuthIndex(self.ledger.box)
        if not last and not pointer:
            # Nothing in Redis: start from the ledger as it is now, snapshot first.
            self._catch_up_silently(None)
            self.published = self.index.position
            log.info("publisher: empty Redis; snapshotting the ledger at position %d", self.published)
            self.snapshot()
        else:
            self.published = max(stream_pos, snap_pos)
            self._catch_up_silently(self.published)
            self.index.position = self.published
            self.snapshot_position = snap_pos
            self.snapshot_time = time.monotonic()
            log.info("publisher: resuming after position %d (snapshot at %d)", self.published, snap_pos)
        self._cleanup_orphans()
        self._recovered = True
        return self.published

    def _catch_up_silently(self, until: int | None) -> None:
        from projections.events import apply_from

        apply_from(self.log, self.index, until=until)

    def _cleanup_orphans(self) -> None:
        """Snapshots written by a publisher killed before its pointer swap: let them expire."""
        current = self.client.get(self.keys["pointer"])
        for key in self.client.scan_iter(match=self.keys["snapshot"] + "*", count=1000):
            if key != current and self.client.ttl(key) == -1:
                self.client.expire(key, OLD_SNAPSHOT_TTL)

    # -- publishing -------------------------------------------------------------------

    def _next_message(self) -> tuple[int, bytes] | None:
        """Read one page of new ledger events, apply it to the own index, encode the changes made."""
        index = self.index
        prev = index.position
        rows = next(self.log.batches(prev, None, self.page), None)
        if not rows:
            return None
        # The publisher is a sink of the index's own changes: AuthIndex.apply returns what it
        # applied (raising ProjectionError, naming the row, on anything it cannot apply), and
        # exactly that goes on the wire, so the gateways' copies apply what this index did.
        changes: list[Change] = []
        apply, ids = index.apply, self._ids
        for position, originator_id, _version, topic, data in rows:
            changes += apply(position, topic, ids[originator_id], decode(position, topic, data))
        pos = rows[-1][0]  # index.position too: apply moved it event by event
        return pos, encode_message(prev, pos, changes)

    def _xadd(self, pos: int, data: bytes) -> bool:
        """Append one message as entry ``<pos>-0``; False if that position is already there."""
        try:
            self.client.xadd(self.keys["stream"], {"m": data}, id=f"{pos}-0", maxlen=self.maxlen,
                             approximate=True)
        except redis.ResponseError as e:
            if "equal or smaller" in str(e):
                log.info("publisher: position %d already published; skipped", pos)
                return False
            raise
        return True

    def publish_once(self) -> int:
        """Publish what is new (at most one page); return the position published, or 0."""
        if self._pending is None:
            self._pending = self._next_message()
            if self._pending is None:
                return 0
        pos, data = self._pending
        if self._xadd(pos, data):
            self.messages += 1
        self._pending = None
        self.published = pos
        return pos

    def snapshot(self) -> int:
        """Write the whole index as a new snapshot and swap the pointer to it (MULTI)."""
        c, k = self.client, self.keys
        pos = self.index.position
        chunks = encode_snapshot(pos, self.index.changes())
        key = f"{k['snapshot']}{pos}:{uuid.uuid4().hex[:12]}"
        pipe = c.pipeline(transaction=False)
        for i in range(0, len(chunks), 16):
            pipe.rpush(key, *chunks[i : i + 16])
        pipe.execute()
        old = c.get(k["pointer"])
        pipe = c.pipeline(transaction=True)
        pipe.set(k["pointer"], key)
        if old and old != key.encode():
            pipe.expire(old, OLD_SNAPSHOT_TTL)
        pipe.execute()
        self.snapshot_position = pos
        self.snapshot_time = time.monotonic()
        log.info("publisher: snapshot at position %d (%d chunks)", pos, len(chunks))
        return pos

    def heartbeat(self) -> None:
        """Say "alive, everything up to ``published`` is in the stream" (one SET, overwritten)."""
        self.client.set(self.keys["heartbeat"], encode_heartbeat(self.published))
        self.heartbeats += 1

    def _snapshot_due(self) -> bool:
        if self.index.position == self.snapshot_position:
            return False
        if time.monotonic() - self.snapshot_time >= self.snapshot_every:
            return True
        # Trimming must never outrun the snapshot: snapshot after half a stream's worth.
        return self._since_snapshot >= max(1, self.maxlen // 2)

    # -- the loop ---------------------------------------------------------------------

    def wake(self, _position: int = 0) -> None:
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Publish until ``stop`` is set; survives Redis outages (retry with backoff)."""
        self.ledger.add_save_listener(self.wake)
        backoff = 0.05
        check_pointer_at = 0.0
        heartbeat_at = 0.0  # the first round beats at once
        while not stop.is_set():
            try:
                if not self._recovered:
                    self.recover()
                self._wake.clear()
                pos = self.publish_once()
                if pos:
                    self._since_snapshot += 1
                now = time.monotonic()
                if now >= check_pointer_at:  # Redis may have lost its data (restart without persistence)
                    check_pointer_at = now + 1.0
                    if not self.client.exists(self.keys["pointer"]):
                        log.warning("publisher: no snapshot in Redis; writing one at %d", self.index.position)
                        self.snapshot_position = -1
                        self.snapshot()
                        self._since_snapshot = 0
                if self._snapshot_due():
                    self.snapshot()
                    self._since_snapshot = 0
                if self.heartbeat_every is not None and time.monotonic() >= heartbeat_at:
                    self.heartbeat()
                    heartbeat_at = time.monotonic() + self.heartbeat_every
                backoff = 0.05
                if not pos:
                    self._wake.wait(self.poll_interval)
            except (redis.ConnectionError, redis.TimeoutError) as e:
                log.warning("publisher: Redis unreachable (%s); retrying in %.2fs at position %d",
                            type(e).__name__, backoff, self.published)
                stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)


class Publishing:
    """A publisher running in a daemon thread (tests, benchmarks, embedding)."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="authledger-publish", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            self.publisher.run(self._stop)
        except BaseException as e:
            log.exception("publisher stopped")
            self.error = e

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.publisher.wake()
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
