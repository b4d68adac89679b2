"""The recorded chain across block boundaries, recorded in pieces or at once."""

from __future__ import annotations

import random
import sqlite3

from projections import chain, temporal_schema

ROWS = [(p, f"{p % 97:032x}", p // 97 + 1, "authledger:GrantGiven" if p % 3 else "authledger:AppDisabled",
         bytes([p % 251]) * (p % 40)) for p in range(1, 10_001)]


def recorded(pieces: list[int]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    for ddl in temporal_schema.SQLITE:  # the audit index's tables, the chain's among them
        conn.execute(ddl)
    head, count, i = chain.GENESIS, 0, 0
    for size in pieces:
        rc = chain.RecordedChain(conn, head, count)  # a new process each time
        rc.extend(ROWS[i:i + size])
        rc.flush()
        head, count, i = rc.head, rc.count, i + size
    return conn


def test_pieces_and_one_go_record_the_same_blocks():
    rng = random.Random(5)
    pieces: list[int] = []
    while sum(pieces) < len(ROWS):
        pieces.append(rng.choice([1, 7, 4095, 4096, 4097, 1000]))
    a = recorded(pieces).execute("SELECT * FROM chain ORDER BY block").fetchall()
    b = recorded([len(ROWS)]).execute("SELECT * FROM chain ORDER BY block").fetchall()
    assert a == b and len(a) == 3
    assert [p for p, _ in chain.recorded_entries(recorded([len(ROWS)]))] == [r[0] for r in ROWS]


def test_verify_names_the_first_changed_row_past_a_block_boundary():
    conn = recorded([len(ROWS)])
    assert chain.verify(ROWS, chain.recorded_entries(conn)).ok
    bad = list(ROWS)
    bad[5000] = (*bad[5000][:4], bad[5000][4] + b"x")
    v = chain.verify(bad, chain.recorded_entries(conn))
    assert not v.ok and v.first_bad == 5001
