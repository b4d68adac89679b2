"""authledger's HTTP service: the admin API, the gateway check endpoint, health."""
