"""Many writer processes on one store, then the log replayed through the reference model.

Each process issues random commands — valid and invalid, against a shared set of apps and
APIs, with custom AppKeys and AppCodes that collide across processes — and records every
command the ledger acknowledged (with its receipt). Afterwards:

- every acknowledged command's events are in the log exactly once, at the positions its
  receipt names, and the log holds nothing else (a refused command wrote nothing);
- replaying the acknowledged commands in log order through the reference model of
  tests/ledger/test_model.py accepts every one of them with the same number of events,
  and the ledger's final state equals the model's (AppKey/AppCode uniqueness included);
- refusals are only the ledger's own errors (nothing unexpected, no internal failure).

Some id-generating commands carry an idempotency key and are sent twice (a client's retry):
the second send must replay the first's receipt and write nothing; sometimes the key is then
sent with another request, which must be refused (IdempotencyKeyReused) and write nothing.
A keyed command that wrote something wrote one more event (its IdempotencyKeyUsed record).

PostgreSQL: 8 processes x 500 commands. SQLite (one writer at a time): a lighter variant.
"""

from __future__ import annotations

import multiprocessing as mp
import random
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest

from ledger.bootstrap import open_ledger
from ledger.errors import IdempotencyKeyReused, LedgerError
from ledger.idempotency import request
from tests.conftest import TEST_KEY
from tests.ledger.test_model import LedgerVersusModel, Model, Reject
from tests.ledger.test_race import _run

CTX = mp.get_context("spawn")
TIMEOUT = 300
ACCOUNTS = ["alice", "bob", "carol"]
STAGES = ["RELEASE", "PRE", "TEST"]
# Shared across processes: collisions (also by case) are the point.
KEYS = [None, None, None, "sharedKey1", "SHAREDKEY1", "otherKey22", "third-Key_3", "fourthKey4", "bad key!"]
CODES = [None, None, None, "Code000000000000001", "code000000000000001", "Code000000000000002", "short"]
NAMES = ["MyApp", "Other_App", "Third", "x"]
KEYED = ("create", "add_key", "reset_key", "add_code", "grant")  # sent under a key, sometimes


