"""Several processes on ONE SQLite file, calling the Ledger API directly (spawned, not forked)."""

from __future__ import annotations

import multiprocessing as mp
import random
from collections import Counter
from typing import Any

import pytest

from ledger.bootstrap import open_ledger
from ledger.errors import Conflict, DuplicateAppKey, LedgerError
from tests.conftest import TEST_KEY

CTX = mp.get_context("spawn")
TIMEOUT = 120


def _create_with_key(db: str, app_key: str, owner: str, barrier: Any, out: Any) -> None:
    ledger = open_ledger(db, key=TEST_KEY)
    barrier.wait()
    try:
        r = ledger.create_app(owner, "Racer", app_key=app_key)
        out.put(("ok", r.ids["app_id"], None))
    except LedgerError as e:
        out.put(("error", type(e).__name__, e.exit_code))
    except Exception as e:  # anything else is a failure of the test
        out.put(("unexpected", repr(e), None))
    finally:
        ledger.close()


def _modify(db: str, app_id: str, owner: str, n: int, seed: int, barrier: Any, out: Any) -> None:
    ledger = open_ledger(db, key=TEST_KEY)
    rnd = random.Random(seed)
    acks: list[tuple[str, int, int | None, str | None]] = []
    errors: list[str] = []
    mine: list[str] = []
    barrier.wait()
    for i in range(n):
        op = rnd.choice(["disable", "enable", "add", "add", "delete"] if mine else ["disable", "enable", "add"])
        key = None
        try:
            if op == "disable":
                r = ledger.disable_app(app_id, owner)
            elif op == "enable":
                r = ledger.enable_app(app_id, owner)
            elif op == "add":
                key = f"proc{seed}-key-{i:03d}"
                r = ledger.add_key_pair(app_id, owner, app_key=key)
                mine.append(key)
            else:
                key = mine.pop(rnd.randrange(len(mine)))
                r = ledger.delete_key_pair(app_id, key, owner)
            acks.append((op, r.events, r.position, key))
        except LedgerError as e:
            if op == "delete" and key is not None:
                mine.append(key)
            errors.append(f"{type(e).__name__}:{isinstance(e, Conflict)}")
        except Exception as e:
            errors.append(f"unexpected {e!r}")
    ledger.close()
    out.put((acks, errors))


def _run(targets: list[tuple[Any, tuple[Any, ...]]], barrier: Any, out: Any, timeout: float = TIMEOUT) -> list[Any]:
    """Start one spawned process per (target, args), each also given (barrier, out); return
    what each put on ``out``; every process must exit 0."""
    procs = [CTX.Process(target=t, args=(*a, barrier, out)) for t, a in targets]
    for p in procs:
        p.start()
    results = [out.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(timeout)
        assert p.exitcode == 0
    return results


@pytest.mark.parametrize("variants", [False, True], ids=["same AppKey", "AppKey case variants"])
def test_six_processes_racing_for_one_custom_appkey_make_exactly_one_winner(db_path: str, variants: bool) -> None:
    open_ledger(db_path, key=TEST_KEY).close()  # create the table first
    keys = ["RaceKey-0001", "racekey-0001", "RACEKEY-0001", "RaceKEY-0001", "raceKey-0001", "RACEkey-0001"]
    if not variants:
        keys = [keys[0]] * 6
    barrier, out = CTX.Barrier(6), CTX.Queue()
    results = _run([(_create_with_key, (db_path, k, f"account{i}")) for i, k in enumerate(keys)], barrier, out)

    outcomes = Counter(r[0] for r in results)
    assert outcomes == {"ok": 1, "error": 5}, results
    assert {(r[1], r[2]) for r in results if r[0] == "error"} == {(DuplicateAppKey.__name__, 5)}

    ledger = open_ledger(db_path, key=TEST_KEY)
    topics = Counter(n.topic for n in ledger.recorder.select_notifications(start=1, limit=1000))
    # Nothing half-written: exactly one app, one default pair, one AppCode, one of each claim.
    assert topics == {
        "authledger:AppCreated": 1, "authledger:KeyPairAdded": 1, "authledger:AppCodeAdded": 1,
        "authledger:AppKeyClaimed": 1, "authledger:AppCodeClaimed": 1,
    }
    winner = next(r[1] for r in results if r[0] == "ok")
    (won_key,) = ledger.get_app(winner).key_pairs
    assert won_key in keys and str(ledger.app_id_for_key(won_key)) == winner
    ledger.close()


def test_four_processes_changing_one_app_lose_and_duplicate_nothing(db_path: str) -> None:
    ledger = open_ledger(db_path, key=TEST_KEY)
    app_id = ledger.create_app("owner", "Contended", app_key="contended-default").ids["app_id"]
    start = ledger.recorder.max_notification_id()
    ledger.close()

    n = 30
    barrier, out = CTX.Barrier(4), CTX.Queue()
    results = _run([(_modify, (db_path, app_id, "owner", n, seed)) for seed in range(4)], barrier, out)

    acks = [a for r in results for a in r[0]]
    errors = [e for r in results for e in r[1]]
    # Only conflicts (a full app, a concurrent change after retries) may refuse a command.
    assert all(e.endswith(":True") for e in errors), errors
    assert len(acks) + len(errors) == 4 * n

    ledger = open_ledger(db_path, key=TEST_KEY)
    log = list(ledger.recorder.select_notifications(start=start + 1, limit=10_000))
    # Every acknowledged command is in the log exactly once, and nothing else is.
    covered: list[int] = []
    for op, events, position, key in acks:
        if events:
            covered += range(position - events + 1, position + 1)
    assert sorted(covered) == [n.id for n in log]
    assert len(set(covered)) == len(covered)
    by_position = {n.id: n for n in log}
    expected_topic = {"disable": "authledger:AppDisabled", "enable": "authledger:AppEnabled",
                      "add": "authledger:AppKeyClaimed", "delete": "authledger:KeyPairDeleted"}
    for op, events, position, key in acks:
        if events:
            assert by_position[position].topic == expected_topic[op]
            event = ledger.mapper.to_domain_event(by_position[position])
            if key is not None:
                assert event.app_key == key

    # The app's final state equals a replay of its events, folded here by hand.
    enabled, keys = True, []
    for n_ in ledger.recorder.select_notifications(start=1, limit=10_000):
        if n_.originator_id != ledger.get_app(app_id).id:
            continue
        e = ledger.mapper.to_domain_event(n_)
        name = type(e).__name__
        if name == "Disabled":
            enabled = False
        elif name == "Enabled":
            enabled = True
        elif name == "KeyPairAdded":
            keys.append(e.app_key)
        elif name == "KeyPairDeleted":
            keys.remove(e.app_key)
    app = ledger.get_app(app_id)
    assert (app.enabled, list(app.key_pairs)) == (enabled, keys)
    assert app.version == sum(1 for n_ in ledger.recorder.select_notifications(start=1, limit=10_000) if n_.originator_id == app.id)
    assert len(keys) <= 10 and keys[0] == "contended-default"
    ledger.close()
