"""Running the app on uvicorn, with a header-size limit answered 431 (not uvicorn's 400).

uvicorn answers every malformed request 400, including headers over h11's
``max_incomplete_event_size``. These protocol subclasses keep uvicorn's behaviour and
only change that answer to 431 Request Header Fields Too Large:

- ``H11Protocol431``: uvicorn's h11 protocol with ``h11_max_incomplete_event_size`` as the
  limit (h11 flags the overflow with ``error_status_hint=431``);
- ``HttpTools431``: uvicorn's httptools protocol (the fastest parser), counting request
  line and header bytes as llhttp reports them.

Bodies are limited by the app itself (authledger.service.app, 413).
"""

from __future__ import annotations

import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_HEADER_BYTES = 64 * 1024
_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 32\r\n"
    b"connection: close\r\n\r\n"
    b"Request Header Fields Too Large\n"
)


class _HintingConnection:
    """An h11 connection that remembers the status hint of the protocol error it raised."""

    def __init__(self, conn: h11.Connection, max_header_bytes: int) -> None:
        self._conn = conn
        self._max = max_header_bytes
        self.error_status_hint = 400

    def next_event(self) -> Any:
        try:
            event = self._conn.next_event()
        except h11.RemoteProtocolError as e:
            self.error_status_hint = e.error_status_hint
            raise
        if type(event) is h11.Request:
            # h11 only limits *incomplete* events: a big head that arrives in one read passes.
            size = len(event.target) + sum(len(n) + len(v) + 4 for n, v in event.headers.raw_items())
            if size > self._max:
                self.error_status_hint = 431
                raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
        return event

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class H11Protocol431(H11Protocol):
    """uvicorn's h11 protocol, answering oversized headers 431."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = self.config.h11_max_incomplete_event_size or MAX_HEADER_BYTES
        self.conn = _HintingConnection(self.conn, limit)  # type: ignore[assignment]

    def send_400_response(self, msg: str) -> None:
        if getattr(self.conn, "error_status_hint", 400) == 431:
            self.transport.write(_431)
            self.transport.close()
            return
        super().send_400_response(msg)


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is part of uvicorn[standard]
    HttpTools431: Any = None
else:

    class _HeadersTooLarge(Exception):
        pass

    class HttpTools431(HttpToolsProtocol):  # type: ignore[no-redef]
        """uvicorn's httptools protocol, answering headers over the limit 431."""

        max_header_bytes = MAX_HEADER_BYTES

        def on_message_begin(self) -> None:
            self._header_bytes = 0
            self._too_large = False
            super().on_message_begin()

        def _count(self, n: int) -> None:
            self._header_bytes += n
            if self._header_bytes > self.max_header_bytes:
                self._too_large = True
                raise _HeadersTooLarge()  # llhttp stops; uvicorn calls send_400_response

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def send_400_response(self, msg: str) -> None:
            if getattr(self, "_too_large", False):
                self.transport.write(_431)
                self.transport.close()
                return
            super().send_400_response(msg)


def protocol(name: str) -> Any:
    """The protocol class for ``h11`` or ``httptools`` (the fastest available by default)."""
    if name == "httptools" and HttpTools431 is not None:
        return HttpTools431
    return H11Protocol431


def config(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    http: str = "httptools",
    max_header_bytes: int = MAX_HEADER_BYTES,
    log_level: str = "warning",
    fd: int | None = None,
) -> uvicorn.Config:
    """A uvicorn config for the app: uvloop when present, our access log (uvicorn's off)."""
    proto = protocol(http)
    if proto is not H11Protocol431:
        proto = type("HttpTools431Limited", (proto,), {"max_header_bytes": max_header_bytes})
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:  # pragma: no cover
        loop = "asyncio"
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        fd=fd,
        http=proto,
        loop=loop,
        lifespan="on",
        access_log=False,
        log_level=log_level,
        h11_max_incomplete_event_size=max_header_bytes,
        timeout_keep_alive=30,
        server_header=False,
    )


def configure_access_log(enabled: bool) -> None:
    """JSON access lines to stderr on ``authledger.access``, or nothing."""
    logger = logging.getLogger("authledger.access")
    logger.propagate = False
    logger.handlers.clear()
    if enabled:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    else:
        logger.setLevel(logging.CRITICAL)