def _worker(target: str, seed: int, n: int, apps: list[str], apis: dict[str, str], owners: dict[str, str],
            barrier: Any, out: Any) -> None:
    ledger = open_ledger(target, key=TEST_KEY)
    rnd = random.Random(seed)
    apps, owners = list(apps), dict(owners)
    created: set[str] = set()
    my_keys: list[str] = []
    my_codes: list[str] = []
    acks: list[tuple[str, dict[str, Any], int, int | None, dict[str, Any], dict[str, str]]] = []
    refusals: Counter[str] = Counter()
    barrier.wait()
    keys_reused: list[str] = []
    for i in range(n):
        app = rnd.choice(apps)
        owner = owners[app]
        actor = rnd.choice([owner, owner, owner, rnd.choice(ACCOUNTS)])
        api = rnd.choice(list(apis))
        op = rnd.choice(["create", "create", "modify", "enable", "disable", "add_key", "add_key", "delete_key",
                         "reset_key", "add_code", "grant", "grant", "revoke", "delete"])
        if op == "delete" and (app not in created or rnd.random() < 0.5):
            op = "modify"  # deleting ends an app's story: only apps this process created, rarely
        args: dict[str, Any]
        if op == "create":
            args = {"owner": rnd.choice(ACCOUNTS), "name": rnd.choice(NAMES), "key": rnd.choice(KEYS),
                    "code": rnd.choice(CODES)}
        elif op == "modify":
            args = {"app_id": app, "actor": actor, "name": rnd.choice(NAMES)}
        elif op in ("enable", "disable", "delete"):
            args = {"app_id": app, "actor": actor}
        elif op == "add_key":
            args = {"app_id": app, "actor": actor, "key": rnd.choice(KEYS)}
        elif op == "delete_key":
            args = {"app_id": app, "actor": actor, "key": rnd.choice(my_keys + ["sharedKey1", "nosuchkey1"])}
        elif op == "reset_key":
            args = {"key": rnd.choice(my_keys + ["SHAREDKEY1", "otherKey22"]), "actor": actor,
                    "new_key": rnd.choice(KEYS)}
        elif op == "add_code":
            args = {"app_id": app, "actor": actor, "code": rnd.choice(CODES)}
        elif op == "grant":
            g_actor = rnd.choice([apis[api], apis[api], rnd.choice(ACCOUNTS)])
            args = {"actor": g_actor, "apps": [app], "apis": [api], "stage": rnd.choice(STAGES + ["PROD"])}
        else:  # revoke
            args = {"actor": rnd.choice([apis[api], owner, rnd.choice(ACCOUNTS)]), "app_id": app, "api_id": api,
                    "stage": rnd.choice(STAGES)}
        key = f"w{seed}-{i}" if op in KEYED and rnd.random() < 0.3 else None
        try:
            r = _send(ledger, op, args, key, resends=2 if key else 0, out=refusals)
        except LedgerError as e:
            refusals[type(e).__name__] += 1
            continue
        except Exception as e:  # noqa: BLE001 - reported, fails the test
            refusals[f"unexpected {type(e).__name__}: {e}"] += 1
            continue
        if key is not None:
            if rnd.random() < 0.3:  # the key again, with another request: refused, nothing written
                # Same account (keys are per account), another value.
                if op == "grant":
                    other = {**args, "stage": "PRE" if args["stage"] != "PRE" else "TEST"}
                else:
                    other = {**args, **{"create": {"name": "Another"}, "add_key": {"key": "anotherKey9"},
                                        "reset_key": {"new_key": "anotherKey8"},
                                        "add_code": {"code": "AnotherCode000000009"}}[op]}
                try:
                    _apply(ledger, op, other, idempotency=request(key, "test:" + op, other))
                    refusals["unexpected: a reused key ran another request"] += 1
                except IdempotencyKeyReused:
                    keys_reused.append(key)
                except Exception as e:  # noqa: BLE001 - reported, fails the test
                    refusals[f"unexpected on a reused key {type(e).__name__}: {e}"] += 1
            args = {**args, "keyed": True}
        if op == "create":
            apps.append(r.ids["app_id"])
            created.add(r.ids["app_id"])
            owners[r.ids["app_id"]] = args["owner"]
        if "app_key" in r.ids and op in ("create", "add_key", "reset_key"):
            my_keys.append(r.ids["app_key"])
        if "app_code" in r.revealed:
            my_codes.append(r.revealed["app_code"])
        acks.append((op, args, r.events, r.position, dict(r.ids), dict(r.revealed)))
    ledger.close()
    refusals["(keys reused, refused)"] = len(keys_reused)
    out.put((seed, acks, dict(refusals)))


def _send(ledger: Any, op: str, args: dict[str, Any], key: str | None, resends: int, out: Counter[str]) -> Any:
    """Apply a command (under ``key``, sent 1 + ``resends`` times, as a retrying client would).

    The first send that is not refused is the command's receipt; every later send must
    replay it exactly (same ids, position, events; secrets withheld).
    """
    if key is None:
        return _apply(ledger, op, args)
    first: Any = None
    refused: LedgerError | None = None
    for _ in range(1 + resends):
        try:
            r = _apply(ledger, op, args, idempotency=request(key, "test:" + op, args))
        except LedgerError as e:
            if first is not None:
                out[f"unexpected: a resend was refused after the key ran ({type(e).__name__})"] += 1
            refused = e
            continue
        if first is None:
            if r.replayed:
                out["unexpected: the first run of a key was a replay"] += 1
            first = r
        elif not (r.replayed and r.ids == first.ids and r.position == first.position and r.events == first.events
                  and r.withheld == tuple(sorted(first.revealed)) and not r.revealed):
            out["unexpected: a resend did not replay the first receipt"] += 1
    if first is None:
        assert refused is not None
        raise refused
    return first


