"""AppSecrets and AppCodes never reach the audit index: every row of every table, on both stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from projections.temporal_sql import TABLES
from projections.temporal_store import open_index
from tests.audit.histories import T0


def _secrets_and_codes(ledger: Any) -> tuple[list[str], list[str]]:
    api = ledger.register_api("prov", "api", appcode_mode="HEADER", at=T0).ids["api_id"]
    secrets, codes = [], []
    for i in range(3):
        r = ledger.create_app("cons", f"app{i}", app_key=f"key-{i}-abcdefgh", app_code=f"Code{i}SecretSecret{i:04d}",
                              at=T0)
        secrets.append(r.revealed["app_secret"])
        codes.append(f"Code{i}SecretSecret{i:04d}")
        app = r.ids["app_id"]
        ledger.grant("prov", app, api, "RELEASE", at=T0)
        secrets.append(ledger.add_key_pair(app, "cons", app_key=f"more-{i}-abcdefgh", at=T0).revealed["app_secret"])
        secrets.append(ledger.reset_key_pair(f"key-{i}-abcdefgh", "cons", at=T0).revealed["app_secret"])
        new_code = f"Code{i}NewSecretCode{i:03d}"
        ledger.reset_app_code(codes[-1], "cons", new_code=new_code, at=T0)
        codes.append(new_code)
        codes.append(ledger.add_app_code(app, "cons", at=T0).revealed["app_code"])
    return secrets, codes


def test_no_app_secret_or_app_code_is_in_any_row_of_the_index(ledger: Any, db_path: str) -> None:
    db = db_path
    secrets, codes = _secrets_and_codes(ledger)
    store, _ = open_index(db)
    cells: list[bytes] = []
    for t in TABLES:
        for row in store.conn.execute(f"SELECT * FROM {t}"):
            cells += [bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else str(v).encode() for v in row]
    store.close()
    text = b"\x00".join(cells)
    assert len(cells) > 50 and b"****" in text  # masked AppCodes are there; the scan sees the rows
    for s in secrets + codes:
        assert s.encode() not in text and s.lower().encode() not in text
    if not db.startswith("postgresql:"):  # and the file's bytes, free pages and journal included
        files = [Path(db + ".audit.sqlite" + s) for s in ("", "-wal")]
        raw = b"".join(f.read_bytes() for f in files if f.exists())
        assert not any(s.encode() in raw for s in secrets + codes)
