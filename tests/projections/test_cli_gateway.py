"""``authledger check`` and ``authledger verify-request`` against a real ledger file."""

from __future__ import annotations

import io
import sqlite3
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aliyun_api_gateway import ApiGatewayClient, ApiGatewayRequest

from tests.projections.conftest import World, at


def raw_request(world: World, *, query: dict[str, str], nonce: str = "n-1", crlf: bool = True,
                headers: dict[str, str] | None = None, signed: tuple[str, ...] = ()) -> bytes:
    client = ApiGatewayClient("http://gw.example.com", world.app_key, world.app_secret)
    s = client.sign(ApiGatewayRequest(method="GET", path="/v1/items", query=query, headers=headers or {},
                                      additional_signed_headers=signed),
                    timestamp=int(at(30).timestamp() * 1000), nonce=nonce)
    url = urlsplit(s.url)
    nl = "\r\n" if crlf else "\n"
    lines = [f"GET {url.path}?{url.query} HTTP/1.1", "Host: gw.example.com"]
    lines += [f"{k}: {v}" for k, v in s.headers.items()]
    return (nl.join(lines) + nl + nl).encode()  # UTF-8, as a client sends a non-ASCII header


def test_check_allowed_human_and_json(world: World, run: Any) -> None:
    r = run("check", "--app-key", world.app_key, "--api", world.api_id, "--stage", "RELEASE", "--at", at(30).isoformat())
    assert r.code == 0 and "allowed:" in r.out and "yes" in r.out and '{"tenant":"shop"}' in r.out
    j = run("check", "--app-key", world.app_key, "--api", world.api_id, "--stage", "RELEASE",
            "--at", str(at(30).timestamp()), "--json").json
    assert (j["allowed"], j["reason"], j["app_id"], j["extension"]) == (True, "ok", world.app_id, '{"tenant":"shop"}')


def test_check_denied_exits_4_with_the_reason(world: World, run: Any) -> None:
    r = run("--json", "check", "--app-key", world.app_key, "--api", world.api_id, "--stage", "PRE", "--at", at(30).isoformat())
    assert r.code == 4 and r.json["reason"] == "stage_not_authorized" and r.json["allowed"] is False
    expired = run("check", "--app-key", world.app_key, "--api", world.api_id, "--stage", "RELEASE", "--json")
    assert expired.code == 4 and expired.json["reason"] == "authorization_expired"  # now is long after T0+60m


def test_check_by_app_code(world: World, run: Any) -> None:
    r = run("check", "--app-code", world.app_code, "--api", world.api_id, "--stage", "RELEASE",
            "--at", at(30).isoformat(), "--json")
    assert r.code == 0 and r.json["allowed"] is True and world.app_code not in r.out
    r = run("check", "--app-code", world.app_code, "--api", world.no_code_api_id, "--stage", "RELEASE", "--json")
    assert r.code == 4 and r.json["reason"] == "appcode_not_allowed"


