"""The README's quickstart, step by step, against a real `authledger serve` on SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.service import harness

ROOT = Path(__file__).resolve().parents[2]


def _post(port: int, path: str, token: str, body: dict[str, object]) -> dict[str, object]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _call(port: int, key: str, secret: str, url_path: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, AUTHLEDGER_APP_SECRET=secret)
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "call_api.py"), "--app-key", key, "GET", f"http://127.0.0.1:{port}/authz{url_path}"],
        capture_output=True, text=True, env=env, timeout=30,
    )


def test_readme_quickstart_end_to_end(tmp_path: Path) -> None:
    db = str(tmp_path / "authledger.db")
    provider = str(harness.cli(db, "token", "create", "--account", "provider")["token"])
    consumer = str(harness.cli(db, "token", "create", "--account", "consumer")["token"])
    with harness.serve(db) as port:
        api = _post(port, "/v1/apis", provider, {"name": "weather", "method": "GET", "path": "/v1/weather/{city}"})
        app = _post(port, "/v1/apps", consumer, {"name": "forecastApp", "extension": "tier=gold"})
        _post(port, "/v1/grants", provider, {"app_id": app["app_id"], "api_id": api["api_id"], "stage": "RELEASE",
                                             "until": "2099-01-01T00:00:00Z"})
        ok = _call(port, str(app["app_key"]), str(app["app_secret"]), "/v1/weather/paris?units=metric")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert ok.stdout.startswith("200")
        assert "caappextinfo: tier=gold" in ok.stdout.lower()
        # Check a wrong secret gets the table's answer, and the secret never shows.
        bad = _call(port, str(app["app_key"]), "wrong-secret-wrong-secret", "/v1/weather/paris")
        assert bad.returncode == 1 and bad.stdout.startswith("400")
        assert "Invalid Signature, Server StringToSign:" in bad.stdout
        assert str(app["app_secret"]) not in bad.stdout + ok.stdout
