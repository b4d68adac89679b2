"""Several ``authledger serve`` instances on one PostgreSQL database (the HTTP variant of
tests/ledger/test_concurrent_writers.py, smaller).

Clients hammer all instances at once: custom AppKeys that collide across instances (one
201 per key, the rest 409), and disable/enable on one shared app (applied or 409, never
lost). Afterwards every acknowledged change is in the log exactly once, and every instance
shows the same state.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ledger.bootstrap import open_ledger
from tests.service.harness import env, serve_instances

pytestmark = pytest.mark.postgres
INSTANCES = 3
KEY = bytes(range(32))  # harness.TEST_KEY_B64


def _cli(url: str, *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "authledger.cli.main", "--database-url", url, "--json", *args],
                         env=env(), capture_output=True, text=True, check=True, timeout=60)
    return dict(json.loads(out.stdout))


def _call(port: int, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, json.loads(data) if data else None


def test_three_serve_instances_on_one_postgres(pg_url: str, tmp_path: Path) -> None:
    tokens = {a: _cli(pg_url, "token", "create", "--account", a)["token"] for a in ("alice", "bob")}
    shared = _cli(pg_url, "app", "create", "--owner", "alice", "--name", "Shared")["app_id"]
    with serve_instances(pg_url, INSTANCES, tmp_path) as ports:

        results: list[tuple[str, int, Any]] = []
        lock = threading.Lock()

        def client(i: int) -> None:
            for j in range(12):
                port = ports[(i + j) % INSTANCES]
                if j % 2 == 0:
                    key = f"collide-key-{j:02d}"  # every client races for the same keys
                    account = "alice" if i % 2 else "bob"
                    status, body = _call(port, "POST", "/v1/apps", tokens[account], {"name": "Racer", "app_key": key})
                    with lock:
                        results.append(("create", status, (key, body)))
                else:
                    action = "disable" if (i + j) % 4 == 1 else "enable"
                    status, body = _call(port, "POST", f"/v1/apps/{shared}/{action}", tokens["alice"])
                    with lock:
                        results.append((action, status, body))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)

        statuses = Counter((op, status) for op, status, _ in results)
        assert {s for _, s in statuses} <= {200, 201, 409}, statuses
        creates = [(key, body) for op, status, (key, body) in
                   ((op, s, b) for op, s, b in results if op == "create") if status == 201]
        # One winner per colliding key, whichever instance it went through.
        assert sorted(k for k, _ in creates) == sorted({f"collide-key-{j:02d}" for j in range(0, 12, 2)})

        # Exactly once: the acknowledged changes tile the log after the set-up.
        ledger = open_ledger(pg_url, key=KEY)
        acked = [b for op, s, b in results if s in (200, 201) and op != "create"] + [b for _, b in creates]
        covered = sorted(p for b in acked if b["events"] for p in range(b["position"] - b["events"] + 1,
                                                                        b["position"] + 1))
        last = ledger.recorder.max_notification_id()
        start = min(covered)
        # (PostgreSQL's sequence skips the ids of inserts that rolled back: compare with the log.)
        assert covered == [n.id for n in ledger.recorder.select_notifications(start, limit=10_000)]
        assert covered[-1] == last
        app = ledger.get_app(shared)
        ledger.close()

        # Every instance converges on the same state (LISTEN/NOTIFY followers).
        deadline = time.time() + 15
        views: list[Any] = []
        want = "enabled" if app.enabled else "disabled"
        while time.time() < deadline:
            views = [_call(port, "GET", f"/v1/apps/{shared}", tokens["alice"])[1] for port in ports]
            if all(v.get("status") == want for v in views):
                break
            time.sleep(0.1)
        assert all(v.get("status") == want for v in views), views
        for key, body in creates:
            for port in ports:
                status, _view = _call(port, "GET", f"/v1/apps/{body['app_id']}", tokens["alice"])
                assert status == 200



def test_an_unavailable_store_is_503_with_retry_after(ledger: Any, acme: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.store import StoreUnavailable

    def away(*_a: Any, **_k: Any) -> Any:
        raise StoreUnavailable("event store unavailable: connection refused; retry the command")

    monkeypatch.setattr(ledger, "create_app", away)
    r = acme.post("/v1/apps", json={"name": "Later"})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json()["error"] == "store_unavailable"
