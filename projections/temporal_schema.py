"""The audit index's tables and indexes, written once per dialect.

SQLite: the file beside a SQLite ledger (``<db>.audit.sqlite``). PostgreSQL: tables of their
own in a PostgreSQL ledger's database, named with the prefix ``audit_`` so that they sit
beside the ledger's ``ledger_events`` (``projections/temporal_pg.py``). The two say the
same thing: the same tables, columns (in the same order), keys and indexes; only the
dialect differs. ``text`` is ``TEXT COLLATE "C"`` on PostgreSQL (byte order, as SQLite
compares, so an ORDER BY gives the same rows in the same order), integers (µs instants,
positions) ``BIGINT``, the chain's blocks ``BYTEA``, the meta table's value ``TEXT``; the
column ``end`` is quoted there (a reserved word). ``tests/audit/test_schema.py`` checks
that both dialects' tables have the columns ``projections.temporal_sql.TABLES`` lists.

A change of layout bumps ``VERSION``: an index in another layout is derived data and is
built afresh.
"""

from __future__ import annotations

VERSION = "5"  # 5: API deletion (apis.deleted) and settings history (api_settings)

SQLITE = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)",
    ("CREATE TABLE IF NOT EXISTS apis (api_id TEXT PRIMARY KEY, owner TEXT, name TEXT, auth_type TEXT,"
     " appcode_mode TEXT, registered INTEGER, registered_pos INTEGER, deleted INTEGER, deleted_pos INTEGER)"),
    ("CREATE TABLE IF NOT EXISTS api_settings (api_id TEXT, start INTEGER, pos INTEGER, name TEXT,"
     " auth_type TEXT, appcode_mode TEXT)"),
    ("CREATE TABLE IF NOT EXISTS apps (app_id TEXT PRIMARY KEY, owner TEXT, created INTEGER,"
     " created_pos INTEGER, deleted INTEGER, deleted_pos INTEGER)"),
    "CREATE TABLE IF NOT EXISTS app_names (app_id TEXT, start INTEGER, pos INTEGER, name TEXT)",
    ("CREATE TABLE IF NOT EXISTS enabled_periods (id INTEGER PRIMARY KEY, app_id TEXT, start INTEGER,"
     " end INTEGER, start_pos INTEGER, end_pos INTEGER)"),
    ("CREATE TABLE IF NOT EXISTS cred_periods (id INTEGER PRIMARY KEY, app_id TEXT, cred TEXT, kind TEXT,"
     " display TEXT, start INTEGER, end INTEGER, start_pos INTEGER, end_pos INTEGER)"),
    ("CREATE TABLE IF NOT EXISTS grant_periods (id INTEGER PRIMARY KEY, app_id TEXT, api_id TEXT,"
     " stage TEXT, until INTEGER, start INTEGER, end INTEGER, start_pos INTEGER, end_pos INTEGER)"),
    "CREATE TABLE IF NOT EXISTS chain (block INTEGER PRIMARY KEY, data BLOB NOT NULL)",
]

# Created after a bulk build (cheaper than maintaining them row by row).
SQLITE_INDEXES = [
    # Covering: an at-T query reads only the index b-trees.
    "CREATE INDEX IF NOT EXISTS grant_by_api ON grant_periods (api_id, stage, start, end, until, app_id)",
    "CREATE INDEX IF NOT EXISTS grant_by_app ON grant_periods (app_id, api_id, stage, start)",
    "CREATE INDEX IF NOT EXISTS enabled_by_app ON enabled_periods (app_id, start, end)",
    "CREATE INDEX IF NOT EXISTS cred_by_app ON cred_periods (app_id, start, end, kind, cred, display)",
    "CREATE INDEX IF NOT EXISTS cred_by_cred ON cred_periods (cred, start)",
    "CREATE INDEX IF NOT EXISTS names_by_app ON app_names (app_id, start)",
    "CREATE INDEX IF NOT EXISTS settings_by_api ON api_settings (api_id, start, pos)",
    # The open periods only (a tenth of the rows), covering: a question at an instant at or
    # after the horizon (meta, ``TemporalStore.horizon``) reads only these, not the history.
    "CREATE INDEX IF NOT EXISTS grant_open ON grant_periods (api_id, stage, end, app_id, until) WHERE end IS NULL",
    "CREATE INDEX IF NOT EXISTS enabled_open ON enabled_periods (app_id, end) WHERE end IS NULL",
    "CREATE INDEX IF NOT EXISTS cred_open ON cred_periods (app_id, end, kind, cred, display) WHERE end IS NULL",
]

