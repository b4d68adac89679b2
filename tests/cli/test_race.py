"""Racing processes on one SQLite file: one custom AppKey (or AppCode), exactly one winner."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import sys
import time

import pytest

from ledger.bootstrap import open_ledger

N = 6


def _race(db_path: str, extra: list[str]) -> list[subprocess.CompletedProcess[str]]:
    # Each process waits for a start file so that they all hit the database together.
    go = (db_path if not db_path.startswith("postgresql:") else os.path.join(tempfile.gettempdir(), os.urandom(6).hex())) + ".go"
    script = (
        "import os, sys, time\n"
        "while not os.path.exists(sys.argv[1]): time.sleep(0.001)\n"
        "from authledger.cli.main import main\n"
        "sys.exit(main(sys.argv[2:]))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, go, "--database-url" if db_path.startswith("postgresql:") else "--db", db_path, "--json", "app", "create",
             "--owner", f"racer{i}", "--name", f"racer_app_{i}", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
        )
        for i in range(N)
    ]
    time.sleep(0.5)  # let every process import and start polling
    open(go, "w").close()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    os.remove(go)
    return results


def _topics(db_path: str, key: bytes) -> list[tuple[str, str]]:
    ledger = open_ledger(db_path, key=key)
    try:
        return [(n.topic, str(n.originator_id)) for n in ledger.recorder.select_notifications(1, 10_000)]
    finally:
        ledger.close()


@pytest.mark.parametrize("extra,claim", [
    (["--app-key", "SAMEKEY123"], "authledger:AppKeyClaimed"),
    # The code comes from the environment, as a secret should (a literal --app-code warns on stderr).
    (["--app-code-from", "env:RACE_APP_CODE"], "authledger:AppCodeClaimed"),
], ids=["app-key", "app-code"])
def test_racing_creates_with_one_custom_credential_have_one_winner(
    db_path: str, secret_key_env: bytes, extra: list[str], claim: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RACE_APP_CODE", "SameAppCode0000000001")
    # Create the database first, so the race is over the claim and not over CREATE TABLE.
    open_ledger(db_path, key=secret_key_env).close()
    results = _race(db_path, extra)
    codes = sorted(r.returncode for r in results)
    assert codes == [0] + [5] * (N - 1), [(r.returncode, r.stderr) for r in results]
    for r in results:
        assert "Traceback" not in r.stderr
        if r.returncode == 5:
            assert json.loads(r.stderr)["error"] == "conflict"
    (winner,) = [json.loads(r.stdout) for r in results if r.returncode == 0]

    # Check the log holds one claim and one app: the winner's, nothing half-written.
    events = _topics(db_path, secret_key_env)
    assert [t for t, _ in events].count(claim) == 1
    created = [o for t, o in events if t == "authledger:AppCreated"]
    assert created == [winner["app_id"]]
    app_events = [t for t, o in events if o == winner["app_id"]]
    assert app_events == ["authledger:AppCreated", "authledger:KeyPairAdded", "authledger:AppCodeAdded"]
