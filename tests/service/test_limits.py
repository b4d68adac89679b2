"""Against a real `authledger serve`: oversized bodies 413, oversized headers 431, slow clients."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service import harness

LOGS: dict[int, str] = {}


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    db = str(tmp_path_factory.mktemp("limits") / "ledger.db")
    with harness.serve(db, "--http", request.param, "--max-body", "65536", "--max-header-bytes", "16384") as port:
        LOGS[port] = db + ".serve.log"
        yield port


def _raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def test_body_over_the_limit_is_refused_413(server: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    conn.request("POST", "/v1/apps", body=b"x" * 70000, headers={"Content-Type": "application/json"})
    assert conn.getresponse().status == 413


def test_chunked_body_over_the_limit_is_refused_413(server: int) -> None:
    chunk = b"x" * 30000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    head = b"POST /v1/apps HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer alt_x\r\n\r\n"
    assert _status(_raw(server, head + body)) == 413


def test_headers_over_the_limit_are_refused_431(server: int) -> None:
    big = b"X-Padding: " + b"a" * 20000 + b"\r\n"
    assert _status(_raw(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + big + b"\r\n")) == 431
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(300))
    assert _status(_raw(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + many + b"\r\n")) == 431
    # Check a normal request still works afterwards.
    assert _status(_raw(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")) == 200


def test_a_slow_client_does_not_block_others(server: int) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"s" * 40 + b"\r\n\r\n"
    slow = socket.create_connection(("127.0.0.1", server), timeout=30)
    done = threading.Event()

    def dribble() -> None:
        for byte in request[:-1]:
            slow.sendall(bytes([byte]))
            time.sleep(0.02)
        done.set()

    thread = threading.Thread(target=dribble, daemon=True)
    thread.start()
    time.sleep(0.1)
    t0 = time.perf_counter()
    for _ in range(50):
        conn = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
        conn.close()
    elapsed = time.perf_counter() - t0
    assert not done.is_set(), "the slow client finished first: the test proved nothing"
    assert elapsed < 1.0
    thread.join()
    slow.sendall(request[-1:])
    assert _status(slow.recv(65536)) == 200
    slow.close()


def test_serve_access_log_is_json_without_authorization_or_query(server: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    conn.request("GET", "/v1/apis?owner=secretive", headers={"Authorization": "Bearer alt_sekrit-value"})
    assert conn.getresponse().status == 401
    conn.close()
    time.sleep(0.2)
    log = Path(LOGS[server]).read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(line["path"] == "/v1/apis" and line["status"] == 401 for line in lines)
    assert "sekrit" not in log and "secretive" not in log
