"""``authledger publish`` and ``authledger gateway``: the auth index over Redis.

``publish`` runs beside the ledger (it reads the database); ``gateway`` runs on each
gateway host with no database at all: it needs Redis and the secret key only.
"""

from __future__ import annotations

import click

from authledger.cli.main import global_options, settings


@click.command("publish")
@click.option("--redis", "redis_url", required=True, metavar="URL", help="e.g. redis://127.0.0.1:6379/0")
@click.option("--snapshot-every", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between full snapshots of the index in Redis.")
@click.option("--stream-maxlen", default=100_000, show_default=True, type=click.IntRange(10),
              help="Approximate length the change stream is trimmed to.")
@click.option("--poll-interval", default=0.01, show_default=True, type=click.FloatRange(min=0.001),
              help="Seconds between polls of the ledger for other processes' writes.")
@click.option("--heartbeat-every", default=1.0, show_default=True, type=click.FloatRange(min=0.01),
              help="Seconds between heartbeats (gateways' --max-staleness measures their age).")
@click.option("--prefix", default="authledger", show_default=True, help="Redis key prefix.")
@global_options
def publish(redis_url: str, snapshot_every: float, stream_maxlen: int, poll_interval: float,
            heartbeat_every: float, prefix: str) -> None:
    """Publish the ledger's index changes to a Redis Stream, with snapshots (until SIGTERM)."""
    import logging
    import signal
    import threading

    from authledger.distribution import connect
    from authledger.distribution.publisher import Publisher

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ledger = settings().ledger()
    publisher = Publisher(ledger, connect(redis_url), prefix=prefix, maxlen=stream_maxlen,
                          snapshot_every=snapshot_every, poll_interval=poll_interval,
                          heartbeat_every=heartbeat_every)
    stop = threading.Event()
    # The publisher runs in a thread; this thread only waits for SIGTERM/SIGINT (sigtimedwait).
    # A Python signal handler calling Event.set() could deadlock on the Event's own lock if it
    # interrupted the publisher's Event.wait in the same thread (seen: 1 run in 4).
    signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    error: list[BaseException] = []

    def main() -> None:
        try:
            publisher.run(stop)
        except BaseException as e:  # noqa: BLE001 - re-raised below, in the main thread
            error.append(e)

    worker = threading.Thread(target=main, name="authledger-publish")
    click.echo(f"authledger: publishing {settings().db or 'the default ledger'} to {redis_url}", err=True)
    worker.start()
    while worker.is_alive():
        if signal.sigtimedwait(signals, 0.5) is not None:
            stop.set()
            publisher.wake()
            break
    worker.join()
    if error:
        raise error[0]
    click.echo(f"authledger: publisher stopped at position {publisher.published}", err=True)


from authledger.cli.serve import host_header_option  # noqa: E402 - shared with serve


@click.command("gateway")
@click.option("--redis", "redis_url", required=True, metavar="URL", help="e.g. redis://127.0.0.1:6379/0")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8081, show_default=True, type=click.IntRange(0, 65535))
@click.option("--secret-key-file", default=None, metavar="PATH",
              help="The ledger's secret key (else $AUTHLEDGER_SECRET_KEY).")
@click.option("--max-staleness", default=None, type=click.FloatRange(min=0), metavar="SECONDS",
              help="Answer 503 (and fail /readyz) once the index is older than this: the age of the "
                   "publisher's last heartbeat (or event) the index has caught up with. Default: never "
                   "(fail-static). Recommended: 5.")
@click.option("--window", default=900.0, show_default=True, type=click.FloatRange(min=0),
              help="Timestamp window for signed requests, seconds.")
@click.option("--prefix", default="authledger", show_default=True, help="Redis key prefix.")
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@host_header_option
def gateway(redis_url: str, host: str, port: int, secret_key_file: str | None, max_staleness: float | None,
            window: float, prefix: str, access_log: bool, host_header: str) -> None:
    """A gateway sidecar: /authz and health from the index received over Redis (no database)."""
    import logging

    import uvicorn

    from authledger.distribution import connect
    from authledger.distribution.nonces_redis import RedisNonceStore
    from authledger.distribution.subscriber import Subscriber
    from ledger.crypto import SecretBox, load_key
    from authledger.service import server
    from authledger.service.gateway_app import create_gateway_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server.configure_access_log(access_log)
    box = SecretBox(load_key(None, key_file=secret_key_file, create=False))
    subscriber = Subscriber(connect(redis_url), box, prefix=prefix, max_staleness=max_staleness,
                            name=f"gateway:{port}").start()
    app = create_gateway_app(subscriber, window=window, nonce_store=RedisNonceStore(connect(redis_url), prefix=prefix),
                             access_log=access_log, host_header=host_header)
    click.echo(f"authledger: gateway on http://{host}:{port}, index from {redis_url}", err=True)
    uvicorn.Server(server.config(app, host=host, port=port)).run()


def register(cli: click.Group) -> None:
    cli.add_command(publish)
    cli.add_command(gateway)
