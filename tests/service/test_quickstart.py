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


def test_the_readme_block_scripts_run_then_quickstart_ends_in_a_signed_200(tmp_path: Path) -> None:
    # The README's one copy-paste block, as a newcomer runs it: scripts/run, then scripts/quickstart.py
    # (this suite's .venv is the project's: scripts/run must find it up to date and not reinstall).
    db = str(tmp_path / "authledger.db")
    port = harness.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHLEDGER_")}
    env.update(AUTHLEDGER_DB=db, AUTHLEDGER_VENV=sys.prefix)
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([str(ROOT / "scripts" / "run"), "--port", str(port)], env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
        try:
            harness.wait_for(port, "/readyz", timeout=60, proc=server)
            q = subprocess.run([sys.executable, str(ROOT / "scripts" / "quickstart.py"), "--url",
                                f"http://127.0.0.1:{port}"], env=env, capture_output=True, text=True, timeout=120)
        finally:
            harness.stop(server)
    served = log.read_text()
    assert "installing" not in served, served  # up to date: no reinstall on every start
    assert f"authledger: created a new ledger at {db}" in served and f"serving {db} on" in served
    assert q.returncode == 0, q.stdout + q.stderr
    assert "\n200 " in q.stdout and "caappextinfo: tier=gold" in q.stdout
    # Check no secret was printed: the app's AppSecret and the tokens stay inside the script.
    from ledger.bootstrap import open_ledger
    from ledger.crypto import keypair_context
    from ledger.tokens import list_tokens

    ledger = open_ledger(db)
    try:
        assert len(list_tokens(ledger, "provider")) == 1
        app_id = next(iter(ledger.recorder.select_notifications(1, 100, topics=["authledger:AppCreated"]))).originator_id
        app = ledger.get_app(app_id)
        secret = ledger.box.open(next(iter(app.key_pairs.values())).secret_sealed, keypair_context(str(app.id)))
    finally:
        ledger.close()
    assert secret not in q.stdout + q.stderr and "shown once; kept by quickstart" in q.stdout