def _apply(ledger: Any, op: str, a: dict[str, Any], idempotency: Any = None) -> Any:
    if op == "create":
        return ledger.create_app(a["owner"], a["name"], app_key=a["key"], app_code=a["code"], idempotency=idempotency)
    if op == "modify":
        return ledger.modify_app(a["app_id"], a["actor"], name=a["name"], idempotency=idempotency)
    if op == "enable":
        return ledger.enable_app(a["app_id"], a["actor"], idempotency=idempotency)
    if op == "disable":
        return ledger.disable_app(a["app_id"], a["actor"], idempotency=idempotency)
    if op == "delete":
        return ledger.delete_app(a["app_id"], a["actor"], idempotency=idempotency)
    if op == "add_key":
        return ledger.add_key_pair(a["app_id"], a["actor"], app_key=a["key"], idempotency=idempotency)
    if op == "delete_key":
        return ledger.delete_key_pair(a["app_id"], a["key"], a["actor"], idempotency=idempotency)
    if op == "reset_key":
        return ledger.reset_key_pair(a["key"], a["actor"], new_app_key=a["new_key"], idempotency=idempotency)
    if op == "add_code":
        return ledger.add_app_code(a["app_id"], a["actor"], code=a["code"], idempotency=idempotency)
    if op == "grant":
        return ledger.grant(a["actor"], a["apps"], a["apis"], a["stage"], idempotency=idempotency)
    return ledger.revoke(a["actor"], a["app_id"], a["api_id"], a["stage"], idempotency=idempotency)


def _model_command(model: Model, op: str, a: dict[str, Any], now: Any) -> Any:
    """The reference model's version of the same command: (events expected, commit)."""
    if op == "create":
        return model.create_app(a["owner"], a["name"], a["key"], None, a["code"])
    if op == "modify":
        return model.modify_app(a["app_id"], a["actor"], a["name"])
    if op in ("enable", "disable"):
        return model.set_enabled(a["app_id"], a["actor"], op == "enable")
    if op == "delete":
        return model.delete_app(a["app_id"], a["actor"])
    if op == "add_key":
        return model.add_key_pair(a["app_id"], a["actor"], a["key"], None)
    if op == "delete_key":
        return model.delete_key_pair(a["app_id"], a["actor"], a["key"])
    if op == "reset_key":
        return model.reset_key_pair(a["key"], a["actor"], a["new_key"], None)
    if op == "add_code":
        return model.add_app_code(a["app_id"], a["actor"], a["code"])
    if op == "grant":
        return model.grant(a["actor"], a["apps"], a["apis"], a["stage"], None, now)
    return model.revoke(a["actor"], a["app_id"], a["api_id"], a["stage"])


