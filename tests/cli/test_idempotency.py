"""``--idempotency-key``: a re-run CLI command (after a timeout, exit 7, a lost terminal) lands once.

Same key and options: exit 0, the first run's ids, ``replayed``, secrets not shown again,
nothing written. Same key, other options: exit 2 in one line, nothing written. A malformed
key: exit 2 naming the option's rule.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.cli.conftest import Run, make_api, make_app


def test_app_create_run_twice_with_one_key_creates_one_app(run: Run, position: Callable[[], int]) -> None:
    args = ["app", "create", "--owner", "alice", "--name", "MyApp", "--tag", "env=prod", "--idempotency-key", "k-1"]
    first = run("--json", *args)
    assert first.code == 0, first.err
    assert position() == 6
    again = run("--json", *args)
    assert again.code == 0, again.err
    assert position() == 6
    a, b = first.json, again.json
    assert b["replayed"] is True and "replayed" not in a
    assert b["app_id"] == a["app_id"] and b["app_key"] == a["app_key"] and b["position"] == a["position"]
    assert "app_secret" not in b and "app_code" not in b and sorted(b["withheld"]) == ["app_code", "app_secret"]
    assert a["app_secret"] not in again.out and a["app_code"] not in again.out
    human = run(*args)
    assert human.code == 0 and "replayed" in human.out
    assert "not shown again:  app_code, app_secret (shown once, by the first run)" in human.out
    assert a["app_secret"] not in human.out and a["app_code"] not in human.out


def test_the_same_key_with_other_options_is_refused_in_one_line(run: Run, position: Callable[[], int]) -> None:
    assert run("app", "create", "--owner", "alice", "--name", "MyApp", "--idempotency-key", "k-1").code == 0
    before = position()
    r = run("app", "create", "--owner", "alice", "--name", "MyApp", "--description", "other",
            "--idempotency-key", "k-1")
    assert r.code == 2 and r.out == ""
    assert r.err.strip() == ("authledger: error: idempotency key already used for a different request; "
                             "use a new key")
    r = run("--json", "token", "create", "--account", "alice", "--idempotency-key", "k-1")
    assert r.code == 2 and '"idempotency_key_reused"' in r.err
    assert position() == before


@pytest.mark.parametrize("key", ["", " x", "x" * 256, "naïve"])
def test_a_malformed_key_is_exit_2(run: Run, position: Callable[[], int], key: str) -> None:
    r = run("app", "create", "--owner", "alice", "--name", "MyApp", "--idempotency-key", key)
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
    assert "idempotency key must be 1-255 printable ASCII" in r.err
    assert position() == 0


def test_every_keyed_command_replays(run: Run, position: Callable[[], int]) -> None:
    api = make_api(run, "provider", "items")
    app = make_app(run, "alice", "MyApp")
    commands = [
        ["key", "add", app["app_id"], "--actor", "alice"],
        ["key", "reset", app["app_key"], "--actor", "alice"],
        ["code", "add", app["app_id"], "--actor", "alice"],
        ["code", "reset", app["app_code"], "--actor", "alice"],
        ["grant", "--actor", "provider", "--app", app["app_id"], "--api", api, "--stage", "TEST", "--for", "30d"],
        ["token", "create", "--account", "alice", "--label", "ci"],
    ]
    for i, command in enumerate(commands):
        first = run("--json", *command, "--idempotency-key", f"key-{i}")
        assert first.code == 0, (command, first.err)
        n = position()
        again = run("--json", *command, "--idempotency-key", f"key-{i}")
        assert again.code == 0, (command, again.err)
        assert position() == n, command
        a, b = first.json, again.json
        assert b["replayed"] is True and b["position"] == a["position"], command
        for secret in ("app_secret", "app_code", "token"):
            assert secret not in b, command
            if secret in a:
                assert secret in b["withheld"] and a[secret] not in again.out
        human = run(*command, "--idempotency-key", f"key-{i}")
        assert human.code == 0 and "replayed" in human.out, command
    # The grant's end time is the first run's, not "30 days from the re-run".
    shown = run("--json", "app", "show", app["app_id"], "--actor", "alice").json
    grant_json = run("--json", *commands[4], "--idempotency-key", "key-4").json
    assert [g["until"] for g in shown["grants"]] == [grant_json["until"]]


def test_without_a_key_a_rerun_runs_again(run: Run, position: Callable[[], int]) -> None:
    assert run("app", "create", "--owner", "alice", "--name", "MyApp").code == 0
    assert run("app", "create", "--owner", "alice", "--name", "MyApp").code == 0
    assert position() == 10


def test_api_register_run_twice_with_one_key_registers_one_api(run: Run, position: Callable[[], int]) -> None:
    args = ["api", "register", "--owner", "bob", "--name", "Orders", "--idempotency-key", "api-1"]
    first = run("--json", *args)
    assert first.code == 0, first.err
    after_first = position()
    again = run("--json", *args)
    assert again.code == 0, again.err
    assert position() == after_first
    assert again.json["replayed"] is True and again.json["api_id"] == first.json["api_id"]
    other = run("api", "register", "--owner", "bob", "--name", "Billing", "--idempotency-key", "api-1")
    assert other.code == 2 and len(other.err.strip().splitlines()) == 1
    assert position() == after_first
