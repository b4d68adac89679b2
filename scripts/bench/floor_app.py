"""The Python floor for an auth service: a minimal ASGI app that answers 200 to everything.

It runs on the same server stack as ``authledger serve`` and the gateway sidecar
(``authledger.service.server.config``: uvicorn, httptools, uvloop, one process, no access
log), so nginx ``auth_request`` in front of it measures what any Python auth service on this
stack costs before it checks anything. The service benchmark sets ``/authz`` and the sidecar
next to it (scripts/bench/service.py).

    python -m scripts.bench.floor_app --port 8090
"""

from __future__ import annotations

import argparse
from typing import Any

_START = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
_BODY = {"type": "http.response.body", "body": b""}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """200 with an empty body for every HTTP request; lifespan accepted."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send(_START)
    await send(_BODY)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from authledger.service.server import config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.Server(config(app, port=args.port)).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
