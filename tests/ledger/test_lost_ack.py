"""Lost acknowledgements (issue 8): the commit lands, the writer hears an error, a retry follows.

Two ways of making it happen for real:
- in the recorder (both stores): the insert commits, then the call raises the store's
  OperationalError, as a connection cut after COMMIT would (the ledger's own retry path);
- on the wire (PostgreSQL): a proxy that passes COMMIT to the server and loses the server's
  answer (tests/ack_proxy.py), so the library's own insert retry meets the unique key.

Each retried command must land exactly once, with the receipt of its one landing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from ledger.application import Ledger
from ledger.bootstrap import open_ledger
from ledger.idempotency import request
from tests.ack_proxy import AckLosingProxy
from tests.conftest import TEST_KEY


class Faults:
    """Wraps a ledger's recorder: fail the next ``n`` inserts before or after they commit."""

    def __init__(self, ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
        self.after = 0
        self.before = 0
        self.injected = 0
        self.then_before = 0  # after a lost acknowledgement, fail this many retries before the store
        self.meanwhile: Any = None  # run when a save fails before committing (another writer)
        insert = ledger.recorder.insert_events

        def faulty(stored_events: Any, **kwargs: Any) -> Any:
            if self.before:
                self.before -= 1
                self.injected += 1
                if self.meanwhile is not None:
                    self.meanwhile()
                raise OperationalError("connection cut before commit (injected)")
            result = insert(stored_events, **kwargs)
            if self.after:
                self.after -= 1
                self.injected += 1
                self.before, self.then_before = self.then_before, 0  # the retries fail too
                raise OperationalError("connection cut after commit: acknowledgement lost (injected)")
            return result

        monkeypatch.setattr(ledger.recorder, "insert_events", faulty)


def log(ledger: Ledger) -> list[Any]:
    return list(ledger.recorder.select_notifications(1, 100_000))


def check_tiles(ledger: Ledger, receipts: list[Any], start: int = 0) -> None:
    """The receipts' ranges are exactly the log after ``start``: every event once, nothing else."""
    covered = sorted(p for r in receipts for p in range(r.position - r.events + 1, r.position + 1))
    assert covered == [n.id for n in log(ledger) if n.id > start]


@pytest.mark.parametrize("after,before,then_before", [(1, 0, 0), (0, 1, 0), (0, 3, 0), (1, 0, 2)],
                         ids=["ack-lost", "cut-before-commit", "cut-3-times", "ack-lost-then-cut-twice"])
def test_a_create_whose_save_fails_lands_once(ledger: Ledger, monkeypatch: pytest.MonkeyPatch,
                                              after: int, before: int, then_before: int) -> None:
    faults = Faults(ledger, monkeypatch)
    faults.after, faults.before, faults.then_before = after, before, then_before
    r = ledger.create_app("alice", "MyApp")
    assert faults.injected == after + before + then_before
    topics = Counter(n.topic for n in log(ledger))
    assert topics["authledger:AppCreated"] == 1 and topics["authledger:AppKeyClaimed"] == 1
    assert (r.events, r.position) == (5, 5)
    app = ledger.get_app(r.ids["app_id"])  # the receipt names the app that landed
    assert list(app.key_pairs) == [r.ids["app_key"]]
    assert ledger.open_secret(app, r.ids["app_key"]) == r.revealed["app_secret"]
    assert str(ledger.app_id_for_code(r.revealed["app_code"])) == r.ids["app_id"]


def test_every_generating_command_with_a_lost_ack_lands_once(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.tokens import issue_token

    api = ledger.register_api("prov", "api").ids["api_id"]
    created = ledger.create_app("alice", "MyApp")
    app_id, key, code = created.ids["app_id"], created.ids["app_key"], created.revealed["app_code"]
    start = ledger.recorder.max_notification_id() or 0
    faults = Faults(ledger, monkeypatch)
    receipts = []
    for command in [
        lambda: ledger.register_api("prov", "api2"),
        lambda: ledger.create_app("bob", "Second"),
        lambda: ledger.add_key_pair(app_id, "alice"),
        lambda: ledger.reset_key_pair(key, "alice"),
        lambda: ledger.add_app_code(app_id, "alice"),
        lambda: ledger.reset_app_code(code, "alice"),
        lambda: ledger.grant("prov", app_id, api, "RELEASE"),
        lambda: issue_token(ledger, "alice", "ci"),
        lambda: ledger.disable_app(app_id, "alice"),
    ]:
        faults.after = 1
        receipts.append(command())
        assert faults.after == 0
    check_tiles(ledger, receipts, start)
    app = ledger.get_app(app_id)
    assert len(app.key_pairs) == 2 and len(app.app_codes) == 2 and not app.enabled
    # The reset secret in the receipt is the one stored (the events were built once).
    assert ledger.open_secret(app, key) == receipts[3].revealed["app_secret"]


def test_a_lost_ack_under_an_idempotency_key_lands_once_and_then_replays(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = Faults(ledger, monkeypatch)
    faults.after = 1
    first = ledger.create_app("alice", "MyApp", idempotency=request("k1", "test:app create", {"name": "MyApp"}))
    again = ledger.create_app("alice", "MyApp", idempotency=request("k1", "test:app create", {"name": "MyApp"}))
    assert faults.injected == 1
    assert [n.topic for n in log(ledger)].count("authledger:AppCreated") == 1
    assert not first.replayed and again.replayed
    assert (again.ids, again.position, again.events) == (first.ids, first.position, first.events) == (
        first.ids, 6, 6)


def test_a_genuine_conflict_after_a_store_error_is_still_a_conflict(
    ledger: Ledger, db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.errors import DuplicateAppKey

    other = open_ledger(db_path, key=TEST_KEY)  # another writer takes the AppKey while our save fails
    faults = Faults(ledger, monkeypatch)
    faults.before = 1
    faults.meanwhile = lambda: other.create_app("carol", "Winner", app_key="contestedKey")
    with pytest.raises(DuplicateAppKey):
        ledger.create_app("bob", "Loser", app_key="contestedKey")
    assert faults.injected == 1
    assert [n.topic for n in log(ledger)].count("authledger:AppCreated") == 1  # the winner's only
    assert ledger.recorder.max_notification_id() == 5
    other.close()


# -- on the wire: PostgreSQL's answer to COMMIT lost -------------------------------------------


@pytest.fixture
def proxied(pg_url: str) -> Iterator[tuple[Ledger, AckLosingProxy]]:
    proxy = AckLosingProxy(pg_url)
    ledger = open_ledger(proxy.url, key=TEST_KEY)
    yield ledger, proxy
    ledger.close()
    proxy.close()


@pytest.mark.postgres
def test_postgres_commit_answer_lost_on_the_wire_the_command_lands_once(
    proxied: tuple[Ledger, AckLosingProxy], pg_url: str
) -> None:
    ledger, proxy = proxied
    api = ledger.register_api("prov", "api").ids["api_id"]
    receipts = []
    for i in range(5):
        proxy.lose(1)
        receipts.append(ledger.create_app("alice", f"App{i:03d}"))
        assert proxy.lost == i + 1  # the answer to this command's COMMIT was lost
    proxy.lose(1)
    receipts.append(ledger.grant("prov", [r.ids["app_id"] for r in receipts], api, "RELEASE"))
    proxy.lose(1)
    receipts.append(ledger.add_key_pair(receipts[0].ids["app_id"], "alice"))
    assert proxy.lost == 7
    check_tiles(ledger, receipts, start=1)
    # Read back directly (not through the proxy): five apps, each as its receipt says.
    direct = open_ledger(pg_url, key=TEST_KEY)
    try:
        topics = Counter(n.topic for n in log(direct))
        assert topics["authledger:AppCreated"] == 5 and topics["authledger:GrantGiven"] == 5
        assert topics["authledger:KeyPairAdded"] == 6
        for r in receipts[:5]:
            app = direct.get_app(r.ids["app_id"])
            assert direct.open_secret(app, r.ids["app_key"]) == r.revealed["app_secret"]
    finally:
        direct.close()


@pytest.mark.postgres
def test_the_cli_over_a_lost_commit_answer_exits_0_once(pg_url: str, secret_key_env: bytes) -> None:
    import json
    import os
    import subprocess
    import sys

    proxy = AckLosingProxy(pg_url)
    try:
        open_ledger(pg_url, key=TEST_KEY).close()  # tables made
        proxy.lose(1)
        r = subprocess.run([sys.executable, "-m", "authledger.cli.main", "--database-url", proxy.url, "--json",
                            "app", "create", "--owner", "alice", "--name", "OverProxy"],
                           capture_output=True, text=True, env=os.environ.copy(), timeout=120, check=False)
        assert r.returncode == 0, r.stderr
        assert proxy.lost == 1
        out = json.loads(r.stdout)
    finally:
        proxy.close()
    ledger = open_ledger(pg_url, key=TEST_KEY)
    try:
        created = [n for n in log(ledger) if n.topic == "authledger:AppCreated"]
        assert [str(n.originator_id) for n in created] == [out["app_id"]]
        assert (out["events"], out["position"]) == (5, ledger.recorder.max_notification_id())
    finally:
        ledger.close()
