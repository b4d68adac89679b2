"""API groups and hosts (issue 13, point 1): no tenant can capture another's traffic.

The attacks: another account registers the same path, or a more specific path that shadows
it, beside a victim's API; claims the victim's host; or registers into a host it does not
hold. Each is refused with a Conflict (409, exit 5) that names nothing of the other tenant.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authledger.gateway.routing import RouteTable
from ledger.patterns import patterns_overlap, routes_overlap
from ledger import errors as E
from ledger import rules
from ledger.application import Ledger
from tests.cli_runner import Run
from tests.legacy import legacy_api

VICTIM_PATH = "/v1/weather/{city}"


def _events(ledger: Ledger) -> int:
    return int(ledger.recorder.max_notification_id() or 0)


# -- registration: overlap refused ----------------------------------------------------------


@pytest.mark.parametrize("method,path", [
    (None, VICTIM_PATH),                 # the same pattern, any method
    ("GET", "/v1/weather/{town}"),       # the same pattern, another parameter name
    ("GET", "/v1/weather/paris"),        # more specific: shadowed the victim's paris requests
    ("GET", "/v1/{x}/paris"),            # less specific, still overlapping
])
def test_attack_another_tenant_registers_an_overlapping_path_in_its_hostless_group(
        ledger: Ledger, method: str | None, path: str) -> None:
    ledger.register_api("acme", "weather", http_method="GET", path_pattern=VICTIM_PATH, auth_type="ANONYMOUS")
    before = _events(ledger)
    with pytest.raises(E.RouteOverlap) as refused:
        ledger.register_api("mallory", "capture", http_method=method, path_pattern=path, auth_type="ANONYMOUS")
    assert refused.value.exit_code == 5 and refused.value.http_status == 409
    assert "bind a host" in refused.value.message and "acme" not in refused.value.message
    assert _events(ledger) == before  # nothing written
    # ...also in a hostless group of its own
    group = ledger.create_group("mallory", "mine").ids["group_id"]
    with pytest.raises(E.RouteOverlap):
        ledger.register_api("mallory", "capture", http_method=method, path_pattern=path, group_id=group)


def test_what_does_not_overlap_is_registered(ledger: Ledger) -> None:
    ledger.register_api("acme", "weather", http_method="GET", path_pattern=VICTIM_PATH)
    ledger.register_api("mallory", "a", http_method="POST", path_pattern=VICTIM_PATH)  # another method
    ledger.register_api("mallory", "b", path_pattern="/v1/weather/{city}/more")  # another depth
    ledger.register_api("mallory", "c", path_pattern="/v1/climate/{city}")
    ledger.register_api("mallory", "d")  # no path: reached only by X-Ca-Api-Id


def test_overlap_within_one_group_is_refused_even_for_its_owner(ledger: Ledger) -> None:
    first = ledger.register_api("acme", "items", path_pattern="/v1/items/{id}").ids["api_id"]
    with pytest.raises(E.RouteOverlap) as refused:
        ledger.register_api("acme", "special", http_method="GET", path_pattern="/v1/items/special")
    assert first in refused.value.message  # its own API: named
    # in another of acme's groups (bound to a host) it is fine
    group = ledger.create_group("acme", "shop").ids["group_id"]
    ledger.bind_host("acme", group, "shop.example.com")
    ledger.register_api("acme", "special", http_method="GET", path_pattern="/v1/items/special", group_id=group)


def test_a_group_bound_to_a_host_may_reuse_another_tenants_path(ledger: Ledger) -> None:
    ledger.register_api("acme", "weather", path_pattern=VICTIM_PATH)
    group = ledger.create_group("globex", "globex").ids["group_id"]
    ledger.bind_host("globex", group, "api.globex.test")
    r = ledger.register_api("globex", "weather", path_pattern=VICTIM_PATH, group_id=group)
    assert r.ids["group_id"] == group
    assert ledger.get_api(r.ids["api_id"]).group_id == group
    # ...but may not then unbind its last host: its API would sit beside acme's among hostless groups
    with pytest.raises(E.RouteOverlap):
        ledger.unbind_host("globex", group, "api.globex.test")
    assert ledger.group_view(group, "globex")["hosts"] == ["api.globex.test"]


def test_register_into_another_accounts_group_is_not_found(ledger: Ledger) -> None:
    group = ledger.create_group("acme", "shop").ids["group_id"]
    ledger.bind_host("acme", group, "shop.example.com")
    before = _events(ledger)
    for g in (group, rules.default_group_id("acme"), "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(E.ApiGroupNotFound) as refused:
            ledger.register_api("mallory", "x", path_pattern="/x", group_id=g)
        assert refused.value.http_status == 404
    with pytest.raises(E.InvalidInput):
        ledger.register_api("mallory", "x", path_pattern="/x", group_id="not-a-uuid")
    assert _events(ledger) == before
    # the caller's own default group, named by id, is the default group
    r = ledger.register_api("mallory", "x", path_pattern="/x", group_id=rules.default_group_id("mallory"))
    assert ledger.get_api(r.ids["api_id"]).group_id is None


# -- hosts ------------------------------------------------------------------------------------


def test_attack_a_tenant_cannot_claim_a_host_another_tenant_bound(ledger: Ledger) -> None:
    acme = ledger.create_group("acme", "shop").ids["group_id"]
    ledger.bind_host("acme", acme, "api.example.com")
    evil = ledger.create_group("mallory", "evil").ids["group_id"]
    before = _events(ledger)
    for spelling in ("api.example.com", "API.Example.COM", "api.example.com.", "api.example.com:443"):
        with pytest.raises(E.HostAlreadyBound) as refused:
            ledger.bind_host("mallory", evil, spelling)
        assert refused.value.http_status == 409 and refused.value.message == "host already bound: api.example.com"
    assert _events(ledger) == before
    with pytest.raises(E.ApiGroupNotFound):  # nor unbind it from acme's group
        ledger.unbind_host("mallory", acme, "api.example.com")
    # once acme releases it, it is free again (first come)
    ledger.unbind_host("acme", acme, "api.example.com")
    assert ledger.bind_host("mallory", evil, "api.example.com").events == 2
    with pytest.raises(E.HostAlreadyBound):
        ledger.bind_host("acme", acme, "api.example.com")


def test_binding_again_changes_nothing_and_the_default_group_has_no_hosts(ledger: Ledger) -> None:
    g = ledger.create_group("acme", "shop").ids["group_id"]
    assert ledger.bind_host("acme", g, "a.example.com").events == 2
    assert ledger.bind_host("acme", g, "A.example.com:80").events == 0
    other = ledger.create_group("acme", "other").ids["group_id"]
    with pytest.raises(E.HostAlreadyBound):  # one host, one group, even of one account
        ledger.bind_host("acme", other, "a.example.com")
    with pytest.raises(E.InvalidInput):
        ledger.bind_host("acme", rules.default_group_id("acme"), "b.example.com")
    with pytest.raises(E.HostNotBound):
        ledger.unbind_host("acme", g, "b.example.com")


@pytest.mark.parametrize("hostile", [
    "*.example.com", "exa mple.com", "example..com", "-x.example.com", "x-.example.com", "[::1]", "::1",
    "127.1", "0x7f.0.0.1", "010.0.0.1", "1.2.3.256", "1.2.3.4.5", "example.123", "user@example.com",
    "example.com:", "example.com:99999", "example.com:80:80", "exämple.com", "a" * 64 + ".com",
    ".".join(["a" * 60] * 5), "", ".", "example.com/x", "example.com\r\nX: y", "%65xample.com",
])
def test_hostile_hosts_are_refused_at_binding(ledger: Ledger, hostile: str) -> None:
    g = ledger.create_group("acme", "shop").ids["group_id"]
    before = _events(ledger)
    with pytest.raises(E.InvalidInput) as refused:
        ledger.bind_host("acme", g, hostile)
    assert refused.value.field == "host" and refused.value.http_status == 400
    assert _events(ledger) == before


def test_host_normalisation() -> None:
    assert rules.host("API.Example.com.:443") == "api.example.com"
    assert rules.host("127.0.0.1:8080") == "127.0.0.1"
    assert rules.host("localhost") == "localhost"
    assert rules.host("xn--bcher-kva.example") == "xn--bcher-kva.example"
    assert rules.normal_host("API.Example.com.:443") == rules.normal_host("api.example.com")
    assert rules.normal_host("a" * 10_000) is None and rules.normal_host(None) is None


@pytest.mark.parametrize("name", ["", "default", "DEFAULT", "-x", "a" * 65, "has space", "é"])
def test_group_names_are_validated(ledger: Ledger, name: str) -> None:
    with pytest.raises(E.InvalidInput):
        ledger.create_group("acme", name)


def test_two_accounts_racing_for_one_host_one_wins(db_path: str) -> None:
    """The claim's next version is the store's unique key: a lost race is a conflict, never two owners."""
    import threading

    from ledger.bootstrap import open_ledger
    from tests.conftest import TEST_KEY

    setup = open_ledger(db_path, key=TEST_KEY)
    groups = [setup.create_group(f"acct{i}", "g").ids["group_id"] for i in range(4)]
    setup.close()
    results: list[object] = []
    barrier = threading.Barrier(4)

    def claim(i: int) -> None:
        ledger = open_ledger(db_path, key=TEST_KEY)
        barrier.wait()
        try:
            results.append(ledger.bind_host(f"acct{i}", groups[i], "contested.example.com").events)
        except E.Conflict as e:
            results.append(type(e).__name__)
        finally:
            ledger.close()

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, results)) == ["2"] + ["HostAlreadyBound"] * 3, results


# -- old ledgers ------------------------------------------------------------------------------


def test_old_events_are_read_into_the_owners_default_group(ledger: Ledger) -> None:
    api_id = legacy_api(ledger, "acme", "weather", path_pattern=VICTIM_PATH)
    api = ledger.get_api(api_id)
    assert api.group_id is None and api.effective_group_id == rules.default_group_id("acme")
    from ledger import views

    shown = views.api(api)
    assert shown["group_id"] == rules.default_group_id("acme") and shown["group_name"] == "default"
    # and the route rules see it: another tenant cannot shadow it now
    with pytest.raises(E.RouteOverlap):
        ledger.register_api("mallory", "capture", path_pattern="/v1/weather/paris")


# -- the overlap function, against brute force -------------------------------------------------

_SEGMENTS = ["a", "b", "", "{p}"]
_PATH_SEGMENTS = ["a", "b", "", "zz"]  # "zz": a segment no pattern names


def _pattern() -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=4).map(lambda s: "/" + "/".join(s))


def _brute(a: str, b: str) -> bool:
    n = a.count("/")
    if n != b.count("/"):
        return False
    ta, tb = RouteTable(), RouteTable()
    ta.add(a, None, "a")
    tb.add(b, None, "b")
    for segments in itertools.product(_PATH_SEGMENTS, repeat=n):
        path = "/" + "/".join(segments)
        if ta.resolve("GET", path) and tb.resolve("GET", path):
            return True
    return False


@settings(max_examples=400, deadline=None)
@given(_pattern(), _pattern())
def test_overlap_equals_brute_force_over_generated_paths(a: str, b: str) -> None:
    assert patterns_overlap(a, b) == _brute(a, b), (a, b)
    assert patterns_overlap(a, b) == patterns_overlap(b, a)


@settings(max_examples=200, deadline=None)
@given(_pattern(), _pattern(), st.sampled_from([None, "GET", "POST"]), st.sampled_from([None, "GET", "POST"]))
def test_routes_overlap_needs_methods_that_intersect(a: str, b: str, ma: str | None, mb: str | None) -> None:
    both = ma is None or mb is None or ma == mb
    assert routes_overlap(ma, a, mb, b) == (both and _brute(a, b))


def test_legacy_mixed_segments_overlap_conservatively() -> None:
    assert patterns_overlap("/f/{name}.json", "/f/report.json")
    assert not patterns_overlap("/f/{name}.json", "/f/report.xml")
    assert patterns_overlap("/f/{a}.json", "/f/{b}.json")  # two mixed segments: taken to overlap
    assert patterns_overlap("/f/{a}", "/f/{b}.json")
    assert not patterns_overlap(None, "/x") and not patterns_overlap("/x", None)


# -- the CLI ----------------------------------------------------------------------------------


def test_cli_group_commands(run: Run) -> None:
    r = run("--json", "group", "create", "--owner", "acme", "--name", "shop")
    assert r.code == 0, r.err
    gid = r.json["group_id"]
    r = run("--json", "group", "bind-host", gid, "API.Shop.example.", "--actor", "acme")
    assert r.code == 0 and r.json["host"] == "api.shop.example"
    r = run("group", "bind-host", gid, "api.shop.example", "--actor", "acme")
    assert r.code == 0 and "bound already" in r.out
    r = run("--json", "group", "create", "--owner", "mallory", "--name", "evil")
    evil = r.json["group_id"]
    r = run("group", "bind-host", evil, "api.shop.example", "--actor", "mallory")
    assert r.code == 5 and "host already bound" in r.err and "acme" not in r.err
    r = run("group", "bind-host", evil, "*.shop.example", "--actor", "mallory")
    assert r.code == 2 and "host" in r.err and "Traceback" not in r.err
    r = run("group", "show", gid, "--actor", "mallory")
    assert r.code == 3
    listed = run("--json", "group", "list", "--actor", "acme").json
    assert [g["name"] for g in listed["groups"]] == ["default", "shop"]
    assert listed["groups"][1]["hosts"] == ["api.shop.example"]
    assert "api.shop.example" in run("group", "list", "--actor", "acme").out
    r = run("--json", "api", "register", "--owner", "acme", "--name", "items", "--path", "/v1/items/{id}",
            "--group-id", gid)
    assert r.code == 0 and r.json["group_id"] == gid
    shown = run("--json", "api", "show", r.json["api_id"]).json
    assert shown["group_id"] == gid and shown["group_name"] == "shop"
    assert "shop" in run("api", "list").out
    r = run("api", "register", "--owner", "mallory", "--name", "items", "--path", "/v1/items/{id}", "--group-id", gid)
    assert r.code == 3  # acme's group: not found for mallory
    r = run("--json", "api", "register", "--owner", "mallory", "--name", "items", "--path", "/v1/items/{id}")
    assert r.code == 0  # acme's API is on a host: mallory's default group does not meet it
    r = run("group", "unbind-host", gid, "api.shop.example", "--actor", "acme")
    assert r.code == 5  # acme's API would then sit beside mallory's among hostless groups


def test_audit_and_reports_name_the_group(run: Run) -> None:
    """The audit's "who could call" and the reports name the API's group (id and name); the
    audit index reads group and host events (they grant nothing) without stopping."""
    gid = run("--json", "group", "create", "--owner", "acme", "--name", "shop").json["group_id"]
    assert run("group", "bind-host", gid, "shop.example", "--actor", "acme").code == 0
    in_group = run("--json", "api", "register", "--owner", "acme", "--name", "items", "--path", "/v1/items/{id}",
                   "--group-id", gid).json["api_id"]
    default = run("--json", "api", "register", "--owner", "acme", "--name", "plain").json["api_id"]
    app = run("--json", "app", "create", "--owner", "bob", "--name", "shop_app").json["app_id"]
    assert run("grant", "--actor", "acme", "--app", app, "--api", in_group, "--stage", "RELEASE").code == 0
    assert run("group", "unbind-host", gid, "shop.example", "--actor", "acme").code == 0
    r = run("--json", "who-could-call", "--api", in_group)
    assert r.code == 0, r.err
    assert (r.json["group_id"], r.json["group_name"]) == (gid, "shop") and r.json["could_call"]
    r = run("who-could-call", "--api", default)
    assert r.code == 0 and f"in group default ({rules.default_group_id('acme')})" in r.out
    doc = run("--json", "report", "access-review").json
    groups = {a["api_id"]: (a["group_id"], a["group_name"]) for a in doc["apis"]}
    assert groups == {in_group: (gid, "shop"), default: (rules.default_group_id("acme"), "default")}
    assert f"group shop {gid}" in run("report", "access-review").out
