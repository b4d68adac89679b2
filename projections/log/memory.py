"""The log of an in-memory ledger (``:memory:``, the library's POPO recorder), through the
recorder's public ``select_notifications``: what tests and throwaway servers read."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from projections.log import PAGE, Row, uuid_hex


def _row(n: Any) -> Row:
    return (n.id, n.originator_id.hex, n.originator_version, n.topic, bytes(n.state))


class MemoryLog:
    """An in-memory ledger's log (see the module)."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder

    def close(self) -> None:
        pass

    def max_position(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def batches(self, after: int = 0, until: int | None = None, page: int | None = None) -> Iterator[list[Row]]:
        page = page or PAGE
        while True:
            ns = self.recorder.select_notifications(after + 1, limit=page, stop=until)
            if ns:
                yield [_row(n) for n in ns]
            if len(ns) < page:
                return
            after = ns[-1].id

    def row(self, position: int) -> Row | None:
        ns = self.recorder.select_notifications(position, limit=1, stop=position)
        return _row(ns[0]) if ns else None

    def rows_at(self, positions: Iterable[int]) -> list[Row]:
        return [r for r in map(self.row, sorted(set(positions))) if r is not None]

    def rows_of(self, originator_id: str) -> list[Row]:
        h = uuid_hex(originator_id)
        return sorted((r for batch in self.batches() for r in batch if r[1] == h), key=lambda r: r[2])
