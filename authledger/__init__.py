"""authledger's edges and wiring, over the write side (``ledger``) and the read side (``projections``).

The layers only point down (pyproject.toml's import-linter contract, run by tests/test_layers.py):

- ``authledger.cli`` — the ``authledger`` command: parses arguments, wires everything below;
- ``authledger.service`` (the HTTP admin API, ``/authz`` and the sidecar's app),
  ``authledger.distribution`` (Redis: publisher, subscriber, shared nonces),
  ``authledger.reports`` (compliance reports), ``authledger.migrate`` (SQLite → PostgreSQL);
  none of these four imports another;
- ``authledger.gateway`` — request verification (digest signing, canonical paths, routing);
- ``projections`` — the read side: the auth index, the audit trail's temporal index;
- ``ledger`` — the domain, its use cases and their storage.
"""
