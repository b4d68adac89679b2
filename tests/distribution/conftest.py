"""Fixtures for the distribution tests: a real redis-server per module, a key prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from authledger.distribution.publisher import Publisher, Publishing
from authledger.distribution.subscriber import Subscriber
from ledger.crypto import SecretBox
from tests.conftest import TEST_KEY
from tests.distribution.harness import RedisServer


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A throwaway redis-server (no persistence) for this module."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def prefix() -> str:
    """Each test's own Redis key space on the shared server."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(TEST_KEY)


@pytest.fixture
def make_subscriber(redis_server: RedisServer, prefix: str, box: SecretBox) -> Iterator[Any]:
    """``make_subscriber(**kw)``: a Subscriber on this test's prefix (stopped at teardown)."""
    made: list[Subscriber] = []

    def make(start: bool = True, **kw: Any) -> Subscriber:
        kw.setdefault("block_ms", 200)
        sub = Subscriber(redis_server.client(), box, prefix=prefix, name=f"sub{len(made)}", **kw)
        made.append(sub)
        return sub.start() if start else sub

    yield make
    for sub in made:
        sub.stop()


@pytest.fixture
def publishing(redis_server: RedisServer, prefix: str, ledger: Any) -> Iterator[Any]:
    """``publishing(**kw)``: an in-process publisher thread over the test ledger."""
    running: list[Publishing] = []

    def start(**kw: Any) -> Publishing:
        kw.setdefault("poll_interval", 0.005)
        kw.setdefault("heartbeat_every", 0.1)
        p = Publishing(Publisher(ledger, redis_server.client(), prefix=prefix, **kw))
        running.append(p)
        return p

    yield start
    for p in running:
        p.stop()


