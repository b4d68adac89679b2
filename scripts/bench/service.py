"""Benchmark section "service": verified requests/s and p50/p99 at 64 connections with wrk.

The figure that counts is a verified call through the gateway, set next to the Python floor
for an auth service, all measured in one run on loopback with the same backend (an nginx
``return 200``) and the same nginx config (the shipped auth_request config, 2 workers):

- nginx ``auth_request`` -> ``authledger serve``'s ``/authz``;
- nginx ``auth_request`` -> the gateway sidecar (``authledger gateway``, its index received
  over a real Redis from ``authledger publish``);
- the Python floor: nginx ``auth_request`` -> a minimal ASGI app on the same server stack
  that answers 200 to everything (scripts/bench/floor_app.py);
- context: nginx proxying to the backend with no auth at all, and ``/authz`` directly on
  ``serve`` next to the floor app directly.

Goals: both verified paths >= 0.8x the Python floor, >= 3,000 req/s, p99 < 25 ms. Targets
are measured interleaved (3 rounds of 5 s; medians), so a noisy moment hits all alike.

wrk replays one request, so it cannot sign each with a fresh nonce: the benchmark API has
``nonce_required=False``, the request carries no ``X-Ca-Nonce`` and its signature is made
once with a timestamp inside ``--window 3600``. Everything else — key lookup, HMAC-SHA256
over the StringToSign, the clock window, the grant decision — runs on every request.
uvicorn runs one process (the in-memory nonce store and index are per process) with
httptools and uvloop, access log off.

    python -m scripts.bench.service [--quick]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from scripts.bench.common import Row

SECTION = "service"
CONNECTIONS = 64
GOAL_RPS = 3000
GOAL_P99_MS = 25.0
GOAL_FLOOR_RATIO = 0.8
REPO = Path(__file__).resolve().parents[2]
WRK = shutil.which("wrk") or "/usr/bin/wrk"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
KEY, SECRET = "bench-key-0001", "BenchSecret-0123456789abcdef"


def _wrk(url: str, headers: dict[str, str], seconds: int) -> dict[str, float]:
    args = [WRK, "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, errors.groups())) if errors else 0)
    return {"rps": rps, "p50": pct("50"), "p99": pct("99"), "errors": failed}


def _signed_headers(path: str) -> dict[str, str]:
    from authledger.gateway.signing import sign, string_to_sign

    headers = [("X-Ca-Key", KEY), ("X-Ca-Timestamp", str(int(time.time() * 1000))),
               ("X-Ca-Signature-Headers", "x-ca-key,x-ca-timestamp"), ("Accept", "application/json")]
    sts = string_to_sign("GET", path, "", headers, None)
    return {**dict(headers), "X-Ca-Signature": sign(SECRET, sts, "HmacSHA256")}


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per-figure median over interleaved runs; errors summed."""
    out = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99")}
    out["errors"] = sum(r["errors"] for r in runs)
    return out


@contextmanager
def _nginx_in_front(tmp: Path, name: str, auth: int, backend: int, extra: str = "") -> Iterator[int]:
    """nginx with the shipped auth_request config in front of ``auth``; yields its port."""
    from tests.service.harness import free_port, nginx_conf, stop, wait_for

    prefix = tmp / name
    prefix.mkdir()
    port = free_port()
    conf = nginx_conf(prefix, port, auth, backend, workers=2)
    if extra:
        (prefix / "authledger.conf").write_text((prefix / "authledger.conf").read_text() + extra)
    proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "logs" / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port, proc=proc)
        yield port
    finally:
        stop(proc)


@contextmanager
def _process(args: list[str], log: Path, port: int, ready: str) -> Iterator[subprocess.Popen[bytes]]:
    from tests.service import harness

    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, *args], env=harness.env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        harness.wait_for(port, ready, timeout=30, proc=proc)
        yield proc
    finally:
        harness.stop(proc)


@contextmanager
def _sidecar(tmp: Path, db: str, position: int) -> Iterator[int]:
    """Redis, ``authledger publish`` from the ledger and an ``authledger gateway`` sidecar fed by
    it, caught up with ``position``; yields the sidecar's port."""
    from tests.distribution.harness import redis_server
    from tests.service.harness import free_port

    with ExitStack() as stack:
        (tmp / "redis").mkdir()
        redis = stack.enter_context(redis_server(tmp / "redis"))
        prefix = "bench"
        publisher_log = tmp / "publish.log"
        with open(publisher_log, "ab") as out:
            from tests.service import harness

            publisher = subprocess.Popen(
                [sys.executable, "-m", "authledger.cli.main", "--db", db, "publish", "--redis", redis.url,
                 "--prefix", prefix], env=harness.env(), stdout=out, stderr=subprocess.STDOUT)
        stack.callback(harness.stop, publisher)
        port = free_port()
        stack.enter_context(_process(["-m", "authledger.cli.main", "gateway", "--redis", redis.url, "--prefix", prefix,
                                      "--port", str(port), "--no-access-log", "--window", "3600"],
                                     tmp / "gateway.log", port, "/healthz"))
        deadline = time.monotonic() + 30
        while _ready_position(port) < position:
            if time.monotonic() > deadline:
                raise RuntimeError("the sidecar did not catch up:\n" + publisher_log.read_text()[-2000:])
            time.sleep(0.05)
        yield port


def _ready_position(port: int) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/readyz")
        resp = conn.getresponse()
        body = json.loads(resp.read() or b"{}")
        return int(body.get("position") or -1) if resp.status == 200 else -1
    except (OSError, ValueError):
        return -1
    finally:
        conn.close()


