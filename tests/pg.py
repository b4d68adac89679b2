"""A real, throwaway PostgreSQL server for tests and benchmarks (Debian's ``postgresql``).

``PgServer().start()`` runs ``initdb`` into a temporary directory and ``pg_ctl start`` on a
free port, listening on 127.0.0.1 only, with fsync off (throwaway data). As root, the
server runs as the ``postgres`` OS user (``runuser -u postgres --``). ``create_db()``
gives a fresh database and its URL; ``drop_db()`` drops it (closing its connections);
``restart()`` is ``pg_ctl restart -m fast`` (fault tests); ``stop()`` removes everything.

Binaries: /usr/lib/postgresql/<version>/bin (scripts/test installs ``postgresql`` via apt).
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Any

USER = "postgres"
PASSWORD = "authledger-test"


def find_bin_dir() -> str | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    override = os.environ.get("AUTHLEDGER_PG_BIN")
    if override:
        return override
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)
    return next((d for d in reversed(dirs) if os.path.exists(os.path.join(d, "initdb"))), None)


def reap_orphans() -> None:
    """Stop servers left by sessions that died without cleaning up (SIGTERM, SIGKILL):
    each server's directory names the process that started it; only dead owners' go."""
    for owner_file in glob.glob(os.path.join(tempfile.gettempdir(), "authledger-pg-*", "owner.pid")):
        root = os.path.dirname(owner_file)
        try:
            with open(owner_file) as f:
                os.kill(int(f.read().strip()), 0)
            continue  # its owner is alive
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue
        server = PgServer.__new__(PgServer)
        server.bin, server.root, server.data = find_bin_dir() or "", root, os.path.join(root, "data")
        server.as_root, server._started, server.log = os.geteuid() == 0, True, os.path.join(root, "server.log")
        server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    def __init__(self, bin_dir: str | None = None) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql; scripts/test does it)")
        self.bin = found
        self.root = tempfile.mkdtemp(prefix="authledger-pg-")
        self.data = os.path.join(self.root, "data")
        self.sock = os.path.join(self.root, "sock")
        self.port = free_port()
        self.log = os.path.join(self.root, "server.log")
        self.as_root = os.geteuid() == 0
        self._started = False

    # -- running things as the server's OS user ------------------------------------------------

    def _cmd(self, name: str, *args: str) -> list[str]:
        cmd = [os.path.join(self.bin, name), *args]
        return ["runuser", "-u", USER, "--", *cmd] if self.as_root else cmd

    def _run(self, name: str, *args: str, timeout: float = 60) -> None:
        r = subprocess.run(self._cmd(name, *args), capture_output=True, text=True, timeout=timeout, cwd=self.root,
                           check=False)
        if r.returncode != 0:
            raise RuntimeError(f"{name} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}"
                               f"\n{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-20:])
        except OSError:
            return ""

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> PgServer:
        reap_orphans()
        with open(os.path.join(self.root, "owner.pid"), "w") as f:
            f.write(str(os.getpid()))
        os.makedirs(self.sock)
        if self.as_root:
            shutil.chown(self.root, USER)
            shutil.chown(self.sock, USER)
        pwfile = os.path.join(self.root, "pw")
        with open(pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        if self.as_root:
            shutil.chown(pwfile, USER)
        self._run("initdb", "-D", self.data, "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync",
                  f"--pwfile={pwfile}", timeout=120)
        self._pg_ctl("start")
        self._started = True
        atexit.register(self.stop)  # an interrupted session leaves no server behind
        return self

    def _options(self) -> str:
        return (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        self._run("pg_ctl", action, "-D", self.data, "-l", self.log, "-w", "-t", "60", "-o", self._options(), *extra)

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        if self._started:
            try:
                self._run("pg_ctl", "stop", "-D", self.data, "-m", "immediate", "-w", "-t", "30")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases ------------------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(self.url(dbname), autocommit=True)

    def create_db(self, prefix: str = "t") -> str:
        """A fresh empty database; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        for attempt in range(50):
            try:
                with self.connect() as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                return self.url(name)
            except Exception:  # template busy (a concurrent CREATE), or a restart: try again
                if attempt == 49:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def drop_db(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        try:
            with self.connect() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception:  # noqa: BLE001, S110 - best effort; the whole server goes at session end
            pass


__all__ = ["PgServer", "find_bin_dir", "free_port"]
