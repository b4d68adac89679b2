"""``authledger serve``: the admin API, the gateway check endpoint and health, on uvicorn."""

from __future__ import annotations

from typing import Any

import click

from authledger.cli.main import announce_created, global_options, settings


def _host_header(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from ledger.errors import InvalidInput
    from authledger.service.authz import host_header_name

    try:
        host_header_name(value)
    except InvalidInput as e:
        raise click.BadParameter(e.message) from None
    return value


host_header_option = click.option(
    "--host-header", default="Host", show_default=True, metavar="NAME", callback=_host_header,
    help="Header that carries the client's host for routing by API group host (falls back to Host "
         "when absent). Name another (X-Original-Host) only behind a gateway that sets it on every "
         "route to /authz: otherwise the client's own copy chooses the group.")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--redis", "redis_url", default=None, metavar="URL",
              help="Redis for the nonce store shared by every serve/gateway process.")
@click.option("--window", default=900.0, show_default=True, type=click.FloatRange(min=0),
              help="Timestamp window for signed requests, seconds.")
@click.option("--http", "http", type=click.Choice(("httptools", "h11")), default="httptools", show_default=True,
              help="HTTP parser (both answer oversized headers 431).")
@click.option("--max-body", default=1024 * 1024, show_default=True, type=click.IntRange(1), help="Bytes; more is 413.")
@click.option("--max-header-bytes", default=64 * 1024, show_default=True, type=click.IntRange(1024),
              help="Request line + headers, bytes; more is 431.")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="One JSON line per request on stderr (no secrets, signatures or Authorization).")
@click.option("--console/--no-console", default=True, show_default=True,
              help="The web console at /console (log-in by token; docs/console.md).")
@host_header_option
@global_options
def serve(host: str, port: int, redis_url: str | None, window: float, http: str, max_body: int,
          max_header_bytes: int, access_log: bool, console: bool, host_header: str) -> None:
    """Serve the ledger over HTTP: /v1 admin API, /console, /authz for gateways, /healthz, /readyz."""
    import logging

    import uvicorn

    from authledger.service import server
    from authledger.service.app import create_app

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server.configure_access_log(access_log)
    ledger = settings().ledger(role="serve", create=True)  # a larger PostgreSQL pool for request threads
    announce_created()
    # Replays across processes: one serve per SQLite file unless all share nonces (authledger.service.serve_lock).
    lock = _lock(settings().target(), shared=bool(redis_url), url=f"http://{host}:{port}")
    nonce_store = None  # this process's own, fenced at its start (authledger.service.app)
    if redis_url:  # nonces shared by every serve/gateway process on this Redis (issue 6)
        from authledger.distribution import connect
        from authledger.distribution.nonces_redis import RedisNonceStore

        nonce_store = RedisNonceStore(connect(redis_url))
    from authledger.console import routes as console_routes

    app = create_app(ledger, window=window, access_log=access_log, max_body=max_body,
                     nonce_store=nonce_store, host_header=host_header, more_routes=console_routes if console else None)
    config = server.config(app, host=host, port=port, http=http, max_header_bytes=max_header_bytes)
    click.echo(f"authledger: serving {_where(settings().target())} on http://{host}:{port} "
               f"(index at position {app.state.service.index.position})", err=True)
    try:
        uvicorn.Server(config).run()
    finally:
        if lock is not None:
            lock.release()


def _lock(target: str, *, shared: bool, url: str) -> Any:
    """Hold the SQLite ledger against a second serve that would not share nonces (authledger.service.serve_lock)."""
    from ledger.store import is_url
    from authledger.service.serve_lock import ServeLock

    if is_url(target):
        if not shared:
            click.echo("authledger: note: without --redis this process's nonces are its own; behind one "
                       "gateway, run every serve of this ledger with --redis URL (docs/gateway.md)", err=True)
        return None
    if target == ":memory:" or "mode=memory" in target:
        return None
    return ServeLock(target, shared=shared).acquire(url=url)


def _where(target: str) -> str:
    """The ledger served, as a user can find it again (a PostgreSQL URL without its password)."""
    import os

    from ledger.store import is_url, parse_url

    return parse_url(target).redacted() if is_url(target) else os.path.abspath(target)


def register(cli: click.Group) -> None:
    cli.add_command(serve)

