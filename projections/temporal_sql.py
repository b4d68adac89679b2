"""The audit index's SQL, written once in SQLite's dialect and spoken on PostgreSQL too.

The tables and indexes are written in each dialect (``projections/temporal_schema.py``);
every other statement of the index, its queries and the reports is written as SQLite runs it:
placeholders ``?`` or ``:name``, the column ``end`` unquoted, ``INSERT OR REPLACE``. On
SQLite it runs as written, on the ``sqlite3`` connection itself. On PostgreSQL,
``PgConnection`` rewrites each statement once (cached) before psycopg runs it:

- ``?`` → ``%s``, ``:name`` → ``%(name)s``, ``%`` → ``%%`` (quoted text is otherwise untouched);
- the word ``end`` → ``"end"`` (reserved there), except the ``END`` closing a ``CASE``
  (so no audit statement names the column ``end`` inside a ``CASE``);
- ``INSERT OR REPLACE INTO t ...`` → ``INSERT INTO t ... ON CONFLICT (key) DO UPDATE``
  setting every other column of ``t`` (``TABLES`` says which is the key);
- the index's tables (``TABLES``) are named with the prefix ``audit_``
  (``grant_periods`` → ``audit_grant_periods``): they sit beside the ledger's own table in
  its schema, so no table name here may be used as a column name or alias.

``executemany`` of a whole-row ``INSERT INTO t VALUES (?, ...)`` runs as ``COPY`` (a build
writes hundreds of thousands of rows).

Types (``TABLES``): ``text`` is ``TEXT COLLATE "C"`` (byte order, as SQLite compares, so an
ORDER BY gives the same rows in the same order), ``int`` is ``BIGINT`` (µs instants,
positions), ``blob`` is ``BYTEA``, ``any`` (the meta table's value) is ``TEXT``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

# (column, type) in the order of the tables (projections/temporal_schema.py, both dialects);
# the first column is the primary key when KEYED says so. What an upsert sets and COPY writes.
TABLES: dict[str, list[tuple[str, str]]] = {
    "meta": [("key", "text"), ("value", "any")],
    "apis": [("api_id", "text"), ("owner", "text"), ("name", "text"), ("auth_type", "text"),
             ("appcode_mode", "text"), ("registered", "int"), ("registered_pos", "int"),
             ("deleted", "int"), ("deleted_pos", "int")],
    "api_settings": [("api_id", "text"), ("start", "int"), ("pos", "int"), ("name", "text"),
                     ("auth_type", "text"), ("appcode_mode", "text")],
    "apps": [("app_id", "text"), ("owner", "text"), ("created", "int"), ("created_pos", "int"),
             ("deleted", "int"), ("deleted_pos", "int")],
    "app_names": [("app_id", "text"), ("start", "int"), ("pos", "int"), ("name", "text")],
    "enabled_periods": [("id", "int"), ("app_id", "text"), ("start", "int"), ("end", "int"),
                        ("start_pos", "int"), ("end_pos", "int")],
    "cred_periods": [("id", "int"), ("app_id", "text"), ("cred", "text"), ("kind", "text"), ("display", "text"),
                     ("start", "int"), ("end", "int"), ("start_pos", "int"), ("end_pos", "int")],
    "grant_periods": [("id", "int"), ("app_id", "text"), ("api_id", "text"), ("stage", "text"), ("until", "int"),
                      ("start", "int"), ("end", "int"), ("start_pos", "int"), ("end_pos", "int")],
    "chain": [("block", "int"), ("data", "blob")],
}
KEYED = {"meta", "apis", "apps", "enabled_periods", "cred_periods", "grant_periods", "chain"}
PREFIX = "audit_"


def _ident(name: str) -> str:
    return '"end"' if name == "end" else name


# -- statement translation ----------------------------------------------------------------

_TOKENS = re.compile(r"""'(?:[^']|'')*'|"[^"]*"|\?|:(?P<name>[A-Za-z_]\w*)|%|(?P<word>[A-Za-z_]\w*)|.""", re.DOTALL)
_UPSERT = re.compile(r"\s*INSERT\s+OR\s+REPLACE\s+INTO\s+(\w+)\b", re.IGNORECASE)
_PLAIN_INSERT = re.compile(r"\s*INSERT\s+INTO\s+(\w+)\s+VALUES\s*\((?:\s*\?\s*,)*\s*\?\s*\)\s*", re.IGNORECASE)


