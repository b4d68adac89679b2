"""Compliance reports for auditors: access review, access changes, credential hygiene,
separation of duties — every figure read from the audit's temporal index."""