def test_check_reads_the_app_code_from_a_source(world: World, run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack: the AppCode read from ``ps``. ``--app-code-from env:NAME`` keeps it off the command line."""
    monkeypatch.setenv("CHECK_APP_CODE", world.app_code)
    r = run("check", "--app-code-from", "env:CHECK_APP_CODE", "--api", world.api_id, "--stage", "RELEASE",
            "--at", at(30).isoformat(), "--json")
    assert r.code == 0 and r.json["allowed"] is True and "warning" not in r.err
    monkeypatch.setenv("CHECK_APP_CODE", "NotTheAppCode00000001")
    r = run("check", "--app-code-from", "env:CHECK_APP_CODE", "--api", world.api_id, "--stage", "RELEASE",
            "--at", at(30).isoformat(), "--json")
    assert r.code == 4 and r.json["allowed"] is False


@pytest.mark.parametrize("args", [
    ["--api", "x", "--stage", "RELEASE"],  # no credential
    ["--app-key", "k", "--app-code", "c", "--api", "x", "--stage", "RELEASE"],  # both
    ["--app-key", "k", "--api", "x", "--stage", "NOPE"],
    ["--app-key", "k", "--api", "x", "--stage", "RELEASE", "--at", "yesterday"],
    ["--app-key", "k", "--api", "x", "--stage", "RELEASE", "--at", "2026-01-01T00:00:00"],  # no zone
])
def test_check_bad_input_exits_2_with_one_line(world: World, run: Any, args: list[str]) -> None:
    r = run("check", *args)
    errors = [line for line in r.err.strip().splitlines() if not line.startswith("authledger: warning:")]
    assert r.code == 2 and r.out == "" and len(errors) == 1


def test_verify_request_accepts_a_client_signed_request(world: World, run: Any, tmp_path: Path) -> None:
    f = tmp_path / "req.http"
    f.write_bytes(raw_request(world, query={"a": "1", "b": "x y"}))
    r = run("verify-request", "--api", world.api_id, str(f), "--at", at(30).isoformat())
    assert r.code == 0 and "accepted:" in r.out and "yes" in r.out and "server StringToSign:" in r.out
    assert world.app_secret not in r.out + r.err
    j = run("verify-request", "--api", world.api_id, str(f), "--at", at(30).isoformat(), "--json").json
    assert (j["accepted"], j["status"], j["app_id"], j["stage"]) == (True, 200, world.app_id, "RELEASE")
    assert j["string_to_sign"].startswith("GET\n")


def test_verify_request_decodes_a_utf8_header_as_authz_does(world: World, run: Any, tmp_path: Path) -> None:
    """A request signed over a UTF-8 header value passes /authz (header bytes: ASCII as is,
    else UTF-8); the CLI read them as latin-1 and answered Invalid Signature for it."""
    f = tmp_path / "req.http"
    f.write_bytes(raw_request(world, query={"a": "1"}, headers={"X-Note": "李雷 & 韩梅梅"}, signed=("X-Note",)))
    j = run("verify-request", "--api", world.api_id, str(f), "--at", at(30).isoformat(), "--json").json
    assert (j["accepted"], j["error_message"]) == (True, None)
    assert "x-note:李雷 & 韩梅梅\n" in j["string_to_sign"].lower()


def test_verify_request_shows_what_the_backend_is_sent(world: World, run: Any, tmp_path: Path) -> None:
    f = tmp_path / "req.http"
    f.write_bytes(raw_request(world, query={"a": "1"}))
    j = run("verify-request", "--api", world.api_id, str(f), "--at", at(30).isoformat(), "--json").json
    assert j["system_parameters"] == {"CaAppId": world.app_id, "CaAppKey": world.app_key, "CaStage": "RELEASE",
                                      "CaAppExtInfo": '{"tenant":"shop"}'}
    r = run("verify-request", "--api", world.api_id, str(f), "--at", at(30).isoformat())
    assert "forwards CaAppExtInfo:" in r.out and '{"tenant":"shop"}' in r.out


def test_verify_request_refuses_a_path_authz_refuses(world: World, run: Any, tmp_path: Path) -> None:
    """Attack: a path the router would see differently from the backend (`..%2F`): /authz
    answers 400 Invalid Url before any signature check, and so does verify-request."""
    f = tmp_path / "req.http"
    f.write_bytes(raw_request(world, query={"a": "1"}).replace(b"GET /v1/items?", b"GET /v1/items/..%2F..%2Fadmin?"))
    j = run("verify-request", "--api", world.api_id, str(f), "--at", at(30).isoformat(), "--json").json
    assert (j["accepted"], j["status"], j["error_message"]) == (False, 400, "Invalid Url")


def test_verify_request_reads_stdin_with_lf_lines(world: World, run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = raw_request(world, query={"a": "1"}, crlf=False)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    j = run("verify-request", "--api", world.api_id, "--at", at(30).isoformat(), "--json").json
    assert j["accepted"] is True


def test_verify_request_denied_prints_status_message_and_string_to_sign(world: World, run: Any, tmp_path: Path) -> None:
    f = tmp_path / "req.http"
    f.write_bytes(raw_request(world, query={"a": "1"}).replace(b"a=1", b"a=2"))
    j = run("verify-request", "--api", world.api_id, str(f), "--at", at(30).isoformat(), "--json").json
    assert (j["accepted"], j["status"]) == (False, 400)
    assert j["error_message"] == "Invalid Signature, Server StringToSign:" + j["string_to_sign"].replace("\n", "#")
    assert j["system_parameters"] == {}
    assert "a=2" in j["string_to_sign"] and world.app_secret not in str(j)
    late = run("verify-request", "--api", world.api_id, str(f), "--json")  # now: far outside the window
    assert late.code == 0 and late.json["error_message"] == "Timestamp Expired"
    window = run("verify-request", "--api", world.api_id, str(f), "--at", at(40).isoformat(), "--window", "60", "--json")
    assert window.json["error_message"] == "Timestamp Expired"


@pytest.mark.parametrize("raw", [
    b"",
    b"garbage\r\n\r\n",
    b"GET /x\r\n\r\n",
    b"GET x HTTP/1.1\r\n\r\n",
    b"GET /x HTTP/1.1\r\nno colon here\r\n\r\n",
    b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort",
    b"\xff\xfe\x00 /x HTTP/1.1\r\n\r\n",
])
def test_verify_request_malformed_request_exits_2_with_one_line(world: World, run: Any, tmp_path: Path, raw: bytes) -> None:
    f = tmp_path / "bad.http"
    f.write_bytes(raw)
    r = run("verify-request", "--api", world.api_id, str(f))
    assert r.code == 2 and r.out == "" and len(r.err.strip().splitlines()) == 1


@pytest.mark.sqlite_only  # edits the SQLite file directly
def test_a_corrupted_ledger_is_reported_in_one_line_exit_1(world: World, run: Any, db_path: str,
                                                           tmp_path: Path) -> None:
    f = tmp_path / "req.http"
    f.write_bytes(raw_request(world, query={"a": "1"}))
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = 4", (b"\xc1",))
    r = run("check", "--app-key", world.app_key, "--api", world.api_id, "--stage", "RELEASE")
    assert r.code == 1 and r.out == ""
    assert len(r.err.strip().splitlines()) == 1 and "position 4" in r.err
    r = run("verify-request", "--api", world.api_id, str(f), "--json")
    assert r.code == 1 and r.out == "" and '"position 4' not in r.err and "position 4" in r.err


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(minutes=st.one_of(st.sampled_from([0, 0.999, 1, 1.001, 2, 59.999, 60, 60.001]), st.floats(-10, 90)))
def test_check_at_answers_from_the_ledger_as_it_stood_then(world: World, run: Any, minutes: float) -> None:
    """Issue 17.3: `check --at T` applied today's state to T (an app created later was "allowed"
    at T while `access --at T` said nobody could call). Now both answer from the ledger at T."""
    instant = at(minutes)
    allowed = {}
    for stage in ("RELEASE", "PRE"):
        checked = run("check", "--app-key", world.app_key, "--api", world.api_id, "--stage", stage,
                      "--at", instant.isoformat(), "--json")
        access = run("access", "--app-key", world.app_key, "--at", instant.isoformat(), "--json")
        assert checked.code == (0 if checked.json["allowed"] else 4) and access.code == 0, (checked.err, access.err)
        could = any(r["api_id"] == world.api_id and r["stage"] == stage for r in access.json["could_call"])
        assert checked.json["allowed"] is could, (minutes, stage, checked.json, access.json)
        allowed[stage] = checked.json["allowed"]
    # The world's grant: RELEASE from T0+2m (when it was given) until T0+60m; never PRE.
    assert allowed == {"RELEASE": at(2) <= instant < at(60), "PRE": False}


def test_check_at_before_the_app_existed_is_denied(world: World, run: Any) -> None:
    r = run("check", "--app-key", world.app_key, "--api", world.api_id, "--stage", "RELEASE",
            "--at", at(0.5).isoformat(), "--json")
    assert r.code == 4 and r.json["allowed"] is False, r.json
