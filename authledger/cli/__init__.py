"""The ``authledger`` command line."""
