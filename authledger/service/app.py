"""The Starlette application: admin API, ``/authz``, health, limits and the access log.

``create_app`` starts following the ledger into an in-memory ``AuthIndex`` (a background
thread woken by this process's saves, polling for other processes' writes) and serves:

- ``/authz`` (authledger.service.authz): the gateway's check, answered from the index in-process;
- ``/v1/...`` (authledger.service.admin): the admin API, bearer-token authenticated;
- ``/healthz`` (alive) and ``/readyz`` (the index has caught up with the ledger as it was
  when the server started, and its follower is running), both reporting the position.

The access log is one JSON object per request on the ``authledger.access`` logger: method,
path without the query (an AppCode may ride in it), status, duration, and what the
handler chose to add (actor, api_id, app_id, reason). Never a header value, a body, a
signature or a token.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from authledger.gateway.errors import reject
from authledger.gateway.verifier import Verifier
from authledger.service.authz import METHODS
from authledger.service.errors import InternalError, PayloadTooLarge, error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 1024 * 1024  # bytes; admin bodies are small, and /authz gets none from nginx
UNAVAILABLE = "Authorization Index Unavailable"


class GuardedVerifier:
    """The verifier, refusing every check with 503 until ``ready()`` says the index can be
    trusted (loaded up to where the ledger was at start, fresh, its follower running): fail
    closed, so a revocation or a disable the index has not applied yet, or could not apply,
    is never answered with a 200."""

    def __init__(self, verifier: Verifier, ready: Callable[[], bool]) -> None:
        self._verifier = verifier
        self._ready = ready

    def verify(self, *args: Any, **kwargs: Any) -> Any:
        if not self._ready():
            return reject(503, UNAVAILABLE, None)
        return self._verifier.verify(*args, **kwargs)
LOG_KEY = "authledger.log"
BULK_CATCH_UP = 10_000  # events applied in one catalog catch-up after which its heap is frozen
access_logger = logging.getLogger("authledger.access")
error_logger = logging.getLogger("authledger.error")


class Service:
    """What the handlers share: the ledger, the live index, the verifier, the follower."""

    window: float = 900  # the signature window (seconds) the verifier was built with

    def __init__(self, ledger: Any, index: Any, verifier: Verifier, following: Any, start_position: int,
                 db_path: str | None = None) -> None:
        self.ledger = ledger
        self.db_path = db_path
        self.index = index
        self.verifier = GuardedVerifier(verifier, self.ready)
        self.following = following
        self.follows = following is not None
        self.start_position = start_position
        from authledger.service.authz import Router
        from projections.catalog_index import CatalogIndex

        self.router = Router(index)
        # The admin lists' projection (apps, APIs, grants and their filters), caught up from
        # the log at each list request: as fresh as the log, reading only what is new.
        from projections.log import log_for

        self.catalog = CatalogIndex()
        self._catalog_log = log_for(ledger)  # the lists' reader of the log (a connection of its own)
        self._cursor_key: bytes | None = None

    def catalog_now(self) -> Any:
        """The catalog index, caught up with the log.

        After a bulk catch-up (the first list after a start: the whole log) the heap it built
        is frozen out of the cyclic collector (``gc.freeze``): it makes no cycles, and a full
        collection rescanning 10,000 apps and 50,000 grants added ~100 ms to whichever request
        ran into it (the p99 of a 100-app page, scripts/bench/lists.py). Refcounting still
        frees what it drops."""
        if self.catalog.catch_up(self._catalog_log) >= BULK_CATCH_UP:
            import gc

            gc.freeze()
        return self.catalog

    @property
    def cursor_key(self) -> bytes:
        """The key sealing list cursors: derived from the ledger's secret key (every server on
        the ledger accepts the others' cursors); a random one per process without a key."""
        if self._cursor_key is None:
            from ledger.crypto import SecretKeyError

            try:
                self._cursor_key = self.ledger.box.cursor_key()
            except SecretKeyError:
                import os

                self._cursor_key = os.urandom(32)
        return self._cursor_key

    def stopped_following(self) -> bool:
        """The index was meant to follow the ledger and no longer does (its follower died on
        an event it could not apply, or the service was closed): it may be missing a revocation."""
        return self.follows and (self.following is None or not self.following.alive)

    def ready(self) -> bool:
        return not self.stopped_following() and self.index.position >= self.start_position

    def close(self) -> None:
        """Stop following the ledger (idempotent)."""
        following, self.following = self.following, None
        if following is not None:
            following.stop()
        self._catalog_log.close()


