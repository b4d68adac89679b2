"""Read models built from the ledger's event log: the auth index and its follow loop."""
