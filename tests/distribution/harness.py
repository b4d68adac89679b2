"""A throwaway redis-server per test module, and a small ledger world to distribute."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ledger.errors import LedgerError
from tests.service.harness import REPO, env, free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """``redis-server`` on a free loopback port, no persistence, in a temp dir; restartable on that port."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.dir = directory
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--daemonize", "no", "--loglevel", "warning", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client()
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except Exception:  # noqa: BLE001 - not up yet (connection refused, loading)
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)
        client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def client(self) -> Any:
        from authledger.distribution import connect

        return connect(self.url)


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    server = RedisServer(directory).start()
    try:
        yield server
    finally:
        server.stop()


def authledger(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """Start ``authledger ARGS`` (a real process) with the test secret key."""
    e = env()
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "authledger.cli.main", *args], env=e, stdout=out,
                                stderr=subprocess.STDOUT)


def populate(ledger: Any, apps: int, apis: int = 3) -> dict[str, Any]:
    """APIs, apps with their default credentials, and a grant per app; returns ids and secrets."""
    api_ids = [ledger.register_api("acme", f"api{i}", nonce_required=False).ids["api_id"] for i in range(apis)]
    world: dict[str, Any] = {"apis": api_ids, "apps": []}
    for i in range(apps):
        r = ledger.create_app("bob", f"app{i}", extension=f'{{"n":{i}}}')
        app_id = r.ids["app_id"]
        ledger.grant("acme", app_id, api_ids[i % apis], "RELEASE")
        world["apps"].append((app_id, r.ids["app_key"], r.revealed["app_secret"]))
    return world


def churn(ledger: Any, world: dict[str, Any], n: int, seed: int = 0) -> None:
    """``n`` ledger commands of many kinds over the world's apps."""
    import random

    rnd = random.Random(seed)
    apis = world["apis"]
    for i in range(n):
        app_id, _app_key, _ = rnd.choice(world["apps"])
        op = i % 6
        api = rnd.choice(apis)
        try:
            if op == 0:
                ledger.grant("acme", app_id, api, rnd.choice(["RELEASE", "TEST"]))
            elif op == 1:
                ledger.revoke("acme", app_id, api, "RELEASE")
            elif op == 2:
                ledger.modify_app(app_id, "bob", extension=f'{{"i":{i}}}')
            elif op == 3:
                ledger.disable_app(app_id, "bob")
            elif op == 4:
                ledger.enable_app(app_id, "bob")
            else:
                ledger.add_key_pair(app_id, "bob")
        except LedgerError:  # a command the domain refuses (e.g. revoke of nothing): fine
            continue


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
