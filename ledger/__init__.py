"""authledger's write side: the domain model, the application (use cases), storage glue."""
