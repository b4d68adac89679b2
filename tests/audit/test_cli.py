"""The audit commands from the command line: human tables, --json, and one-line errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.audit.cli_helpers import run, run_json
from tests.audit.histories import CONSUMER, PROVIDER, T0

H = timedelta(hours=1)
NOBODY = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def story(ledger, db_path):
    api = ledger.register_api(PROVIDER, "weather", appcode_mode="HEADER", at=T0).ids["api_id"]
    r = ledger.create_app(CONSUMER, "app1", app_key="key-one-1234", app_code="CodeAAAA0000000000wxyz", at=T0 + H)
    app = r.ids["app_id"]
    ledger.grant(PROVIDER, app, api, "RELEASE", until=T0 + 10 * H, at=T0 + 2 * H)
    ledger.disable_app(app, CONSUMER, at=T0 + 3 * H)
    ledger.enable_app(app, CONSUMER, at=T0 + 4 * H)
    return db_path, api, app, r.revealed["app_secret"]


def iso(d: timedelta) -> str:
    return (T0 + d).isoformat().replace("+00:00", "Z")


def test_who_could_call_at_an_instant_lists_keys_and_masked_codes(story, capsys):
    db, api, app, _ = story
    code, out, _ = run(capsys, "--db", db, "who-could-call", "--api", api, "--at", iso(2 * H))
    assert code == 0 and "key-one-1234" in out and "****wxyz" in out and "CodeAAAA" not in out
    d = run_json(capsys, "--db", db, "who-could-call", "--api", api, "--stage", "RELEASE", "--at", iso(3 * H))
    assert d["could_call"] == []
    # Instants with another offset are read in UTC.
    d = run_json(capsys, "--db", db, "who-could-call", "--api", api, "--at", "2026-03-03T07:30:00+02:00")
    assert d["at"] == "2026-03-03T05:30:00Z" and {r["app_id"] for r in d["could_call"]} == {app}


def test_who_could_call_over_a_window_gives_intervals_with_causes(story, capsys):
    db, api, _app, _ = story
    d = run_json(capsys, "--db", db, "who-could-call", "--api", api, "--from", iso(0 * H), "--to", iso(24 * H))
    keys = [r for r in d["intervals"] if r["kind"] == "app_key"]
    assert [(r["start"], r["end"]) for r in keys] == [(iso(2 * H), iso(3 * H)), (iso(4 * H), iso(10 * H))]
    assert keys[0]["start_cause"]["type"] == "GrantGiven" and keys[0]["start_cause"]["actor"] == PROVIDER
    assert keys[1]["end_cause"] == {"kind": "expiry", "at": iso(10 * H), "end_set_at_position": 7}
    code, out, _ = run(capsys, "--db", db, "who-could-call", "--api", api, "--from", iso(0 * H), "--to", iso(24 * H))
    assert code == 0 and "AppDisabled" in out and "expiry" in out


def test_access_by_app_and_by_app_key(story, capsys):
    db, api, app, _ = story
    d = run_json(capsys, "--db", db, "access", "--app", app, "--at", iso(5 * H))
    assert {(r["api_id"], r["kind"]) for r in d["could_call"]} == {(api, "app_key"), (api, "app_code")}
    d = run_json(capsys, "--db", db, "access", "--app-key", "key-one-1234", "--from", iso(0 * H), "--to", iso(24 * H))
    assert d["app_id"] == app and len(d["intervals"]) == 2
    code, out, _ = run(capsys, "--db", db, "access", "--app", app, "--at", iso(3 * H))
    assert code == 0 and "(nothing)" in out


def test_history_shows_events_in_order_without_secrets(story, capsys):
    db, api, app, secret = story
    for args in (("--app", app), ("--api", api), ("--app-key", "key-one-1234")):
        code, out, _ = run(capsys, "--db", db, "history", *args)
        assert code == 0 and secret not in out and "CodeAAAA" not in out and "sealed" not in out
    d = run_json(capsys, "--db", db, "history", "--app", app)
    assert [e["type"] for e in d["events"]] == ["AppCreated", "KeyPairAdded", "AppCodeAdded", "GrantGiven",
                                                 "AppDisabled", "AppEnabled"]
    assert [e["position"] for e in d["events"]] == sorted(e["position"] for e in d["events"])
    assert d["events"][3]["actor"] == PROVIDER and d["events"][3]["source"] == "cli"


def test_replay_rebuilds_the_state_as_of_an_instant(story, capsys):
    db, api, app, _ = story
    d = run_json(capsys, "--db", db, "replay", "--until", iso(3 * H))
    (a,) = d["apps"]
    assert a["app_id"] == app and a["enabled"] is False
    assert a["grants"] == [{"api_id": api, "stage": "RELEASE", "until": iso(10 * H), "in_force": True}]
    assert {c["credential"] for c in a["credentials"]} == {"key-one-1234", "****wxyz"}
    assert run_json(capsys, "--db", db, "replay", "--until", iso(0 * H))["apps"] == []
    code, out, _ = run(capsys, "--db", db, "replay", "--until", iso(11 * H))
    assert code == 0 and "(expired)" in out


def test_digest_verify_and_export_round_trip(story, capsys, tmp_path):
    db, api, _app, _ = story
    code, out, _ = run(capsys, "--db", db, "digest")
    digest = out.strip()
    assert code == 0 and digest.endswith("@9") and len(digest.split("@")[0]) == 64
    assert run_json(capsys, "--db", db, "verify-log", "--digest", digest)["ok"] is True
    out_file = str(tmp_path / "x.jsonl")
    assert run_json(capsys, "--db", db, "export", "--format", "jsonl", "--out", out_file)["events"] == 9
    code, stdout_export, _ = run(capsys, "--db", db, "export")
    assert code == 0 and stdout_export == open(out_file).read()
    args = ("who-could-call", "--api", api, "--from", iso(0 * H), "--to", iso(24 * H))
    assert run_json(capsys, "--db", db, *args) == run_json(capsys, *args, "--from-export", out_file)


@pytest.mark.parametrize("args, code, words", [
    (("who-could-call", "--api", "{api}", "--at", "2026-03-03T05:00:00"), 2, "timezone"),
    (("who-could-call", "--api", "{api}", "--at", "yesterday"), 2, "ISO 8601"),
    (("who-could-call", "--api", "{api}", "--from", "2026-03-04T00:00:00Z", "--to", "2026-03-03T00:00:00Z"), 2,
     "must be after"),
    (("who-could-call", "--api", "{api}", "--from", "2026-03-04T00:00:00Z"), 2, "go together"),
    (("who-could-call", "--api", "{api}", "--at", "2026-03-04T00:00:00Z", "--from", "2026-03-04T00:00:00Z",
      "--to", "2026-03-05T00:00:00Z"), 2, "either"),
    (("who-could-call", "--api", NOBODY, "--at", "2026-03-03T05:00:00Z"), 3, "API not found"),
    (("who-could-call", "--api", "not-a-uuid"), 2, "UUID"),
    (("access", "--app", NOBODY), 3, "app not found"),
    (("access", "--app-key", "no-such-key"), 3, "key pair not found"),
    (("access",), 2, "exactly one"),
    (("history", "--app", "{app}", "--api", "{api}"), 2, "exactly one"),
    (("history", "--api", NOBODY), 3, "API not found"),
    (("replay", "--until", "2026-03-03"), 2, "timezone"),
    (("who-could-call", "--api", "{api}", "--from-export", "/no/such/file.jsonl"), 2, "cannot read export"),
])
def test_bad_input_is_one_line_and_an_exit_code(story, capsys, args, code, words):
    db, api, app, _ = story
    got, out, err = run(capsys, "--db", db, *(a.format(api=api, app=app) for a in args))
    assert got == code, err
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_missing_database_is_invalid_input(tmp_path, capsys):
    code, _, err = run(capsys, "--db", str(tmp_path / "none.db"), "digest")
    assert code == 2 and "no ledger database" in err
    assert not (tmp_path / "none.db.audit.sqlite").exists()