def _sqlite_path(ledger: Any) -> str | None:
    """The ledger's SQLite file (for the audit index beside it), its postgresql:// URL (the
    audit index in the local cache, see ledger/store.py), or None for the in-memory store."""
    if ledger.env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
        from ledger.store import url_from_env

        return url_from_env(ledger.env)
    if ledger.env.get("PERSISTENCE_MODULE") != "eventsourcing.sqlite":
        return None
    name = ledger.env.get("SQLITE_DBNAME")
    return name if isinstance(name, str) and name != ":memory:" and "mode=memory" not in name else None


def fenced_nonce_store() -> Any:
    """This process's own nonce store, fenced at its start: a signed request stamped before
    the process started may have used its nonce in the previous process (a restart), so it
    is refused ``Timestamp Expired`` (authledger.gateway.nonces)."""
    from authledger.gateway.nonces import InMemoryNonceStore

    return InMemoryNonceStore(fence=time.time())


def _ledger_position(ledger: Any) -> int:
    return int(ledger.recorder.max_notification_id() or 0)


def create_app(
    ledger: Any,
    *,
    index: Any = None,
    window: float = 900,
    nonce_store: Any = None,
    access_log: bool = True,
    max_body: int = MAX_BODY,
    follow: bool = True,
    db_path: str | None = None,
    host_header: str | None = None,
    more_routes: Callable[[Service], list[BaseRoute]] | None = None,
) -> Starlette:
    """The ASGI app over ``ledger``; follows it into ``index`` (a new AuthIndex by default).

    ``more_routes``: routes of a layer above the service, built over it (``authledger serve``
    passes the console's, authledger.console: the service cannot import what sits above it)."""
    from projections.auth_index import AuthIndex
    from projections.follow import start_following
    from authledger.service import admin, authz, openapi

    if index is None:
        index = AuthIndex(ledger.box)
    start = _ledger_position(ledger)
    following = start_following(ledger, index) if follow else None
    if nonce_store is None:
        nonce_store = fenced_nonce_store()
    verifier = Verifier(index, window_seconds=window, nonce_store=nonce_store)
    if db_path is None:
        db_path = _sqlite_path(ledger)
    service = Service(ledger, index, verifier, following, start, db_path)
    service.window = window  # the signature window: bounds /v1/verify-request for owners (issue 14.3)
    service.host_header = host_header  # /authz routes by this header's host (authledger.service.authz), else Host

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "position": service.index.position})

    async def readyz(_request: Request) -> Response:
        ready = service.ready()
        body = {
            "ready": ready,
            "position": service.index.position,
            "start_position": service.start_position,
            "following": service.following is not None and service.following.alive,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    async def openapi_json(_request: Request) -> Response:
        return JSONResponse(openapi.document())

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/v1/openapi.json", openapi_json, methods=["GET"]),
        *authz.routes(service),
        *(more_routes(service) if more_routes is not None else []),
        *admin.routes(service),
    ]
    return assemble(service, routes, access_log=access_log, max_body=max_body)


