"""Snapshots of aggregates: loading an app costs its last events, not its whole history.

Every ``SNAPSHOT_INTERVAL`` versions of an aggregate whose stream grows without bound (apps,
APIs, API groups, host claims), the ledger stores the aggregate's state, after the
command's own transaction, in the library's snapshot store (SQLite: the ``stored_snapshots``
table of the same file; PostgreSQL: ``ledger_snapshots``). ``repository.get`` then reads the
newest snapshot and only the events after it.

The state is stored with the project transcoder (msgpack), so it must be plain: an aggregate
with richer state (``App``: key pairs, AppCodes, grants keyed by (API, stage)) names how to
flatten it (``snapshot_state``) and rebuild it (``restore_state``). Its ``class_version`` is
recorded with the state and ``upcast_vN_vN+1`` brings an older state up to date before it is
rebuilt, exactly as the library does for events. A snapshot holds what the aggregate holds:
secrets only sealed (AES-GCM) and AppCodes as keyed hashes, never in plaintext.

A snapshot is a cache of what the events say: it is never the only record of anything.
Deleting every snapshot (``DELETE FROM stored_snapshots``) only makes loads slower again; a
failed snapshot write leaves the command applied (its events are committed first).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Snapshot
from eventsourcing.utils import register_topic

# Every 100 versions: a cold load replays at most 99 events after the snapshot (~55 µs each,
# ~5 ms), and the write side pays one extra small write per 100 events (~1%).
SNAPSHOT_INTERVAL = 100


class LedgerSnapshot(Snapshot):
    """The library's ``Snapshot`` under a stable topic, with each aggregate's plain state."""

    TOPIC = "authledger:Snapshot"

    @classmethod
    def take(cls, aggregate: Any) -> LedgerSnapshot:
        taken = super().take(aggregate)
        flatten = getattr(type(aggregate), "snapshot_state", None)
        if flatten is None:
            return taken
        return cls(originator_id=taken.originator_id, originator_version=taken.originator_version,  # type: ignore[call-arg]
                   timestamp=taken.timestamp, topic=taken.topic, state=flatten(dict(taken.state)))

    def mutate(self, _: None) -> Any:
        aggregate = super().mutate(None)  # upcasts the state to the class's version
        restore = getattr(type(aggregate), "restore_state", None)
        if restore is not None:
            restore(aggregate.__dict__)
        return aggregate


register_topic(LedgerSnapshot.TOPIC, LedgerSnapshot)
