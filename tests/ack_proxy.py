"""A TCP proxy in front of the test PostgreSQL that can lose the reply to a COMMIT.

``lose(n)`` arms it: the next ``n`` times the server answers the COMMIT of a transaction
that inserted (the client sent an ``INSERT`` since its last COMMIT: the ledger's events,
not the library's catalogue lookups), the proxy cuts that client connection instead of
passing the answer (CommandComplete, ``C`` + length 11 + ``COMMIT\\0``) on. The server has committed; the client sees its connection die
and cannot know whether the transaction landed: the lost acknowledgement of issue 8, on a
real server, with no change to the code under test. (psycopg prepares a statement after
five runs on one connection and then no longer sends its text: tests count ``lost`` so
that a COMMIT that was not recognised fails them rather than passing them.)
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit

COMMIT_DONE = b"C\x00\x00\x00\x0bCOMMIT\x00"


class AckLosingProxy:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        netloc = parts.netloc.rsplit("@", 1)
        self.url = urlunsplit(parts._replace(netloc=f"{netloc[0]}@127.0.0.1:{self.port}"))
        self.lock = threading.Lock()
        self.to_lose = 0
        self.lost = 0
        self.closed = False
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def lose(self, n: int = 1) -> None:
        with self.lock:
            self.to_lose = n

    def close(self) -> None:
        self.closed = True
        for s in [self.listener, *self.sockets]:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            inserted = threading.Event()  # this connection sent an INSERT since its last COMMIT
            threading.Thread(target=self._pipe, args=(client, server, False, inserted), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True, inserted), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_server: bool, inserted: threading.Event) -> None:
        tail = b""
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                seen = tail + chunk
                if not from_server and b"INSERT" in seen:
                    inserted.set()
                if from_server and COMMIT_DONE in seen:
                    if inserted.is_set() and self._take():
                        break  # committed on the server; the client never hears of it
                    inserted.clear()
                tail = seen[-(len(COMMIT_DONE) - 1):]
                dst.sendall(chunk)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _take(self) -> bool:
        with self.lock:
            if self.to_lose <= 0:
                return False
            self.to_lose -= 1
            self.lost += 1
            return True
