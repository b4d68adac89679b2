"""The CLI surface: every command, human and --json output, global options anywhere."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.cli.conftest import Run, make_api, make_app


def test_provider_authorizes_a_consumer_app_and_both_see_it(run: Run) -> None:
    # Check a provider registers an API with its security settings.
    r = run("api", "register", "--owner", "provider", "--name", "items", "--group", "shop",
            "--appcode-mode", "HEADER", "--signature-methods", "HmacSHA256,HmacSHA1", "--nonce", "optional",
            "--method", "GET", "--path", "/v1/items/{id}")
    # (On SQLite the first command says it made the ledger: tests/cli/test_new_ledger.py.)
    assert r.code == 0 and (r.err == "" or r.err.startswith("authledger: created a new ledger at "))
    assert r.out.startswith("API registered") and "position:" in r.out and "timestamp:" in r.out
    api_id = run("--json", "api", "list").json["apis"][0]["api_id"]

    # Check a consumer creates an app; its secret and AppCode are shown once, said so.
    r = run("app", "create", "--owner", "consumer", "--name", "shop_app", "--description", "the shop",
            "--tag", "env=prod", "--extension", "tier=gold")
    assert r.code == 0
    assert "app_secret:" in r.out and "app_code:" in r.out and "shown once" in r.out
    app_id = run("--json", "app", "list").json["apps"][0]["app_id"]

    # Check anyone may look the app up by id, but only sees its public view.
    public = run("--json", "app", "show", app_id, "--actor", "provider").json
    assert public == {"app_id": app_id, "name": "shop_app", "owner": "consumer", "status": "enabled"}

    # Check the provider grants it; the receipt carries the position and timestamp.
    g = run("--json", "grant", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "RELEASE",
            "--for", "30d").json
    assert g["granted"] == [{"app_id": app_id, "api_id": api_id}]
    assert isinstance(g["position"], int) and g["timestamp"]

    # Check the owner sees the grant with the API name, who granted and the end time.
    view = run("--json", "app", "show", app_id, "--actor", "consumer").json
    (grant,) = view["grants"]
    assert grant["api_name"] == "items" and grant["stage"] == "RELEASE" and grant["granted_by"] == "provider"
    assert grant["until"] == g["until"] and grant["in_force"] is True
    assert view["tags"] == {"env": "prod"} and view["extension"] == "tier=gold"
    assert view["key_pairs"][0]["app_secret"] == "********" and view["key_pairs"][0]["default"] is True
    assert view["app_codes"][0]["app_code"].startswith("****")

    # Check the API shows the authorized app.
    shown = run("--json", "api", "show", api_id).json
    assert shown["signature_methods"] == ["HmacSHA256", "HmacSHA1"] and shown["nonce_required"] is False
    assert [(a["app_id"], a["stage"], a["granted_by"]) for a in shown["authorized_apps"]] == [
        (app_id, "RELEASE", "provider")]
    human = run("api", "show", api_id).out
    assert "authorized apps (1):" in human and app_id in human


def test_global_options_go_before_or_after_the_command(run: Run, db_path: str) -> None:
    make_api(run)
    before = run("--db", db_path, "--json", "api", "list", db=False)
    after = run("api", "list", "--db", db_path, "--json", db=False)
    mixed = run("--json", "api", "list", "--db", db_path, db=False)
    assert before.code == after.code == mixed.code == 0
    assert before.json == after.json == mixed.json and before.json["count"] == 1
    r = run("app", "create", "--owner", "c", "--name", "late_opts", "--json", "--db", db_path, db=False)
    assert r.code == 0 and r.json["app_id"]


def test_db_comes_from_the_environment_when_not_given(run: Run, db_path: str, monkeypatch) -> None:
    monkeypatch.setenv("AUTHLEDGER_DB", db_path)
    make_api(run)
    assert run("--json", "api", "list", db=False).json["count"] == 1


def test_api_list_filters_by_owner_and_prints_an_aligned_table(run: Run) -> None:
    a = make_api(run, "alice", "one")
    make_api(run, "bob", "two")
    assert [x["api_id"] for x in run("--json", "api", "list", "--owner", "alice").json["apis"]] == [a]
    lines = run("api", "list").out.splitlines()
    assert lines[0].split()[:3] == ["API", "ID", "NAME"] and len(lines) == 3
    assert lines[1].index("one") == lines[2].index("two") == lines[0].index("NAME")
    assert run("api", "list", "--owner", "nobody").out.strip() == "(none)"


def test_api_register_defaults(run: Run) -> None:
    api = run("--json", "api", "show", make_api(run)).json
    assert api["auth_type"] == "APP" and api["appcode_mode"] == "DISABLE" and api["nonce_required"] is True
    assert api["signature_methods"] == ["HmacSHA256"] and api["method"] == "ANY" and api["authorized_apps"] == []


def test_app_create_with_custom_credentials_reveals_them_once(run: Run) -> None:
    r = run("--json", "app", "create", "--owner", "c", "--name", "custom_app", "--app-key", "CUSTOMKEY1",
            "--app-secret", "s3cret-s3cret-s3cret", "--app-code", "ABCDEFGH12345678")
    assert r.code == 0
    assert r.json["app_key"] == "CUSTOMKEY1" and r.json["app_secret"] == "s3cret-s3cret-s3cret"
    assert r.json["app_code"] == "ABCDEFGH12345678"
    shown = run("app", "show", r.json["app_id"], "--actor", "c").out
    assert "CUSTOMKEY1" in shown and "****5678" in shown
    assert "s3cret-s3cret-s3cret" not in shown and "ABCDEFGH12345678" not in shown


def test_app_modify_replaces_or_clears_tags_and_keeps_the_rest(run: Run) -> None:
    app_id = make_app(run, "c", "app_one", "--tag", "a=1", "--tag", "b=2", "--description", "d")["app_id"]
    r = run("--json", "app", "modify", app_id, "--actor", "c", "--tag", "z=9", "--name", "app_two")
    assert r.code == 0 and r.json["changed"] is True
    view = run("--json", "app", "show", app_id, "--actor", "c").json
    assert view["tags"] == {"z": "9"} and view["name"] == "app_two" and view["description"] == "d"
    assert run("app", "modify", app_id, "--actor", "c", "--clear-tags").code == 0
    assert run("--json", "app", "show", app_id, "--actor", "c").json["tags"] == {}
    same = run("app", "modify", app_id, "--actor", "c", "--name", "app_two")
    assert same.code == 0 and "nothing to change" in same.out


def test_disable_enable_delete_show_in_the_status(run: Run) -> None:
    app_id = make_app(run)["app_id"]

    def status() -> str:
        return str(run("--json", "app", "show", app_id).json["status"])

    assert run("app", "disable", app_id, "--actor", "consumer").out.startswith("app disabled")
    assert status() == "disabled"
    assert run("--json", "app", "enable", app_id, "--actor", "consumer").json["changed"] is True
    assert status() == "enabled"
    assert run("app", "delete", app_id, "--actor", "consumer").code == 0
    assert status() == "deleted"
    assert run("app", "enable", app_id, "--actor", "consumer").code == 5


def test_app_list_filters_by_owner_and_tags(run: Run) -> None:
    a = make_app(run, "alice", "app_a", "--tag", "env=prod", "--tag", "team=x")["app_id"]
    b = make_app(run, "alice", "app_b", "--tag", "env=test")["app_id"]
    c = make_app(run, "carol", "app_c", "--tag", "env=prod")["app_id"]

    def ids(*args: str) -> list[str]:
        return [x["app_id"] for x in run("--json", "app", "list", *args).json["apps"]]

    assert ids() == [a, b, c]
    assert ids("--owner", "alice") == [a, b]
    assert ids("--tag", "env=prod") == [a, c]
    assert ids("--owner", "alice", "--tag", "env=prod", "--tag", "team=x") == [a]
    run("app", "modify", a, "--actor", "alice", "--tag", "env=gone")
    assert ids("--tag", "env=prod") == [c]
    assert set(run("--json", "app", "list").json["apps"][0]) == {"app_id", "name", "owner", "status"}


def test_key_pairs_add_list_reset_delete(run: Run) -> None:
    app = make_app(run)
    app_id, default_key = app["app_id"], app["app_key"]
    added = run("--json", "key", "add", app_id, "--actor", "consumer", "--app-key", "SECONDKEY1").json
    assert added["app_key"] == "SECONDKEY1" and added["app_secret"] and added["position"]
    listed = run("--json", "key", "list", app_id, "--actor", "consumer").json
    assert [k["app_key"] for k in listed["key_pairs"]] == [default_key, "SECONDKEY1"]
    assert {k["app_secret"] for k in listed["key_pairs"]} == {"********"}

    reset = run("--json", "key", "reset", "SECONDKEY1", "--actor", "consumer", "--new-app-key", "THIRDKEY12").json
    assert reset["app_key"] == "THIRDKEY12" and reset["app_secret"] != added["app_secret"]
    human = run("key", "reset", default_key, "--actor", "consumer").out
    assert "key pair reset" in human and "shown once" in human

    assert run("key", "delete", app_id, "THIRDKEY12", "--actor", "consumer").code == 0
    assert run("key", "delete", app_id, default_key, "--actor", "consumer").code == 5  # default pair stays
    table = run("key", "list", app_id, "--actor", "consumer").out
    assert default_key in table and "THIRDKEY12" not in table and "********" in table


def test_app_codes_add_reset_delete(run: Run) -> None:
    app = make_app(run)
    app_id = app["app_id"]
    added = run("--json", "code", "add", app_id, "--actor", "consumer", "--code", "CODECODECODE0001").json
    assert added["app_code"] == "CODECODECODE0001" and added["app_code_hint"] == "****0001"
    reset = run("--json", "code", "reset", "CODECODECODE0001", "--actor", "consumer").json
    assert reset["app_code"] != "CODECODECODE0001" and reset["position"] > added["position"]
    codes = run("--json", "app", "show", app_id, "--actor", "consumer").json["app_codes"]
    assert sorted(c["app_code"] for c in codes) == sorted(
        ["****" + app["app_code"][-4:], "****" + reset["app_code"][-4:]])
    assert run("code", "reset", "CODECODECODE0001", "--actor", "consumer").code == 3  # old code is gone
    r = run("code", "delete", app_id, reset["app_code"], "--actor", "consumer")
    assert r.code == 0 and r.out.startswith("AppCode deleted")
    assert len(run("--json", "app", "show", app_id, "--actor", "consumer").json["app_codes"]) == 1


def test_bulk_grant_renew_and_revoke(run: Run) -> None:
    api_id = make_api(run)
    apps = [make_app(run, "consumer", f"bulk_{i}")["app_id"] for i in range(3)]
    args = [a for app in apps for a in ("--app", app)]
    g = run("--json", "grant", "--actor", "provider", "--api", api_id, "--stage", "PRE", *args).json
    assert len(g["granted"]) == 3 and g["until"] is None
    until = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
    renewed = run("--json", "grant", "--actor", "provider", "--api", api_id, "--app", apps[0], "--stage", "PRE",
                  "--until", until.isoformat().replace("+00:00", "Z")).json
    assert renewed["until"] == until.strftime("%Y-%m-%dT%H:%M:%SZ") and renewed["granted"] == [{"app_id": apps[0], "api_id": api_id}]
    again = run("grant", "--actor", "provider", "--api", api_id, "--app", apps[0], "--stage", "PRE",
                "--until", until.isoformat())
    assert again.code == 0 and "nothing to change" in again.out

    # Check the provider and the app's owner may revoke; the API then lists only the rest.
    assert run("revoke", "--actor", "provider", "--app", apps[1], "--api", api_id, "--stage", "PRE").code == 0
    r = run("--json", "revoke", "--actor", "consumer", "--app", apps[2], "--api", api_id, "--stage", "PRE")
    assert r.json["role"] == "consumer"
    shown = run("--json", "api", "show", api_id).json["authorized_apps"]
    assert [(a["app_id"], a["until"]) for a in shown] == [(apps[0], until.strftime("%Y-%m-%dT%H:%M:%SZ"))]


def test_api_show_leaves_out_deleted_apps_and_shows_disabled_ones(run: Run) -> None:
    api_id = make_api(run)
    kept, gone = make_app(run, "consumer", "kept_app")["app_id"], make_app(run, "consumer", "gone_app")["app_id"]
    run("grant", "--actor", "provider", "--api", api_id, "--app", kept, "--app", gone, "--stage", "TEST")
    run("app", "disable", kept, "--actor", "consumer")
    run("app", "delete", gone, "--actor", "consumer")
    shown = run("--json", "api", "show", api_id).json["authorized_apps"]
    assert [(a["app_id"], a["app_status"]) for a in shown] == [(kept, "disabled")]


def test_grant_for_accepts_minutes_hours_days_weeks(run: Run) -> None:
    api_id, app_id = make_api(run), make_app(run)["app_id"]
    for spec, delta in (("45s", timedelta(seconds=45)), ("90m", timedelta(minutes=90)), ("12h", timedelta(hours=12)),
                        ("2w", timedelta(weeks=2)), ("1d", timedelta(days=1))):
        before = datetime.now(timezone.utc)
        g = run("--json", "grant", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "TEST",
                "--for", spec).json
        until = datetime.fromisoformat(g["until"])
        assert before + delta <= until <= datetime.now(timezone.utc) + delta


def test_grant_for_accepts_and_refuses_what_http_does(run: Run) -> None:
    # Check the CLI and the HTTP handler use the one parser, so they cannot drift apart.
    import authledger.cli.grants as cli_grants
    import authledger.service.command_handlers as http_grants
    from ledger.durations import grant_end

    assert cli_grants.grant_end is grant_end is http_grants.grant_end
    api_id, app_id = make_api(run), make_app(run)["app_id"]
    for spec in ("0d", "5300w", "3y", "-1d", "1.5d", "\u0661d"):  # zero, >100 years, no unit, sign, fraction, non-ASCII digit
        r = run("grant", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "TEST", "--for", spec)
        assert r.code == 2 and "for must be" in r.err and "Traceback" not in r.err
    assert run("--json", "grant", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "TEST",
               "--for", "5200w").code == 0  # 5200 weeks: just under 100 years


def test_grant_description_is_kept_and_shown_and_a_bad_one_writes_nothing(run: Run, position) -> None:  # type: ignore[no-untyped-def]
    api_id = make_api(run)
    app_id = make_app(run)["app_id"]
    g = run("grant", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "TEST",
            "--description", "load tests, until Friday")
    assert g.code == 0, g.err
    listed = run("--json", "grant", "list", "--actor", "provider").json["grants"]
    assert [x["description"] for x in listed] == ["load tests, until Friday"]
    human = run("grant", "list", "--actor", "consumer").out
    assert "DESCRIPTION" in human and "load tests, until Friday" in human
    view = run("--json", "app", "show", app_id, "--actor", "consumer").json
    assert view["grants"][0]["description"] == "load tests, until Friday"
    assert "load tests, until Friday" in run("app", "show", app_id, "--actor", "consumer").out

    before = position()
    bad = run("grant", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "PRE",
              "--description", "x" * 181)
    assert bad.code == 2 and "description must be text of at most 180 characters" in bad.err
    assert "Traceback" not in bad.err and position() == before
