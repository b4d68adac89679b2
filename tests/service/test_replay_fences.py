"""Replay fences on `authledger serve` (issue 13, point 7), with real processes on a SQLite file:
a nonce used before a restart, or at another serve on the same file, is never accepted again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest

from authledger.gateway.client import sign_headers
from ledger.application import Ledger
from tests.distribution.harness import RedisServer
from tests.distribution.test_processes import _authz
from tests.service.harness import env, free_port, serve, wait_for


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def _world(ledger: Ledger) -> tuple[str, str, str]:
    api = ledger.register_api("acme", "items", nonce_required=True, http_method="GET",
                              path_pattern="/items/{id}").ids["api_id"]
    app = ledger.create_app("bob", "shop")
    ledger.grant("acme", app.ids["app_id"], api, "RELEASE")
    return app.ids["app_id"], app.ids["app_key"], app.revealed["app_secret"]


def _start(db: str, *extra: str, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "authledger.cli.main", "--db", db, "serve", "--port", str(port),
                                 "--no-access-log", *extra], env=env(), stdout=out, stderr=subprocess.STDOUT)
    return proc, port


def test_a_request_replayed_after_a_serve_restart_is_refused(ledger: Ledger, db_path: str, tmp_path: Path) -> None:
    app_id, key, secret = _world(ledger)
    log = tmp_path / "serve.log"
    proc, port = _start(db_path, log=log)
    try:
        wait_for(port, "/readyz", proc=proc)
        headers = sign_headers("GET", "http://gw/items/1", key, secret)
        assert _authz(port, headers) == (200, None, app_id)
        assert _authz(port, headers)[:2] == (400, "Nonce Used")
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # a crash: nothing is saved on the way out
        proc.wait(10)
    # The attack: the captured request, well inside its 15-minute window, sent to the new
    # process, whose nonce memory is empty. Refused by the start fence.
    proc, port = _start(db_path, log=log)
    try:
        wait_for(port, "/readyz", proc=proc)
        assert _authz(port, headers)[:2] == (400, "Timestamp Expired")
        fresh = sign_headers("GET", "http://gw/items/1", key, secret)
        assert _authz(port, fresh) == (200, None, app_id)  # requests signed since the start pass
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_second_serve_without_redis_on_the_same_sqlite_file_is_refused_to_start(
        ledger: Ledger, db_path: str, tmp_path: Path) -> None:
    # The attack: a request accepted by one serve replayed to a second serve on the same
    # ledger, which keeps its own nonces. The second one never starts instead.
    app_id, key, secret = _world(ledger)
    first, port = _start(db_path, log=tmp_path / "first.log")
    try:
        wait_for(port, "/readyz", proc=first)
        headers = sign_headers("GET", "http://gw/items/1", key, secret)
        assert _authz(port, headers) == (200, None, app_id)
        second = subprocess.run([sys.executable, "-m", "authledger.cli.main", "--db", db_path, "--json", "serve",
                                 "--port", str(free_port())], env=env(), capture_output=True, text=True, timeout=60)
        assert second.returncode == 7, second.stderr
        error = json.loads(second.stdout or second.stderr)
        assert error["error"] == "ledger_in_use"
        assert f"pid {first.pid}" in error["message"] and f":{port}" in error["message"]
        assert "--redis" in error["message"]
        # Check a serve with --redis is refused too: the first one would not see its nonces.
        shared = subprocess.run([sys.executable, "-m", "authledger.cli.main", "--db", db_path, "serve", "--port",
                                 str(free_port()), "--redis", "redis://127.0.0.1:1/0"], env=env(),
                                capture_output=True, text=True, timeout=60)
        assert shared.returncode == 7 and f"pid {first.pid}" in shared.stderr, shared.stderr
    finally:
        os.kill(first.pid, signal.SIGKILL)  # the lock dies with its holder
        first.wait(10)
    with serve(db_path, "--no-access-log") as again:
        assert _authz(again, headers)[:2] == (400, "Timestamp Expired")


def test_a_serve_without_redis_is_refused_beside_serves_that_share_nonces_through_redis(
        ledger: Ledger, db_path: str, redis_server: Any, tmp_path: Path) -> None:
    _world(ledger)
    with serve(db_path, "--redis", redis_server.url, "--no-access-log"), \
            serve(db_path, "--redis", redis_server.url, "--no-access-log"):  # any number of these
        alone = subprocess.run([sys.executable, "-m", "authledger.cli.main", "--db", db_path, "serve", "--port",
                                str(free_port())], env=env(), capture_output=True, text=True, timeout=60)
        assert alone.returncode == 7, alone.stderr
        assert "--redis" in alone.stderr and "Traceback" not in alone.stderr
