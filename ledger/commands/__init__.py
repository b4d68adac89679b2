"""The ledger's use cases, one module per concept; ``ledger.application.Ledger`` has them all.

Each command validates its input, looks up what it acts on, checks the acting account's
rights and the state's rules, and only then saves everything it changes in one go
(``LedgerCore._run`` / ``_commit`` in ``ledger.core``): a refused command writes nothing.
"""