def run_writers(target: str, processes: int, commands: int) -> None:
    """Set up shared apps and APIs, run the writers, check everything (the test body)."""
    ledger = open_ledger(target, key=TEST_KEY)
    model = Model()
    setup: list[tuple[str, dict[str, Any], Any]] = []
    apis: dict[str, str] = {}
    for owner in ("alice", "bob"):
        r = ledger.register_api(owner, "api")
        apis[r.ids["api_id"]] = owner
        setup.append(("api", {"owner": owner}, r))
    owners: dict[str, str] = {}
    for owner in ACCOUNTS:
        r = ledger.create_app(owner, "Shared")
        owners[r.ids["app_id"]] = owner
        setup.append(("create", {"owner": owner, "name": "Shared", "key": None, "code": None}, r))
    start = ledger.recorder.max_notification_id() or 0

    barrier, out = CTX.Barrier(processes), CTX.Queue()
    results = _run([(_worker, (target, seed, commands, list(owners), apis, owners)) for seed in range(processes)],
                   barrier, out, TIMEOUT)

    refusals: Counter[str] = Counter()
    acks = []
    for _seed, a, refused in results:
        acks += a
        refusals.update(refused)
    assert not [k for k in refusals if k.startswith("unexpected")], refusals
    reused = refusals.pop("(keys reused, refused)", 0)
    assert len(acks) + sum(refusals.values()) == processes * commands
    assert len(acks) > processes * commands // 5, (len(acks), refusals)  # the mix is not all refusals

    # 1. Exactly once, nothing else: the acknowledged ranges tile the log after the setup.
    log = ledger.recorder.select_notifications(start + 1, limit=10**7)
    covered: list[int] = []
    for _op, _args, events, position, _ids, _rev in acks:
        if events:
            covered += range(position - events + 1, position + 1)
    assert sorted(covered) == [n.id for n in log]
    assert len(set(covered)) == len(covered)

    # 2. The model, fed the setup and then every acknowledged command in log order, agrees.
    for op, args, r in setup:
        expected, commit = model.register_api(args["owner"]) if op == "api" else _model_command(model, op, args, None)
        assert expected == r.events
        commit(r)
    timestamps = {n.id: ledger.mapper.to_domain_event(n).timestamp for n in log}
    for op, args, events, position, ids, revealed in sorted((a for a in acks if a[2]), key=lambda a: a[3]):
        if args.get("keyed") and events == 1:
            # Changed nothing; its key's record was saved without touching the app (no
            # version to conflict on), so its log position is not where it read the state.
            continue
        try:
            expected, commit = _model_command(model, op, args, timestamps[position])
        except Reject as e:
            raise AssertionError(f"the ledger acknowledged {op} {args} at {position}; the model refuses it: "
                                 f"{e.error.__name__}") from None
        record = 1 if args.get("keyed") else 0  # the IdempotencyKeyUsed event
        assert expected + record == events, (op, args, position)
        commit(SimpleNamespace(ids=ids, revealed=revealed))
    # ... and the ledger's final state is the model's (reusing the model test's invariant).
    LedgerVersusModel.ledger_state_equals_model(SimpleNamespace(model=model, ledger=ledger))  # type: ignore[arg-type]

    # 3. Uniqueness under the race: one claim per AppKey (case-insensitive) and per AppCode.
    claims = Counter()
    for n in ledger.recorder.select_notifications(1, limit=10**7):
        if n.topic in ("authledger:AppKeyClaimed", "authledger:AppCodeClaimed"):
            claims[n.originator_id] += 1
    assert claims and max(claims.values()) == 1
    live_keys = [k.lower() for app in model.apps.values() for k, _ in app.keys]
    assert len(live_keys) == len(set(live_keys))
    assert refusals["DuplicateAppKey"] > 0  # the collisions did happen

    # 4. Keys: one record per keyed command that succeeded; some keys were sent more than once
    # and replayed (checked in the workers), some reused for another request and refused.
    keyed = [a for a in acks if a[1].get("keyed")]
    records = [n for n in log if n.topic == "authledger:IdempotencyKeyUsed"]
    assert keyed and len(records) == len(keyed)
    assert reused > 0
    ledger.close()


@pytest.mark.postgres
def test_eight_processes_x_500_commands_on_postgres_agree_with_the_model(pg_url: str) -> None:
    run_writers(pg_url, processes=8, commands=500)


def test_four_processes_on_one_sqlite_file_agree_with_the_model(tmp_path: Any) -> None:
    run_writers(str(tmp_path / "ledger.db"), processes=4, commands=150)


def test_a_writer_constructed_before_another_process_made_the_tables_can_write(pg_url: str) -> None:
    # Two serve instances starting on an empty database: the second one's recorder looked
    # the composite row type up before the first one created it.
    from ledger.application import Ledger
    from ledger.crypto import SecretBox
    from ledger.store import ensure_tables, parse_url

    early = Ledger(parse_url(pg_url).env("cli"), box=SecretBox(TEST_KEY))  # no tables yet
    try:
        first = open_ledger(pg_url, key=TEST_KEY)  # creates the tables and the type
        first.register_api("prov", "api")
        first.close()
        ensure_tables(early.recorder)  # what open_ledger does after constructing
        receipt = early.register_api("prov", "api2")
        assert receipt.position == 2
    finally:
        early.close()
