#!/usr/bin/env python3
"""Send one signed request, as an app would, and print the answer.

    AUTHLEDGER_APP_SECRET=... scripts/call_api.py --app-key K GET http://127.0.0.1:8080/authz/v1/weather/paris

The secret is read from $AUTHLEDGER_APP_SECRET (never from the command line, where shell
history and `ps` would keep it). A URL on authledger's `/authz` (`/authz/<path>`) asks the
check endpoint directly; any other URL goes through whatever gateway serves it.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
from urllib.parse import urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from authledger.gateway.client import sign_headers  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("method")
    p.add_argument("url")
    p.add_argument("--app-key", required=True)
    p.add_argument("--stage", default="RELEASE", choices=["RELEASE", "PRE", "TEST"])
    p.add_argument("--data", default="", help="request body (JSON is sent with Content-MD5)")
    p.add_argument("--header", "-H", action="append", default=[], help="extra header 'Name: value'")
    args = p.parse_args()
    secret = os.environ.get("AUTHLEDGER_APP_SECRET")
    if not secret:
        print("call_api: set AUTHLEDGER_APP_SECRET to the app's secret", file=sys.stderr)
        return 2
    url = urlsplit(args.url)
    if url.scheme != "http" or not url.hostname:
        print("call_api: the URL must be http://host[:port]/path", file=sys.stderr)
        return 2
    extra = {}
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep:
            print(f"call_api: header must be 'Name: value', got {h!r}", file=sys.stderr)
            return 2
        extra[name.strip()] = value.strip()
    body = args.data.encode()
    if body:
        extra.setdefault("Content-Type", "application/json")
    path = url.path or "/"
    # /authz/<path>: the check endpoint takes the original path after /authz.
    signed_path = path[len("/authz"):] if path.startswith("/authz/") else path
    signed_url = signed_path + ("?" + url.query if url.query else "")
    headers = sign_headers(args.method, signed_url, args.app_key, secret, headers=extra, body=body, stage=args.stage)
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
    try:
        conn.request(args.method.upper(), path + ("?" + url.query if url.query else ""), body=body or None, headers=headers)
        r = conn.getresponse()
        data = r.read()
    except OSError as e:
        print(f"call_api: {args.url}: {e}", file=sys.stderr)
        return 1
    print(r.status, r.reason)
    for name, value in r.getheaders():
        if name.lower().startswith(("x-ca-", "caapp")):
            print(f"{name}: {value}")
    if data:
        print(data.decode("utf-8", "replace"))
    return 0 if r.status < 400 else 1


if __name__ == "__main__":
    sys.exit(main())
