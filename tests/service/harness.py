"""Real processes for integration tests: `authledger serve`, nginx with the shipped config, an echo backend."""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

REPO = Path(__file__).resolve().parents[2]
NGINX_CONF = REPO / "examples" / "nginx" / "authledger.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CADDY_CONF = REPO / "examples" / "caddy" / "Caddyfile"
CADDY = shutil.which("caddy") or "/usr/bin/caddy"
TEST_KEY_B64 = base64.b64encode(bytes(range(32))).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, path: str = "/", timeout: float = 15.0, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing answered on port {port}")


class EchoBackend:
    """A tiny backend: answers every request with the headers it received, as JSON."""

    def __init__(self) -> None:
        self.port = free_port()
        self.hits = 0
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _echo(self) -> None:
                backend.hits += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                data = json.dumps({"method": self.command, "path": self.path,
                                   "headers": [[k, v] for k, v in self.headers.items()],
                                   "body": body.decode("utf-8", "replace")}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _echo

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def stop(proc: subprocess.Popen[Any]) -> None:
    """Ask a process to stop (SIGTERM), then kill it if it has not within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["AUTHLEDGER_SECRET_KEY"] = TEST_KEY_B64
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    return e


def cli(db: str, *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "authledger.cli.main", "--db", db, "--json", *args],
                         env=env(), capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


@contextmanager
def serve_instances(url: str, n: int, logs: Path, *extra: str) -> Iterator[list[int]]:
    """``n`` `authledger serve` instances on one PostgreSQL database; their ports."""
    with ExitStack() as stack:
        yield [stack.enter_context(serve(url, "--no-access-log", *extra, log_path=str(logs / f"serve{i}.log")))
               for i in range(n)]


@contextmanager
def serve(db: str, *extra: str, log_path: str | None = None) -> Iterator[int]:
    """`authledger serve` on a free port over the SQLite file ``db`` (or a postgresql:// URL,
    then with ``log_path`` for its output).

    A port found free can be taken by another process before serve binds it (other test
    processes run beside this one): serve then exits with "address already in use", and is
    started again on another port. Any other early exit fails with the log's tail."""
    log_path = log_path or db + ".serve.log"
    store = ["--database-url", db] if db.startswith("postgresql:") else ["--db", db]
    for attempt in range(5):
        port = free_port()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "authledger.cli.main", *store, "serve", "--port", str(port), *extra],
                env=env(), stdout=log, stderr=subprocess.STDOUT)
            try:
                try:
                    wait_for(port, "/readyz", timeout=30, proc=proc)
                except RuntimeError:
                    tail = Path(log_path).read_bytes()[-2000:].decode(errors="replace")
                    if "address already in use" in tail.lower() and attempt < 4:
                        continue
                    raise RuntimeError(f"serve did not start on port {port}:\n{tail}") from None
                yield port
                return
            finally:
                stop(proc)


def nginx_conf(prefix: Path, listen: int, authledger: int, backend: int, conf: Path = NGINX_CONF,
               workers: int = 1) -> Path:
    """A complete nginx.conf that includes the shipped config with the test's ports."""
    shipped = conf.read_text()
    shipped = (shipped.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{authledger};")
               .replace("server 127.0.0.1:9000;", f"server 127.0.0.1:{backend};")
               .replace("listen 127.0.0.1:8000;", f"listen 127.0.0.1:{listen};"))
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
        (prefix / d).mkdir(parents=True, exist_ok=True)
    (prefix / "authledger.conf").write_text(shipped)
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = f"""{user}daemon off;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/authledger.conf;
}}
"""
    path = prefix / "nginx.conf"
    path.write_text(main)
    return path


def _listening(proc: subprocess.Popen[Any], port: int, timeout: float, died: Any) -> None:
    """Wait until ``proc`` accepts connections on ``port``; ``died()`` says why it exited."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(died())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def nginx(prefix: Path, authledger: int, backend: int, **kw: Any) -> Iterator[int]:
    """nginx (foreground, temp prefix) with the shipped config; yields its port."""
    port = free_port()
    conf = nginx_conf(prefix, port, authledger, backend, **kw)
    proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "logs" / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _listening(proc, port, 10, lambda: "nginx exited: " + (proc.stderr.read().decode() if proc.stderr else ""))
        yield port
    finally:
        stop(proc)


def caddy_conf(prefix: Path, listen: int, authledger: int, backend: int, conf: Path = CADDY_CONF) -> Path:
    """The shipped Caddyfile with the test's ports."""
    shipped = conf.read_text()
    assert shipped.count(":8000 {") == 1 and "127.0.0.1:8080" in shipped and "127.0.0.1:9000" in shipped
    shipped = (shipped.replace(":8000 {", f":{listen} {{")
               .replace("127.0.0.1:8080", f"127.0.0.1:{authledger}")
               .replace("127.0.0.1:9000", f"127.0.0.1:{backend}"))
    prefix.mkdir(parents=True, exist_ok=True)
    path = prefix / "Caddyfile"
    path.write_text(shipped)
    return path


@contextmanager
def caddy(prefix: Path, authledger: int, backend: int, **kw: Any) -> Iterator[int]:
    """Caddy (foreground) with the shipped Caddyfile; yields its port."""
    port = free_port()
    conf = caddy_conf(prefix, port, authledger, backend, **kw)
    env = {**os.environ, "HOME": str(prefix), "XDG_DATA_HOME": str(prefix / "data"),
           "XDG_CONFIG_HOME": str(prefix / "config")}
    log = open(prefix / "caddy.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([CADDY, "run", "--config", str(conf), "--adapter", "caddyfile"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _listening(proc, port, 15, lambda: "caddy exited: " + (prefix / "caddy.log").read_text()[-2000:])
        yield port
    finally:
        stop(proc)
        log.close()