def run(quick: bool = False) -> list[Row]:
    """Measure the targets, interleaved; return rows for the benchmark table."""
    from tests.service import harness

    seconds, repeats = (2, 1) if quick else (5, 3)
    tmp = Path(tempfile.mkdtemp(prefix="authledger-bench-"))
    # The same key for this process and `authledger serve` (harness.env() passes this one).
    os.environ["AUTHLEDGER_SECRET_KEY"] = harness.TEST_KEY_B64
    db = str(tmp / "ledger.db")
    from ledger.bootstrap import open_ledger

    ledger = open_ledger(db)
    api = ledger.register_api("bench", "items", http_method="GET", path_pattern="/v1/items/{id}",
                              nonce_required=False).ids["api_id"]
    app = ledger.create_app("bench", "benchApp", app_key=KEY, app_secret=SECRET, extension='{"tier":"gold"}').ids["app_id"]
    ledger.grant("bench", app, api, "RELEASE")
    position = ledger.recorder.max_notification_id()
    ledger.close()

    path = "/v1/items/42"
    headers = _signed_headers(path)
    direct_headers = {**headers, "X-Original-Method": "GET", "X-Original-URI": path}
    backend_port, noauth_port, floor_port = harness.free_port(), harness.free_port(), harness.free_port()
    backend_and_noauth = f"""
server {{
    listen 127.0.0.1:{backend_port};
    access_log off;
    location / {{ return 200 "ok\\n"; }}
}}
server {{
    listen 127.0.0.1:{noauth_port};
    location / {{
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://backend;
    }}
}}
"""
    with ExitStack() as stack:
        serve_port = stack.enter_context(harness.serve(db, "--no-access-log", "--window", "3600"))
        stack.enter_context(_process(["-m", "scripts.bench.floor_app", "--port", str(floor_port)],
                                     tmp / "floor.log", floor_port, "/"))
        sidecar_port = stack.enter_context(_sidecar(tmp, db, position))
        via_serve = stack.enter_context(_nginx_in_front(tmp, "nginx-serve", serve_port, backend_port, backend_and_noauth))
        via_floor = stack.enter_context(_nginx_in_front(tmp, "nginx-floor", floor_port, backend_port))
        via_sidecar = stack.enter_context(_nginx_in_front(tmp, "nginx-sidecar", sidecar_port, backend_port))
        targets = {
            "direct": (f"http://127.0.0.1:{serve_port}/authz", direct_headers),
            "floor direct": (f"http://127.0.0.1:{floor_port}/authz", direct_headers),
            "via": (f"http://127.0.0.1:{via_serve}{path}", headers),
            "sidecar": (f"http://127.0.0.1:{via_sidecar}{path}", headers),
            "floor": (f"http://127.0.0.1:{via_floor}{path}", headers),
            "no auth": (f"http://127.0.0.1:{noauth_port}{path}", {}),
        }
        for url, h in targets.values():
            _wrk(url, h, 1)  # warm up every target
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        for _ in range(repeats):  # interleaved, so a noisy moment hits every target alike
            for name, (url, h) in targets.items():
                runs[name].append(_wrk(url, h, seconds))
    shutil.rmtree(tmp, ignore_errors=True)
    m = {name: _median(r) for name, r in runs.items()}
    direct, floor_direct, via, sidecar, floor, noauth = (m[k] for k in targets)

    def verified(row: str, figures: dict[str, float]) -> list[Row]:
        rps_ok = figures["rps"] >= GOAL_RPS and figures["rps"] >= GOAL_FLOOR_RATIO * floor["rps"]
        return [
            Row(SECTION, f"{row} (64 conns)", figures["rps"], "req/s", "Python floor via nginx", floor["rps"],
                f">= {GOAL_FLOOR_RATIO:g}x floor, >= {GOAL_RPS} req/s", rps_ok and figures["errors"] == 0),
            Row(SECTION, f"p99 {row}", figures["p99"], "ms", "floor p99", floor["p99"],
                f"< {GOAL_P99_MS:g} ms", figures["p99"] < GOAL_P99_MS),
            Row(SECTION, f"p50 {row}", figures["p50"], "ms", "floor p50", floor["p50"]),
        ]

    rows = [
        *verified("verified via nginx auth_request -> serve", via),
        *verified("verified via nginx auth_request -> gateway sidecar", sidecar),
        Row(SECTION, "Python floor via nginx auth_request (200 to all)", floor["rps"], "req/s",
            "nginx, no auth", noauth["rps"]),
        Row(SECTION, "/authz verified, direct on serve (64 conns)", direct["rps"], "req/s",
            "Python floor, direct", floor_direct["rps"], "no errors", direct["errors"] == 0),
        Row(SECTION, "p99 direct", direct["p99"], "ms", "floor direct p99", floor_direct["p99"]),
    ]
    errors = direct["errors"] + via["errors"] + sidecar["errors"]
    rows.append(Row(SECTION, "errors (non-2xx + socket), serve + sidecar", errors, "count", goal="0", met=errors == 0))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    rows = run(quick="--quick" in args)
    for r in rows:
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        peer = f"{r.peer} {r.peer_value:,.2f}" if r.peer_value is not None else ""
        met = "" if r.met is None else ("met" if r.met else "NOT MET")
        print(f"{r.metric:48} {r.value:>12,.2f} {r.unit:6} {peer:32} {ratio:>7} {r.goal:28} {met}")
    print(json.dumps([r.to_dict() for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