@lru_cache(maxsize=512)
def translate(statement: str) -> str:
    """A statement in the index's SQLite dialect, as psycopg runs it on PostgreSQL."""
    upsert = _UPSERT.match(statement)
    table = None
    if upsert:
        table = upsert.group(1)
        if table not in KEYED:
            raise ValueError(f"INSERT OR REPLACE into {table}, which has no key")
        statement = "INSERT INTO " + table + statement[upsert.end():]
    out: list[str] = []
    depth = 0  # open CASE expressions
    for m in _TOKENS.finditer(statement):
        tok = m.group(0)
        if tok == "?":
            out.append("%s")
        elif tok == "%":
            out.append("%%")
        elif tok[0] in "'\"":
            out.append(tok.replace("%", "%%"))  # psycopg reads placeholders inside quotes too
        elif m.group("name"):
            out.append(f"%({m.group('name')})s")
        elif m.group("word"):
            word = tok.lower()
            if word == "case":
                depth += 1
                out.append(tok)
            elif word == "end":
                if depth:
                    depth -= 1
                    out.append(tok)
                else:
                    out.append('"end"')
            elif word in TABLES:
                out.append(PREFIX + tok)
            else:
                out.append(tok)
        else:
            out.append(tok)
    text = "".join(out)
    if table is not None:
        key, *rest = [c for c, _t in TABLES[table]]
        sets = ", ".join(f"{_ident(c)} = EXCLUDED.{_ident(c)}" for c in rest)
        text += f" ON CONFLICT ({_ident(key)}) DO UPDATE SET {sets}"
    return text


# -- the connection -------------------------------------------------------------------------

class PgConnection:
    """A psycopg connection (autocommit) that speaks the index's SQLite dialect.

    ``execute`` and ``executemany`` take the statements and parameters the SQLite code
    passes to ``sqlite3``; ``execute`` returns a cursor (``fetchone``, ``fetchall``, iterable).
    ``transaction()`` is one PostgreSQL transaction; statements outside one commit alone.
    Connection failures become ``StoreUnavailable`` (exit 7, retriable) in one line.
    """

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, statement: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        with _unavailable_on_failure():
            return self.raw.execute(translate(statement), params)

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run the statement for each row; a whole-row ``INSERT INTO t VALUES (?, ...)`` of the
        index's tables goes through ``COPY`` instead (several times faster on a build)."""
        rows = list(rows)
        if not rows:
            return
        plain = _PLAIN_INSERT.fullmatch(statement)
        with _unavailable_on_failure(), self.raw.cursor() as cur:
            if plain and plain.group(1) in TABLES:
                with cur.copy(f"COPY {PREFIX}{plain.group(1)} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cur.executemany(translate(statement), rows)

    def execute_ddl(self, statement: str) -> None:
        """Run a statement written in PostgreSQL's own dialect (``projections/temporal_schema.py``), untranslated."""
        with _unavailable_on_failure():
            self.raw.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with _unavailable_on_failure(), self.raw.transaction():
            yield

    def close(self) -> None:
        self.raw.close()


@contextmanager
def _unavailable_on_failure() -> Iterator[None]:
    import psycopg

    try:
        yield
    except psycopg.OperationalError as e:
        from ledger.store import StoreUnavailable

        raise StoreUnavailable(
            f"audit index unavailable: {' '.join(str(e).split())[:200]}; retry the command") from None
