"""Issue 17.5 on the CLI: ``api modify``, ``api delete``, ``grant list`` and ``--for`` taking
exactly what ``POST /v1/grants`` takes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from tests.cli.conftest import Run, make_api, make_app
from tests.service.test_admin_api_changes import BAD_FORMS, FORMS


def test_the_owner_modifies_an_api_others_get_exit_4_and_nothing_is_written(
        run: Run, position: Callable[[], int]) -> None:
    api_id = make_api(run, "provider", "items", "--method", "GET", "--path", "/v1/items/{id}")
    r = run("--json", "api", "modify", api_id, "--actor", "provider", "--name", "things", "--appcode-mode", "HEADER",
            "--signature-methods", "HmacSHA1", "--nonce", "optional", "--method", "POST", "--path", "/v2/{id}")
    assert r.code == 0 and r.json["changed"] is True, r.err
    shown = run("--json", "api", "show", api_id).json
    assert (shown["name"], shown["appcode_mode"], shown["signature_methods"], shown["nonce_required"],
            shown["method"], shown["path"]) == ("things", "HEADER", ["HmacSHA1"], False, "POST", "/v2/{id}")
    r = run("api", "modify", api_id, "--actor", "provider", "--no-path", "--method", "ANY")
    assert r.code == 0 and r.out.startswith("API modified")
    shown = run("--json", "api", "show", api_id).json
    assert (shown["method"], shown["path"]) == ("ANY", None)
    before = position()
    for args, code in ((("--actor", "mallory", "--name", "mine"), 4), (("--actor", "provider", "--path", "nope"), 2),
                       (("--actor", "provider", "--path", "/a", "--no-path"), 2),
                       (("--actor", "provider", "--appcode-mode", "SOMETIMES"), 2)):
        r = run("api", "modify", api_id, *args)
        assert r.code == code and r.err.startswith("authledger: error:"), (args, r.err)
    assert run("api", "modify", "not-a-uuid", "--actor", "provider", "--name", "x").code == 2
    assert position() == before


def test_deleting_an_api_ends_its_grants_and_then_it_is_not_found_exit_3(run: Run, position: Callable[[], int]) -> None:
    api_id, other = make_api(run, "provider", "items"), make_api(run, "provider", "others")
    app_id = make_app(run)["app_id"]
    for api in (api_id, other):
        assert run("grant", "--actor", "provider", "--app", app_id, "--api", api, "--stage", "RELEASE").code == 0
    assert run("api", "delete", api_id, "--actor", "consumer").code == 4
    r = run("--json", "api", "delete", api_id, "--actor", "provider")
    assert r.code == 0 and r.json["changed"] is True, r.err
    after = position()
    for args in (("api", "show", api_id), ("api", "delete", api_id, "--actor", "provider"),
                 ("api", "modify", api_id, "--actor", "provider", "--name", "again"),
                 ("grant", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "PRE"),
                 ("revoke", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "RELEASE")):
        r = run("--json", *args)
        assert r.code == 3, (args, r.err)
    assert position() == after
    assert [a["api_id"] for a in run("--json", "api", "list").json["apis"]] == [other]
    assert [g["api_id"] for g in run("--json", "app", "show", app_id, "--actor", "consumer").json["grants"]] == [other]
    # The audit trail: after the deletion the app could call the other API only; the
    # deleted API's history ends with its deletion, and who could call it now is nobody.
    access = run("--json", "access", "--app", app_id)
    assert access.code == 0, access.err
    assert {c["api_id"] for c in access.json["could_call"]} == {other}
    events = run("--json", "history", "--api", api_id)
    assert events.code == 0, events.err
    assert [e["type"] for e in events.json["events"]].count("ApiDeleted") == 1
    who = run("--json", "who-could-call", "--api", api_id)
    assert who.code == 0 and who.json["could_call"] == [], who.err


def test_grant_list_filters_and_shows_only_the_actors_grants(run: Run) -> None:
    weather, maps = make_api(run, "provider", "weather"), make_api(run, "provider", "maps")
    theirs = make_api(run, "initech", "theirs")
    shop, blog = make_app(run, "consumer", "shop_app")["app_id"], make_app(run, "consumer", "blog_app")["app_id"]
    own = make_app(run, "initech", "own_app")["app_id"]
    assert run("grant", "--actor", "provider", "--app", shop, "--app", blog, "--api", weather,
               "--stage", "RELEASE").code == 0
    assert run("grant", "--actor", "provider", "--app", shop, "--api", maps, "--stage", "TEST", "--for", "1h").code == 0
    assert run("grant", "--actor", "initech", "--app", own, "--api", theirs, "--stage", "RELEASE").code == 0

    def pairs(actor: str, *filters: str) -> set[tuple[str, str, str]]:
        r = run("--json", "grant", "list", "--actor", actor, *filters)
        assert r.code == 0, r.err
        assert r.json["count"] == len(r.json["grants"])
        return {(g["app_id"], g["api_id"], g["stage"]) for g in r.json["grants"]}

    everything = {(shop, weather, "RELEASE"), (blog, weather, "RELEASE"), (shop, maps, "TEST")}
    assert pairs("provider") == pairs("consumer") == everything
    assert pairs("initech") == {(own, theirs, "RELEASE")}
    assert pairs("nobody") == set()
    assert pairs("provider", "--app", shop) == {(shop, weather, "RELEASE"), (shop, maps, "TEST")}
    assert pairs("provider", "--api", weather) == {(shop, weather, "RELEASE"), (blog, weather, "RELEASE")}
    assert pairs("provider", "--stage", "TEST") == {(shop, maps, "TEST")}
    assert pairs("initech", "--app", shop) == set()
    human = run("grant", "list", "--actor", "provider", "--api", maps)
    assert human.code == 0 and "maps" in human.out and "shop_app" in human.out and "TEST" in human.out
    assert run("grant", "list", "--actor", "provider", "--stage", "PROD").code == 2
    assert run("grant", "list", "--actor", "provider", "--app", "x").code == 2
    assert run("grant", "--actor", "provider", "list").code == 2  # grant's options belong after `grant`
    assert run("grant", "--actor", "provider", "--app", shop, "--stage", "PRE").code == 2  # --api missing


@pytest.mark.parametrize(("form", "delta"), FORMS)
def test_cli_for_takes_each_duration_form_http_takes(run: Run, form: str, delta: timedelta) -> None:
    api_id, app_id = make_api(run), make_app(run)["app_id"]
    before = datetime.now(timezone.utc)
    r = run("--json", "grant", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "RELEASE",
            "--for", form)
    after = datetime.now(timezone.utc)
    assert r.code == 0, r.err
    assert before + delta <= datetime.fromisoformat(r.json["until"]) <= after + delta


@pytest.mark.parametrize("form", BAD_FORMS)
def test_cli_for_refuses_what_http_refuses(run: Run, form: str, position: Callable[[], int]) -> None:
    api_id, app_id = make_api(run), make_app(run)["app_id"]
    before = position()
    r = run("--json", "grant", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "RELEASE",
            "--for", form)
    assert r.code == 2, (form, r.out)
    assert '"field": "for"' in r.err
    assert position() == before


def test_cli_until_forms_and_until_with_for(run: Run) -> None:
    api_id, app_id = make_api(run), make_app(run)["app_id"]
    base = ("--json", "grant", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "RELEASE")
    for until in ("2999-01-01T00:00:00Z", "2999-01-01T02:00:00+02:00"):
        r = run(*base, "--until", until)
        assert r.code == 0 and r.json["until"] == "2999-01-01T00:00:00Z", r.err
    for until in ("2999-01-01T00:00:00", "tomorrow", "2000-01-01T00:00:00Z"):
        r = run(*base, "--until", until)
        assert r.code == 2 and '"field": "until"' in r.err, (until, r.err)
    r = run(*base, "--until", "2999-01-01T00:00:00Z", "--for", "1d")
    assert r.code == 2 and '"field": "for"' in r.err, r.err


def test_cli_json_errors_have_the_same_three_keys_as_http(run: Run) -> None:
    import json

    api_id = make_api(run)
    for args in (("grant", "list", "--actor", "provider", "--stage", "PROD"),  # a usage error (click)
                 ("api", "show", "00000000-0000-4000-8000-000000000000"),  # not found
                 ("api", "delete", api_id, "--actor", "mallory"),  # not permitted
                 ("grant", "--actor", "provider", "--app", "x", "--api", api_id, "--stage", "PRE")):  # invalid
        r = run("--json", *args)
        assert r.code in (2, 3, 4), (args, r.err)
        body = json.loads(r.err)
        assert set(body) == {"error", "message", "field"}, (args, body)
