#!/usr/bin/env python3
"""The README's quickstart, end to end, against a running `authledger serve`.

    scripts/run &                        # serve ./authledger.db on http://127.0.0.1:8080
    .venv/bin/python scripts/quickstart.py

Each step is printed as the command a user would type (curl for the admin API), followed by
the answer. Tokens come from the CLI on the server's machine, for the ledger the server
serves (``--db``, else $AUTHLEDGER_DB, else ./authledger.db in the project folder — where
``scripts/run`` serves it). The app's AppSecret and AppCode are shown once by the create
call; this script keeps the secret in memory for its last step, a signed call through
``/authz``, and prints neither. Every run makes objects with new names, so it can run again.
Exit 0 when the signed call got its 200.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from authledger.gateway.client import sign_headers  # noqa: E402

HIDDEN = ("app_secret", "app_code", "token")  # shown once to a user; this script keeps them to itself


class QuickstartFailed(Exception):
    pass


def _shown(data: dict[str, Any]) -> dict[str, Any]:
    return {k: ("<shown once; kept by quickstart>" if k in HIDDEN else v) for k, v in data.items()}


def cli(db: str, *args: str) -> dict[str, Any]:
    """One `authledger` command on the server's ledger (printed first), its JSON answer."""
    print(f"\n$ authledger --db {shlex.quote(db)} {shlex.join(args)}", flush=True)
    p = subprocess.run([sys.executable, "-m", "authledger.cli.main", "--db", db, "--json", *args],
                       capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        raise QuickstartFailed(p.stderr.strip() or f"exit {p.returncode}")
    if p.stderr.strip():
        print(p.stderr.strip())
    data = json.loads(p.stdout)
    print(json.dumps(_shown(data), indent=2))
    return data


class Server:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise QuickstartFailed(f"--url must be http://host:port, got {url!r}")
        self.url = url.rstrip("/")
        self.host, self.port = parts.hostname, parts.port or 80

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                status, _, _ = self.request("GET", "/readyz")
                if status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise QuickstartFailed(f"no ready authledger at {self.url} (start it: scripts/run)")
            time.sleep(0.25)

    def admin(self, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps(body)
        print(f"\n$ curl -s -XPOST {self.url}{path} -H \"Authorization: Bearer $TOKEN\" -d {shlex.quote(payload)}")
        status, _, data = self.request("POST", path, payload.encode(),
                                       {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        answer = json.loads(data) if data else {}
        if status >= 300:
            hint = ""
            if status == 401:
                hint = " (tokens belong to one ledger: is the server serving the --db given here?)"
            raise QuickstartFailed(f"{path}: {status} {answer.get('message', '')}{hint}")
        print(json.dumps(_shown(answer), indent=2))
        return answer

    def signed_call(self, app_key: str, app_secret: str, path: str) -> int:
        print(f"\n$ AUTHLEDGER_APP_SECRET=... scripts/call_api.py --app-key {app_key} GET {self.url}/authz{path}")
        headers = sign_headers("GET", path, app_key, app_secret)
        status, got, _ = self.request("GET", "/authz" + path, headers=headers)
        print(status, " ".join(f"{k}: {v}" for k, v in sorted(got.items()) if k.startswith(("x-ca-", "caapp"))))
        return status


def default_db() -> str:
    db = os.environ.get("AUTHLEDGER_DB") or "authledger.db"
    return db if os.path.isabs(db) else str(ROOT / db)  # scripts/run serves from the project folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8080", help="the running server (default %(default)s)")
    p.add_argument("--db", default=None, help="the ledger the server serves (default: as scripts/run)")
    p.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the server to be ready")
    args = p.parse_args(argv)
    db = args.db or default_db()
    tag = uuid.uuid4().hex[:8]
    try:
        server = Server(args.url)
        print(f"authledger quickstart: server {server.url}, ledger {db}")
        server.wait_ready(args.wait)

        print("\n# 1. Bearer tokens for two accounts: a provider who owns an API, a consumer who owns an app.")
        provider = cli(db, "token", "create", "--account", "provider", "--label", f"quickstart {tag}")["token"]
        consumer = cli(db, "token", "create", "--account", "consumer", "--label", f"quickstart {tag}")["token"]

        print("\n# 2. The provider registers an API (method + path pattern let /authz find it).")
        api = server.admin(provider, "/v1/apis", {"name": f"weather-{tag}", "method": "GET",
                                                  "path": f"/{tag}/weather/{{city}}"})

        print("\n# 3. The consumer creates an app: its AppSecret and AppCode are shown this once.")
        app = server.admin(consumer, "/v1/apps", {"name": f"forecast_{tag}", "extension": "tier=gold"})

        print("\n# 4. The provider grants the app RELEASE access for 30 days.")
        server.admin(provider, "/v1/grants", {"app_id": app["app_id"], "api_id": api["api_id"],
                                              "stage": "RELEASE", "for": "30d"})

        print("\n# 5. The app calls: a request signed with its AppKey and AppSecret, through /authz.")
        status = server.signed_call(app["app_key"], app["app_secret"], f"/{tag}/weather/paris?units=metric")
    except QuickstartFailed as e:
        print(f"\nquickstart: {e}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"\nquickstart: the signed call got {status}, not 200", file=sys.stderr)
        return 1
    print("\nquickstart: done — the signed call was allowed (200).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
