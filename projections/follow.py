"""The follow loop: keep a projection up to date with the ledger's log.

The loop applies what is new (``select_notifications`` from the sink's position) whenever
the ledger's save listener wakes it (this process's writes at once; on PostgreSQL every
commit, through the ledger's LISTEN) and every ``poll_interval`` seconds otherwise (the
stock SQLite recorder has no subscription; other processes' writes are found by the poll).

A ``ProjectionError`` stops the loop loudly: ``run`` re-raises it, and the background
handle logs it at once, keeps it in ``error`` and re-raises it from ``stop()``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from projections.events import ProjectionError, Sink, apply_from
from projections.log import log_for

logger = logging.getLogger("authledger.follow")


class Follower:
    """Applies the ledger's new events to a sink, from ``start`` (or the sink's position)."""

    def __init__(self, ledger: Any, sink: Sink, *, start: int = 0, poll_interval: float = 0.05) -> None:
        self.ledger = ledger
        self.sink = sink
        self.poll_interval = poll_interval
        sink.position = max(sink.position, start)
        self.log = log_for(ledger)
        self._wake = threading.Event()
        self._listening = False
        self.reconnects = 0  # times the store went away and following resumed

    def catch_up(self) -> int:
        """Apply everything new; return how many events were applied."""
        return apply_from(self.log, self.sink)

    def _on_save(self, _position: int) -> None:
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Follow until ``stop`` is set (raises ProjectionError if an event cannot be applied).

        Woken at once by the ledger's save listener (this process's writes; on PostgreSQL
        also every other process's commit, through the ledger's own LISTEN, and once after
        each reconnect), and polling every ``poll_interval`` as a backstop. When the store
        goes away (PostgreSQL restarted, reads failing after the library's retries) the loop
        waits and resumes from the sink's position, so no event is skipped or applied twice.

        Not the library's ``recorder.subscribe()``: on PostgreSQL it pulls what is recorded
        before its LISTEN is in place, so a commit in that gap waited for the next one.
        """
        if not self._listening:
            self.ledger.add_save_listener(self._on_save)
            self._listening = True
        while not stop.is_set():
            self._wake.clear()
            try:
                self.catch_up()
            except ProjectionError:
                raise
            except Exception as e:
                if not _store_error(e) or stop.is_set():
                    raise
                self.reconnects += 1
                stop.wait(self.poll_interval * 4)
                continue
            self._wake.wait(self.poll_interval)

    def close(self) -> None:
        """Let go of the log reader (its SQLite connection)."""
        self.log.close()

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
        if not self._thread.is_alive():
            self.follower.close()
        if self.error is not None:
            raise self.error


def start_following(ledger: Any, index: Sink, *, poll_interval: float = 0.05) -> Following:
    """Follow the ledger into ``index`` in a background thread; returns a handle with ``stop()``."""
    return Following(Follower(ledger, index, poll_interval=poll_interval))


__all__ = ["Follower", "Following", "ProjectionError", "start_following"]