def assemble(service: Any, routes: list[BaseRoute], *, access_log: bool = True, max_body: int = MAX_BODY) -> Starlette:
    """Routes + limits + access log + error handlers; ``service.close()`` on shutdown.

    Shared by ``create_app`` and the gateway sidecar (authledger.service.gateway_app), which serves
    ``/authz`` from an index fed over Redis instead of a ledger.
    """
    app = Starlette(routes=routes, lifespan=_lifespan(service))
    app.state.service = service
    app.add_exception_handler(PayloadTooLarge, _too_large)
    app.add_exception_handler(Exception, _internal_error)  # last line of defence: no traceback out
    wrapped = _Limits(app, max_body=max_body)
    outer: ASGIApp = _AccessLog(wrapped) if access_log else wrapped
    # /authz, the hot path, skips Starlette's routing and middleware (a third of a request's
    # time in Python): the same limits and access log, then the raw endpoint.
    endpoint = next((r.endpoint for r in routes if isinstance(r, Route) and r.path == "/authz"), None)
    authz: ASGIApp | None = None
    if endpoint is not None:
        authz = _Limits(endpoint, max_body=max_body)
        authz = _AccessLog(authz) if access_log else authz
    return _Outer(app, outer, authz)  # type: ignore[return-value]


def _lifespan(service: Any) -> Any:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        try:
            yield
        finally:
            service.close()

    return lifespan


async def _too_large(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PayloadTooLarge)
    return error_response(exc, {"connection": "close"})


async def _internal_error(request: Request, exc: Exception) -> Response:
    service = getattr(request.app.state, "service", None)
    return _error_response(exc, service, request.method, request.url.path)


def _error_response(exc: Exception, service: Any, method: str, path: str) -> Response:
    """The answer to an unexpected exception: one line for a store failure, else a logged
    traceback and a bare 500 (never the traceback itself)."""
    from ledger.store import store_failure

    failure = store_failure(exc, getattr(service, "db_path", None))
    if failure is not None:  # the store is away, locked or full: one line, no traceback
        error_logger.warning("%s %s: %s", method, path, failure.message)
        return error_response(failure)
    error_logger.error("internal error on %s %s", method, path, exc_info=exc)
    return error_response(InternalError("internal error"))


class _Outer:
    """The middleware stack, still exposing the Starlette app's ``state`` for tests and serve.

    Requests for ``/authz`` and ``/authz/...`` with a method the route takes go straight to
    ``authz`` (the endpoint under the same limits and access log); everything else, lifespan
    included, to the Starlette stack.
    """

    def __init__(self, app: Starlette, stack: ASGIApp, authz: ASGIApp | None = None) -> None:
        self.app = app
        self.state = app.state
        self._stack = stack
        self._authz = authz

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._authz is not None and scope["type"] == "http":
            path = scope["path"]
            if (path == "/authz" or path.startswith("/authz/")) and scope["method"] in _AUTHZ_METHODS:
                try:
                    await self._authz(scope, receive, send)
                except Exception as exc:  # noqa: BLE001 - last line of defence, as Starlette's handler
                    response = _error_response(exc, self.state.service, scope["method"], path)
                    try:
                        await response(scope, receive, send)
                    except Exception:  # noqa: BLE001 - the response had started: nothing more to send
                        pass
                return
        await self._stack(scope, receive, send)


_AUTHZ_METHODS = frozenset(METHODS)


class _Limits:
    """Refuse bodies over ``max_body`` bytes with 413, by Content-Length or as they stream."""

    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_body:
                    await self._too_large(scope, receive, send)
                    return
                break
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise PayloadTooLarge(f"request body over {self.max_body} bytes", field="body")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except PayloadTooLarge:
            if not started:
                await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(PayloadTooLarge(f"request body over {self.max_body} bytes", field="body"),
                                  {"connection": "close"})
        await response(scope, receive, send)


class _AccessLog:
    """One JSON line per request; handlers add safe fields through ``scope[LOG_KEY]``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        extra: dict[str, Any] = {}
        scope[LOG_KEY] = extra
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if access_logger.isEnabledFor(logging.INFO):
                client = scope.get("client")
                record = {
                    "ts": round(time.time(), 3),
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "ms": round((time.perf_counter() - t0) * 1000, 3),
                    "client": client[0] if client else None,
                    **extra,
                }
                access_logger.info(json.dumps(record, default=str, ensure_ascii=True))
