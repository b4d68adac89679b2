"""The follow loop: keep a projection up to date with the ledger's log.

On stores with a subscription (Postgres LISTEN/NOTIFY, the in-memory recorder) the
library's ``recorder.subscribe(gt=position)`` delivers new events. The stock SQLite
recorder has none (``subscribe()`` raises NotImplementedError), so there the loop polls
``select_notifications`` every ``poll_interval`` seconds (writes by other processes) and
is woken at once by the ledger's save listener (writes in this process).

A ``ProjectionError`` stops the loop loudly: ``run`` re-raises it, and the background
handle keeps it in ``error`` and re-raises it from ``stop()``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from projections.events import ProjectionError, Sink, apply_from, decode

logger = logging.getLogger("authledger.follow")


class Follower:
    """Applies the ledger's new events to a sink, from ``start`` (or the sink's position)."""

    def __init__(self, ledger: Any, sink: Sink, *, start: int = 0, poll_interval: float = 0.05) -> None:
        self.ledger = ledger
        self.sink = sink
        self.poll_interval = poll_interval
        sink.position = max(sink.position, start)
        self._wake = threading.Event()
        self._listening = False
        self.reconnects = 0  # times the store went away and following resumed

    def catch_up(self) -> int:
        """Apply everything new; return how many events were applied."""
        return apply_from(self.ledger.recorder, self.sink)

    def _on_save(self, _position: int) -> None:
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Follow until ``stop`` is set (raises ProjectionError if an event cannot be applied).

        When the store goes away (PostgreSQL restarted: the LISTEN connection drops, reads
        fail after the library's retries) the loop waits and resumes from the sink's
        position, so no event is skipped or applied twice.
        """
        while True:
            try:
                self.catch_up()
                if not stop.is_set() and self._run_subscription(stop):
                    return
                break
            except ProjectionError:
                raise
            except Exception as e:
                if not _store_error(e) or stop.is_set():
                    raise
                self.reconnects += 1
                stop.wait(self.poll_interval * 4)
        if not self._listening:
            self.ledger.add_save_listener(self._on_save)
            self._listening = True
        while not stop.is_set():
            self._wake.clear()
            self.catch_up()
            self._wake.wait(self.poll_interval)

    def _run_subscription(self, stop: threading.Event) -> bool:
        """Follow through the store's own subscription; False if the store has none."""
        try:
            subscription = self.ledger.recorder.subscribe(gt=self.sink.position)
        except NotImplementedError:
            return False
        stopper = threading.Thread(target=lambda: (stop.wait(), subscription.stop()), daemon=True)
        stopper.start()
        with subscription:
            for n in subscription:
                if stop.is_set():
                    break
                if n.id <= self.sink.position:
                    continue
                self.sink.apply(n.id, n.topic, n.originator_id, decode(n.id, n.topic, n.state))
        return True

    def stop_waking(self) -> None:
        """Wake a sleeping ``run`` (used by the background handle on stop)."""
        self._wake.set()


def _store_error(e: BaseException) -> bool:
    """A connection or lock error of the store (eventsourcing's persistence errors, sqlite3's)."""
    import sqlite3

    from eventsourcing.persistence import InterfaceError, OperationalError

    return isinstance(e, (InterfaceError, OperationalError, sqlite3.OperationalError))


class Following:
    """A follower running in a daemon thread."""

    def __init__(self, follower: Follower) -> None:
        self.follower = follower
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="authledger-follow", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            self.follower.run(self._stop)
        except BaseException as e:  # noqa: BLE001 - kept and re-raised from stop()
            self.error = e
            # Said at once, not at shutdown: from now on the index misses every change
            # (a revocation, a disable), and whoever serves from it must refuse (503).
            logger.error("the index stopped following the ledger at position %d: %s: %s",
                         self.follower.sink.position, type(e).__name__, str(e)[:300])

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop following; re-raise the error that stopped it, if any."""
        self._stop.set()
        self.follower.stop_waking()
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error


def start_following(ledger: Any, index: Sink, *, poll_interval: float = 0.05) -> Following:
    """Follow the ledger into ``index`` in a background thread; returns a handle with ``stop()``."""
    return Following(Follower(ledger, index, poll_interval=poll_interval))


__all__ = ["Follower", "Following", "ProjectionError", "start_following"]