POSTGRES = [
    'CREATE TABLE IF NOT EXISTS audit_meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT)',
    ('CREATE TABLE IF NOT EXISTS audit_apis (api_id TEXT COLLATE "C" PRIMARY KEY, owner TEXT COLLATE "C",'
     ' name TEXT COLLATE "C", auth_type TEXT COLLATE "C", appcode_mode TEXT COLLATE "C", registered BIGINT,'
     ' registered_pos BIGINT, deleted BIGINT, deleted_pos BIGINT)'),
    ('CREATE TABLE IF NOT EXISTS audit_api_settings (api_id TEXT COLLATE "C", start BIGINT, pos BIGINT,'
     ' name TEXT COLLATE "C", auth_type TEXT COLLATE "C", appcode_mode TEXT COLLATE "C")'),
    ('CREATE TABLE IF NOT EXISTS audit_apps (app_id TEXT COLLATE "C" PRIMARY KEY, owner TEXT COLLATE "C",'
     ' created BIGINT, created_pos BIGINT, deleted BIGINT, deleted_pos BIGINT)'),
    ('CREATE TABLE IF NOT EXISTS audit_app_names (app_id TEXT COLLATE "C", start BIGINT, pos BIGINT,'
     ' name TEXT COLLATE "C")'),
    ('CREATE TABLE IF NOT EXISTS audit_enabled_periods (id BIGINT PRIMARY KEY, app_id TEXT COLLATE "C",'
     ' start BIGINT, "end" BIGINT, start_pos BIGINT, end_pos BIGINT)'),
    ('CREATE TABLE IF NOT EXISTS audit_cred_periods (id BIGINT PRIMARY KEY, app_id TEXT COLLATE "C",'
     ' cred TEXT COLLATE "C", kind TEXT COLLATE "C", display TEXT COLLATE "C", start BIGINT, "end" BIGINT,'
     ' start_pos BIGINT, end_pos BIGINT)'),
    ('CREATE TABLE IF NOT EXISTS audit_grant_periods (id BIGINT PRIMARY KEY, app_id TEXT COLLATE "C",'
     ' api_id TEXT COLLATE "C", stage TEXT COLLATE "C", until BIGINT, start BIGINT, "end" BIGINT,'
     ' start_pos BIGINT, end_pos BIGINT)'),
    "CREATE TABLE IF NOT EXISTS audit_chain (block BIGINT PRIMARY KEY, data BYTEA NOT NULL)",
]

POSTGRES_INDEXES = [
    ('CREATE INDEX IF NOT EXISTS audit_grant_by_api ON audit_grant_periods'
     ' (api_id, stage, start, "end", until, app_id)'),
    "CREATE INDEX IF NOT EXISTS audit_grant_by_app ON audit_grant_periods (app_id, api_id, stage, start)",
    'CREATE INDEX IF NOT EXISTS audit_enabled_by_app ON audit_enabled_periods (app_id, start, "end")',
    ('CREATE INDEX IF NOT EXISTS audit_cred_by_app ON audit_cred_periods'
     ' (app_id, start, "end", kind, cred, display)'),
    "CREATE INDEX IF NOT EXISTS audit_cred_by_cred ON audit_cred_periods (cred, start)",
    "CREATE INDEX IF NOT EXISTS audit_names_by_app ON audit_app_names (app_id, start)",
    "CREATE INDEX IF NOT EXISTS audit_settings_by_api ON audit_api_settings (api_id, start, pos)",
    ('CREATE INDEX IF NOT EXISTS audit_grant_open ON audit_grant_periods'
     ' (api_id, stage, "end", app_id, until) WHERE "end" IS NULL'),
    'CREATE INDEX IF NOT EXISTS audit_enabled_open ON audit_enabled_periods (app_id, "end") WHERE "end" IS NULL',
    ('CREATE INDEX IF NOT EXISTS audit_cred_open ON audit_cred_periods'
     ' (app_id, "end", kind, cred, display) WHERE "end" IS NULL'),
]
