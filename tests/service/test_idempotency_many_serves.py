"""One Idempotency-Key sent at once to three ``authledger serve`` instances on one PostgreSQL
database (a client retrying through a load balancer): one app, one 201, the rest 200 with
``Idempotent-Replayed: true`` and the same app id; one record in the log.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ledger.bootstrap import open_ledger
from tests.service.harness import serve_instances
from tests.service.test_many_serves import KEY, _cli

pytestmark = pytest.mark.postgres
INSTANCES = 3
CLIENTS = 9


def _post(port: int, path: str, token: str, body: Any, key: str) -> tuple[int, str | None, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", path, body=json.dumps(body), headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": key})
    r = conn.getresponse()
    data = json.loads(r.read())
    conn.close()
    return r.status, r.getheader("Idempotent-Replayed"), data


def test_one_key_sent_to_three_instances_at_once_creates_one_app(pg_url: str, tmp_path: Path) -> None:
    token = _cli(pg_url, "token", "create", "--account", "alice")["token"]
    with serve_instances(pg_url, INSTANCES, tmp_path) as ports:

        for round_, body in enumerate([{"name": "Retried"}, {"name": "RetriedKey", "app_key": "RetriedKey01"}]):
            key = f"lb-retry-{round_}"
            barrier = threading.Barrier(CLIENTS)
            results: list[tuple[int, str | None, Any]] = []
            lock = threading.Lock()

            def client(i: int, body: Any = body, key: str = key, barrier: Any = barrier,
                       results: Any = results, lock: Any = lock) -> None:
                barrier.wait()
                r = _post(ports[i % INSTANCES], "/v1/apps", token, body, key)
                with lock:
                    results.append(r)

            threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            statuses = Counter((s, h) for s, h, _ in results)
            assert statuses == Counter({(201, None): 1, (200, "true"): CLIENTS - 1}), results
            assert len({d["app_id"] for _, _, d in results}) == 1
            assert len({d["position"] for _, _, d in results}) == 1
            first = next(d for s, _, d in results if s == 201)
            for s, _, d in results:
                if s == 200:
                    assert first["app_secret"] not in json.dumps(d) and first["app_code"] not in json.dumps(d)

        ledger = open_ledger(pg_url, key=KEY)
        topics = Counter(n.topic for n in ledger.recorder.select_notifications(1, 10_000))
        ledger.close()
        assert topics["authledger:AppCreated"] == 2 and topics["authledger:IdempotencyKeyUsed"] == 2
