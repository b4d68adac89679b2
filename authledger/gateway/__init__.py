"""Gateway side: verify digest (HMAC) and AppCode requests against the auth index."""
