"""Idempotency keys on real stores (SQLite file and PostgreSQL): a command sent twice under one
key lands once; the key with another request is refused and writes nothing; racing processes
with one key make one app; the record never holds a secret.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.errors import IdempotencyKeyReused, InvalidInput, NotPermitted
from ledger.idempotency import request
from tests.conftest import raw_store_bytes

RECORD = "authledger:IdempotencyKeyUsed"


def topics(ledger: Ledger) -> Counter[str]:
    return Counter(n.topic for n in ledger.recorder.select_notifications(1, 100_000))


def last(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


def test_the_same_key_twice_makes_one_app_and_the_same_receipt(ledger: Ledger) -> None:
    first = ledger.create_app("alice", "MyApp", idempotency=request("create-1", "test:app create", {"name": "MyApp"}))
    again = ledger.create_app("alice", "MyApp", idempotency=request("create-1", "test:app create", {"name": "MyApp"}))
    assert topics(ledger)["authledger:AppCreated"] == 1
    assert topics(ledger)[RECORD] == 1
    assert first.events == 6 == last(ledger)  # the app's five events and the record, in one transaction
    assert not first.replayed and again.replayed
    assert again.ids == first.ids
    assert (again.events, again.position, again.timestamp) == (first.events, first.position, first.timestamp)
    # The secrets were shown once, by the first response; the replay names them, never shows them.
    assert set(first.revealed) == {"app_secret", "app_code"}
    assert again.revealed == {} and again.withheld == ("app_code", "app_secret")
    d = again.to_dict()
    assert d["replayed"] is True and "app_secret" not in d and "app_code" not in d
    assert d["app_id"] == first.ids["app_id"] and d["position"] == first.position


def test_the_same_key_with_another_request_is_refused_and_writes_nothing(ledger: Ledger) -> None:
    ledger.create_app("alice", "MyApp", idempotency=request("k", "test:app create", {"name": "MyApp"}))
    before = last(ledger)
    for op, params in [("test:app create", {"name": "Other"}), ("test:key add", {"name": "MyApp"})]:
        with pytest.raises(IdempotencyKeyReused) as e:
            ledger.create_app("alice", "Other", idempotency=request("k", op, params))
        assert e.value.exit_code == 2 and e.value.http_status == 422 and e.value.field == "idempotency_key"
    assert last(ledger) == before


def test_keys_belong_to_the_acting_account(ledger: Ledger) -> None:
    a = ledger.create_app("alice", "MyApp", idempotency=request("shared", "test:app create", {}))
    b = ledger.create_app("bob", "MyApp", idempotency=request("shared", "test:app create", {}))
    assert a.ids["app_id"] != b.ids["app_id"] and not b.replayed


def test_a_refused_command_leaves_its_key_unused(ledger: Ledger) -> None:
    app = ledger.create_app("alice", "MyApp").ids["app_id"]
    before = last(ledger)
    with pytest.raises(NotPermitted):
        ledger.add_key_pair(app, "mallory", idempotency=request("add", "test:key add", {"app": app}))
    assert last(ledger) == before and topics(ledger)[RECORD] == 0
    r = ledger.add_key_pair(app, "alice", idempotency=request("add", "test:key add", {"app": app}))
    assert r.events == 3 and not r.replayed  # the pair, its AppKey claim, the record


@pytest.mark.parametrize("key", ["", " lead", "trail ", "é", "tab\there", "x" * 256, "nul\x00"])
def test_a_malformed_key_is_invalid_input_and_writes_nothing(ledger: Ledger, key: str) -> None:
    with pytest.raises(InvalidInput, match="idempotency key must be 1-255 printable ASCII"):
        ledger.create_app("alice", "MyApp", idempotency=request(key, "test:app create", {}))
    assert last(ledger) == 0


def test_the_longest_and_shortest_keys_work(ledger: Ledger) -> None:
    for key in ["a", "~" * 255, 'with "quotes" and spaces']:
        ledger.create_app("alice", "MyApp", idempotency=request(key, "test:app create", {}))
    assert topics(ledger)[RECORD] == 3


def test_every_generating_command_replays(ledger: Ledger) -> None:
    from ledger.tokens import issue_token

    api = ledger.register_api("prov", "api").ids["api_id"]
    app = ledger.create_app("alice", "MyApp")
    app_id, key, code = app.ids["app_id"], app.ids["app_key"], app.revealed["app_code"]
    commands: list[tuple[str, str, Any]] = [
        ("prov", "api", lambda idempotency: ledger.register_api("prov", "api2", idempotency=idempotency)),
        ("alice", "key add", lambda idempotency: ledger.add_key_pair(app_id, "alice", idempotency=idempotency)),
        ("alice", "key reset", lambda idempotency: ledger.reset_key_pair(key, "alice", idempotency=idempotency)),
        ("alice", "code add", lambda idempotency: ledger.add_app_code(app_id, "alice", idempotency=idempotency)),
        ("alice", "code reset", lambda idempotency: ledger.reset_app_code(code, "alice", idempotency=idempotency)),
        ("prov", "grant", lambda idempotency: ledger.grant("prov", app_id, api, "RELEASE", idempotency=idempotency)),
        ("alice", "token", lambda idempotency: issue_token(ledger, "alice", "ci", idempotency=idempotency)),
    ]
    for _actor, op, command in commands:
        first = command(idempotency=request(op, "test:" + op, {}))
        n = last(ledger)
        again = command(idempotency=request(op, "test:" + op, {}))
        assert last(ledger) == n, op
        assert again.replayed and again.ids == first.ids and again.position == first.position, op
        assert again.withheld == tuple(sorted(first.revealed)), op


def test_the_record_holds_no_secret_and_no_custom_secret_of_the_request(ledger: Ledger, db_path: str) -> None:
    secret, code = "Custom!Secret!0123456789", "CustomCode0000000000042"
    params = {"app_secret": secret, "app_code": code}
    r = ledger.create_app("alice", "MyApp", app_secret=secret, app_code=code, idempotency=request("k", "test:app create", params))
    token_params = {"label": "ci"}
    from ledger.tokens import issue_token

    t = issue_token(ledger, "alice", "ci", idempotency=request("t", "test:token", token_params))
    records = [ledger.mapper.to_domain_event(n) for n in ledger.recorder.select_notifications(1, 1000, topics=[RECORD])]
    assert len(records) == 2
    for rec in records:
        text = repr(vars(rec))
        for plain in (secret, code, t.revealed["token"], r.revealed["app_code"]):
            assert plain not in text
        assert len(rec.fingerprint) == 64
    stored = raw_store_bytes(db_path)
    for plain in (secret, code, t.revealed["token"]):
        assert plain.encode() not in stored


def test_a_replayed_grant_keeps_the_first_end_time(ledger: Ledger) -> None:
    from datetime import UTC, datetime, timedelta

    api = ledger.register_api("prov", "api").ids["api_id"]
    app = ledger.create_app("alice", "MyApp").ids["app_id"]
    until = datetime.now(UTC) + timedelta(days=30)
    first = ledger.grant("prov", app, api, "RELEASE", until=until, idempotency=request("g", "test:grant", {"for": "30d"}))
    again = ledger.grant("prov", app, api, "RELEASE", until=until + timedelta(seconds=5), idempotency=request("g", "test:grant", {"for": "30d"}))
    assert again.replayed and again.ids == first.ids
    assert ledger.get_app(app).grants[(api, "RELEASE")].until == until


# -- racing processes with one key -------------------------------------------------------------

N = 8


def test_eight_processes_racing_with_one_key_make_one_app_and_all_get_its_id(
    db_path: str, secret_key_env: bytes, ledger: Ledger
) -> None:
    go = os.path.join(tempfile.gettempdir(), "idem-" + os.urandom(6).hex() + ".go")
    script = (
        "import os, sys, time\n"
        "while not os.path.exists(sys.argv[1]): time.sleep(0.001)\n"
        "from authledger.cli.main import main\n"
        "sys.exit(main(sys.argv[2:]))\n"
    )
    store = ["--database-url" if db_path.startswith("postgresql:") else "--db", db_path]
    # Half with a custom AppKey: the losers then fail the claim check before the save,
    # and must still answer with the winner's app.
    for extra in ([], ["--app-key", "RacedKey001"]):
        key = "race-" + os.urandom(4).hex()
        procs = [subprocess.Popen([sys.executable, "-c", script, go, *store, "--json", "app", "create",
                                   "--owner", "alice", "--name", "Raced", *extra, "--idempotency-key", key],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
                 for _ in range(N)]
        time.sleep(1.0)
        open(go, "w").close()
        import json

        outs = []
        for p in procs:
            out, err = p.communicate(timeout=180)
            assert p.returncode == 0, err
            outs.append(json.loads(out))
        os.remove(go)
        ids = {o["app_id"] for o in outs}
        assert len(ids) == 1, outs
        assert sum(not o.get("replayed") for o in outs) == 1  # one ran, the others replayed it
        assert len({o["position"] for o in outs}) == 1
    counts = topics(ledger)
    assert counts["authledger:AppCreated"] == 2 and counts[RECORD] == 2


def test_a_command_that_changes_nothing_still_takes_its_key(ledger: Ledger) -> None:
    api = ledger.register_api("prov", "api").ids["api_id"]
    app = ledger.create_app("alice", "MyApp").ids["app_id"]
    ledger.grant("prov", app, api, "RELEASE")
    before = last(ledger)
    r = ledger.grant("prov", app, api, "RELEASE", idempotency=request("again", "test:grant", {"stage": "RELEASE"}))  # already granted as asked
    assert (r.events, r.to_dict()["changed"], r.recorded) == (1, False, True)
    assert last(ledger) == before + 1 and topics(ledger)[RECORD] == 1
    with pytest.raises(IdempotencyKeyReused):
        ledger.grant("prov", app, api, "PRE", idempotency=request("again", "test:grant", {"stage": "PRE"}))
    replay = ledger.grant("prov", app, api, "RELEASE", idempotency=request("again", "test:grant", {"stage": "RELEASE"}))
    assert replay.replayed and replay.to_dict()["changed"] is False and last(ledger) == before + 1


def test_a_key_is_stored_only_as_a_keyed_hash_so_the_store_does_not_leak_what_clients_put_in_it(
        ledger: Ledger, db_path: str) -> None:
    # Attack: read the database (a backup, a read replica) to learn clients' keys, which often
    # carry order numbers or customer ids. The record holds a keyed hash; its id is made of it.
    key = "order-4711-customer-alice@example.com"
    first = ledger.create_app("alice", "MyApp", idempotency=request(key, "test:app create", {"name": "MyApp"}))
    assert key.encode() not in raw_store_bytes(db_path)
    assert ledger.create_app("alice", "MyApp", idempotency=request(key, "test:app create", {"name": "MyApp"})).replayed
    # The same key of another account is another record: the hash covers the account.
    other = ledger.create_app("bob", "MyApp", idempotency=request(key, "test:app create", {"name": "MyApp"}))
    assert not other.replayed and other.ids["app_id"] != first.ids["app_id"]


def test_a_record_written_before_keys_were_hashed_still_replays_and_still_refuses_another_request(
        ledger: Ledger) -> None:
    from ledger.domain import IdempotencyRecord
    from ledger.idempotency import Request

    first = ledger.create_app("alice", "Legacy", idempotency=request("old-key", "test:app create", {"name": "Legacy"}))
    # The old shape: id uuid5(account, key as given), the key verbatim (what earlier versions saved).
    old = IdempotencyRecord(account="alice", key="legacy-1", operation="test:app create",
                            fingerprint=ledger.box.code_hash("idempotency-request:" + Request("legacy-1", "test:app create", {"name": "Legacy"}).canonical()),
                            result=dict(first.ids), withheld=("app_code", "app_secret"), events=6)
    assert old.id == IdempotencyRecord.create_id("alice", "legacy-1")
    ledger.save(old)
    before = last(ledger)
    again = ledger.create_app("alice", "Legacy", idempotency=request("legacy-1", "test:app create", {"name": "Legacy"}))
    assert again.replayed and again.ids == first.ids and last(ledger) == before
    with pytest.raises(IdempotencyKeyReused):
        ledger.create_app("alice", "Other", idempotency=request("legacy-1", "test:app create", {"name": "Other"}))
    assert last(ledger) == before

