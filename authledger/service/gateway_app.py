"""The gateway sidecar's ASGI app: ``/authz`` and health, from an index fed over Redis.

``authledger gateway`` runs this next to nginx on each gateway host. It has no database:
its index is a ``authledger.distribution.subscriber.Subscriber``'s. ``/authz`` is the same endpoint
as ``authledger serve``'s (authledger.service.authz); before the first bootstrap, or once the index
is older than ``--max-staleness``, every check is refused 503 ``Authorization Index
Unavailable`` (fail closed) — otherwise it answers from the index it has (fail-static).
``/healthz`` and ``/readyz`` report the position, lag and last update.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from authledger.gateway.verifier import Verifier
from authledger.service.app import MAX_BODY, GuardedVerifier, assemble, fenced_nonce_store


class GatewayService:
    """What authledger.service.authz needs (index, verifier, router), over a subscriber."""

    def __init__(self, subscriber: Any, verifier: Verifier) -> None:
        from authledger.service.authz import Router

        self.subscriber = subscriber
        self.index = subscriber.view
        self.verifier = GuardedVerifier(verifier, self.ready)
        self.router = Router(self.index)

    def ready(self) -> bool:
        return bool(self.subscriber.bootstrapped) and not self.subscriber.stale()

    def close(self) -> None:
        self.subscriber.stop()


def create_gateway_app(subscriber: Any, *, window: float = 900, nonce_store: Any = None,
                       access_log: bool = True, max_body: int = MAX_BODY, host_header: str | None = None) -> Any:
    """The sidecar app over a (started) subscriber."""
    from authledger.service import authz

    if nonce_store is None:
        nonce_store = fenced_nonce_store()
    verifier = Verifier(subscriber.view, window_seconds=window, nonce_store=nonce_store)
    service = GatewayService(subscriber, verifier)
    service.host_header = host_header  # type: ignore[attr-defined]  # see authledger.service.authz

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok", **subscriber.status()})

    async def readyz(_request: Request) -> Response:
        ready = service.ready()
        return JSONResponse({"ready": ready, **subscriber.status()}, status_code=200 if ready else 503)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *authz.routes(service),
    ]
    return assemble(service, routes, access_log=access_log, max_body=max_body)
