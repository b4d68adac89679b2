"""Benchmark section "service": /authz verified requests/s and p50/p99 at 64 connections with wrk.

Three targets, measured in one run on loopback, same backend (an nginx ``return 200``):

- ``/authz`` directly on ``authledger serve`` (the check alone);
- nginx with the shipped auth_request config in front of that backend (a verified call);
- the floor: nginx proxying to the same backend with no auth at all.

wrk replays one request, so it cannot sign each with a fresh nonce: the benchmark API has
``nonce_required=False``, the request carries no ``X-Ca-Nonce`` and its signature is made
once with a timestamp inside ``authledger serve --window 3600``. Everything else — key
lookup, HMAC-SHA256 over the StringToSign, the clock window, the grant decision — runs on
every request. uvicorn runs one process (the in-memory nonce store and index are per
process) with httptools and uvloop, access log off.

    python -m scripts.bench.service [--quick]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.bench.common import Row

SECTION = "service"
CONNECTIONS = 64
GOAL_RPS = 3000
GOAL_P99_MS = 25.0
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


def _nginx_conf(prefix: Path, auth_port: int, floor_port: int, backend_port: int, authledger_port: int) -> Path:
    from tests.service.harness import nginx_conf

    conf = nginx_conf(prefix, auth_port, authledger_port, backend_port, workers=2)
    extra = f"""
server {{
    listen 127.0.0.1:{backend_port};
    access_log off;
    location / {{ return 200 "ok\\n"; }}
}}
server {{
    listen 127.0.0.1:{floor_port};
    location / {{
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://backend;
    }}
}}
"""
    (prefix / "authledger.conf").write_text((prefix / "authledger.conf").read_text() + extra)
    return conf


def run(quick: bool = False) -> list[Row]:
    """Measure the three targets; return rows for the benchmark table."""
    from tests.service import harness

    seconds = 3 if quick else 10
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
    ledger.close()

    path = "/v1/items/42"
    headers = _signed_headers(path)
    rows: list[Row] = []
    with harness.serve(db, "--no-access-log", "--window", "3600") as serve_port:
        auth_port, floor_port, backend_port = harness.free_port(), harness.free_port(), harness.free_port()
        prefix = tmp / "nginx"
        prefix.mkdir()
        conf = _nginx_conf(prefix, auth_port, floor_port, backend_port, serve_port)
        proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "logs" / "error.log")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            harness.wait_for(floor_port)
            direct_headers = {**headers, "X-Original-Method": "GET", "X-Original-URI": path}
            _wrk(f"http://127.0.0.1:{serve_port}/authz", direct_headers, 1)  # warm up
            direct = _wrk(f"http://127.0.0.1:{serve_port}/authz", direct_headers, seconds)
            via = _wrk(f"http://127.0.0.1:{auth_port}{path}", headers, seconds)
            floor = _wrk(f"http://127.0.0.1:{floor_port}{path}", {}, seconds)
        finally:
            proc.terminate()
            proc.wait(10)
    shutil.rmtree(tmp, ignore_errors=True)

    ok = via["errors"] == 0 and direct["errors"] == 0
    rows.append(Row(SECTION, "/authz verified, direct (64 conns)", direct["rps"], "req/s",
                    "nginx, no auth (floor)", floor["rps"], "no errors", direct["errors"] == 0))
    rows.append(Row(SECTION, "verified via nginx auth_request (64 conns)", via["rps"], "req/s",
                    "nginx, no auth (floor)", floor["rps"], f">= {GOAL_RPS} req/s, no errors",
                    via["rps"] >= GOAL_RPS and ok))
    rows.append(Row(SECTION, "p50 via nginx", via["p50"], "ms", "floor p50", floor["p50"]))
    rows.append(Row(SECTION, "p99 via nginx", via["p99"], "ms", "floor p99", floor["p99"],
                    f"< {GOAL_P99_MS:g} ms", via["p99"] < GOAL_P99_MS))
    rows.append(Row(SECTION, "p50 direct", direct["p50"], "ms"))
    rows.append(Row(SECTION, "p99 direct", direct["p99"], "ms"))
    rows.append(Row(SECTION, "errors (non-2xx + socket) direct / via nginx", direct["errors"] + via["errors"], "count",
                    goal="0", met=direct["errors"] + via["errors"] == 0))
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
