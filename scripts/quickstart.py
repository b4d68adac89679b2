"""Quickstart: register an API, create an app, grant it, and show both, through the CLI.

Runs against ./authledger.db (or $AUTHLEDGER_DB, or the path given as the first
argument). Each run makes new objects with unique names, so it can be run again.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import uuid

PROVIDER = "provider-acme"
CONSUMER = "consumer-shop"


def authledger(*args: str, as_json: bool = False) -> str:
    """Run one CLI command (printed first, as a user would type it); stop on failure."""
    argv = [*(["--json"] if as_json else []), *args]
    print(f"\n$ authledger {shlex.join(argv)}", flush=True)
    p = subprocess.run([sys.executable, "-m", "ledger.cli.main", *argv], capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        sys.exit(p.returncode)
    return p.stdout


def main() -> None:
    if len(sys.argv) > 1:
        os.environ["AUTHLEDGER_DB"] = sys.argv[1]
    db = os.environ.setdefault("AUTHLEDGER_DB", "authledger.db")
    print(f"authledger quickstart on {os.path.abspath(db)}")
    tag = uuid.uuid4().hex[:8]

    api = json.loads(authledger("api", "register", "--owner", PROVIDER, "--name", f"items-{tag}",
                                "--group", "shop", "--method", "GET", "--path", "/v1/items/{id}", as_json=True))
    print(f"registered API {api['api_id']} (ledger position {api['position']})")

    app = json.loads(authledger("app", "create", "--owner", CONSUMER, "--name", f"shop_{tag}",
                                "--description", "quickstart app", "--tag", "env=demo", as_json=True))
    print(f"created app {app['app_id']} with AppKey {app['app_key']}")
    print("its AppSecret and AppCode were returned once by `app create` (not printed here); "
          "the ledger keeps them only encrypted")

    print(authledger("grant", "--actor", PROVIDER, "--app", app["app_id"], "--api", api["api_id"],
                     "--stage", "RELEASE", "--for", "30d"), end="")
    print(authledger("app", "show", app["app_id"], "--actor", CONSUMER), end="")
    print(authledger("api", "show", api["api_id"]), end="")


if __name__ == "__main__":
    main()
