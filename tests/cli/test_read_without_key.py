"""Read commands (app list/show, api list/show) need no secret key and never create a key
file (issue 14.4): an auditor holds the database, not the key."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.cli.conftest import Run, make_api, make_app


def no_key_file(db_path: str) -> bool:
    return db_path.startswith("postgresql:") or not os.path.exists(db_path + ".key")


def test_reads_need_no_key_and_make_no_key_file(run: Run, db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    api = make_api(run)
    app = make_app(run)["app_id"]
    monkeypatch.delenv("AUTHLEDGER_SECRET_KEY")  # the ledger was written under the key in the environment
    assert no_key_file(db_path)
    listed = run("--json", "app", "list")
    assert listed.code == 0 and [a["app_id"] for a in listed.json["apps"]] == [app], listed.err
    shown = run("--json", "app", "show", app)
    assert shown.code == 0 and shown.json["app_id"] == app and "app_secret" not in shown.out
    assert run("--json", "api", "list").code == 0
    assert run("--json", "api", "show", api).code == 0
    assert no_key_file(db_path)
    # An owner's view shows masked secrets only, and needs no key either.
    owner = run("--json", "app", "show", app, "--actor", "consumer")
    assert owner.code == 0 and owner.json["key_pairs"], owner.err
    assert no_key_file(db_path)


@pytest.mark.sqlite_only
def test_listing_an_empty_ledger_makes_no_key_file(ledger: Any, run: Run, db_path: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The `ledger` fixture made the file (its table, no events) with a key it was handed.
    monkeypatch.delenv("AUTHLEDGER_SECRET_KEY")
    assert os.path.exists(db_path) and no_key_file(db_path)
    r = run("--json", "app", "list")
    assert r.code == 0 and r.json["count"] == 0, r.err
    assert no_key_file(db_path)  # before: a new key file, made by a command that only read


def test_a_named_key_that_is_wrong_is_still_refused(run: Run, db_path: str, tmp_path: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    make_app(run)
    monkeypatch.delenv("AUTHLEDGER_SECRET_KEY")
    wrong = tmp_path / "wrong.key"
    wrong.write_text("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIj\n")  # 36 bytes: malformed
    r = run("app", "list", "--secret-key-file", str(wrong))
    assert r.code == 2 and "32" in r.err and "Traceback" not in r.err
