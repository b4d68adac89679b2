"""Equivalence: following equals rebuilding, and ``check`` equals docs/app-model.md's "could call" rule.

``check`` is the index's one decision path: every kind of credential is asked here — AppKey,
AppCode (plaintext), and app id (the verifier's question once it has authenticated the app).

Random histories are driven through the Ledger API (with injected instants, one minute
apart), including commands the ledger must refuse; a plain dict-and-set model records
what each successful command means. After every command the follower applies the new
events. Then: the followed index equals a from-scratch build (digest and structure), and
at instants across the history (between commands, at and around grant end times) the
index built ``until_time`` that instant answers every credential × API × stage exactly
as the model does.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from ledger.bootstrap import open_ledger
from ledger.errors import LedgerError
from projections.auth_index import AuthIndex
from projections.decision import Reason
from projections.follow import Follower
from ledger.rules import default_group_id, normal_host
from authledger.service.authz import Router
from tests.conftest import TEST_KEY
from tests.legacy import legacy_api


def _matches(pattern: str, path: str) -> bool:
    ps, xs = pattern.split("/"), path.split("/")
    return len(ps) == len(xs) and all(p == x or (p.startswith("{") and x != "") for p, x in zip(ps, xs))


def assert_routes_agree(router: Router, m: Model) -> None:
    """Every request host × method × path: the router answers as the model of groups and hosts."""
    hosted = set(m.hosts.values())
    for host in REQUEST_HOSTS:
        normal = normal_host(host) if host else None
        group = m.hosts.get(normal) if normal else None
        for method in ("GET", "POST"):
            for path in REQUEST_PATHS:
                found = [api for api, (owner, gid, meth, pat) in m.routes.items()
                         if (gid == group if group else gid not in hosted)
                         and (meth is None or meth == method) and _matches(pat, path)]
                got, why = router.route(host, method, path)
                if group is not None:  # one group: overlaps were refused at registration
                    assert len(found) <= 1 and got == (found[0] if found else None), (host, method, path)
                elif len({m.routes[a][0] for a in found}) > 1:
                    assert got is None and why == "ambiguous_route", (host, method, path, found)
                elif found:
                    assert got in found, (host, method, path)
                else:
                    assert got is None and why == "no_route"

T0 = datetime(2026, 3, 1, tzinfo=UTC)
STAGES = ("RELEASE", "PRE", "TEST")
ACCOUNTS = ("acme", "bob", "zeta")
MISSING = "00000000-0000-4000-8000-000000000000"
HOSTS = ("a.test", "b.test", "c.test")
ROUTE_PATTERNS = ("/x/{p}", "/x/y", "/z", "/{q}/y")
REQUEST_HOSTS = (None, "a.test", "B.TEST:80", "c.test.", "unbound.test", "bad host!", "")
REQUEST_PATHS = ("/x/y", "/x/q", "/z", "/w/y")


@dataclass
class Model:
    """What the history means, in plain dicts: the reference for "could call"."""

    apis: dict[str, str] = field(default_factory=dict)  # api id -> AppCode mode
    api_owner: dict[str, str] = field(default_factory=dict)
    app_owner: dict[str, str] = field(default_factory=dict)
    enabled: dict[str, bool] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    extension: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # live AppKey -> app id
    codes: dict[str, str] = field(default_factory=dict)  # live AppCode (plaintext) -> app id
    grants: dict[tuple[str, str, str], float | None] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # AppKey -> its latest AppSecret
    groups: dict[str, str] = field(default_factory=dict)  # created API group id -> owner
    hosts: dict[str, str] = field(default_factory=dict)  # bound host -> group id
    routes: dict[str, tuple[str, str, str | None, str]] = field(default_factory=dict)  # api -> (owner, group, method, path)


def could_call(m: Model, kind: str, credential: str, api: str, stage: str, t: float) -> tuple[bool, Reason]:
    """docs/app-model.md's rule, with the index's documented reason precedence."""
    if kind == "app_id":  # the verifier's question: it has authenticated the app itself
        app = credential if credential in m.app_owner else None
    else:
        app = (m.keys if kind == "app_key" else m.codes).get(credential)
    if app is None:
        return False, Reason.UNKNOWN_KEY
    if app in m.deleted:
        return False, Reason.APP_DELETED
    if not m.enabled[app]:
        return False, Reason.APP_DISABLED
    if api not in m.apis:
        return False, Reason.UNKNOWN_API
    if kind == "app_code" and m.apis[api] == "DISABLE":
        return False, Reason.APPCODE_NOT_ALLOWED
    if (app, api, stage) not in m.grants:
        other = any((app, api, s) in m.grants for s in STAGES)
        return False, Reason.STAGE_NOT_AUTHORIZED if other else Reason.NOT_AUTHORIZED
    end = m.grants[(app, api, stage)]
    if end is not None and t >= end:
        return False, Reason.AUTHORIZATION_EXPIRED
    return True, Reason.OK


pick = st.integers(0, 7)
actor = st.sampled_from(ACCOUNTS)
provider = st.sampled_from(("acme", "acme", "acme", "bob", "zeta"))  # mostly the API owner
op = st.one_of(
    st.tuples(st.just("register_api"), actor, st.sampled_from(("DISABLE", "HEADER", "HEADER_QUERY"))),
    st.tuples(st.just("create_app"), actor, st.sampled_from(("", "ext-a", "ext-b"))),
    st.tuples(st.just("modify_app"), pick, actor, st.sampled_from(("", "ext-a", "ext-c"))),
    st.tuples(st.sampled_from(("disable_app", "enable_app", "delete_app")), pick, actor),
    st.tuples(st.just("add_key_pair"), pick, actor),
    st.tuples(st.just("delete_key_pair"), pick, pick, actor),
    st.tuples(st.just("reset_key_pair"), pick, actor, st.booleans()),
    st.tuples(st.just("add_app_code"), pick, actor),
    st.tuples(st.just("delete_app_code"), pick, pick, actor),
    st.tuples(st.just("reset_app_code"), pick, actor),
    st.tuples(st.just("grant"), provider, st.lists(pick, min_size=1, max_size=2), pick, st.sampled_from(STAGES),
              st.sampled_from((None, -1.0, 0.5, 3.0, 10.0))),
    st.tuples(st.just("revoke"), provider, pick, pick, st.sampled_from(STAGES)),
    st.tuples(st.just("modify_api"), pick, provider, st.sampled_from(("DISABLE", "HEADER", "HEADER_QUERY"))),
    st.tuples(st.just("delete_api"), pick, provider),
    *[st.tuples(st.just("create_group"), actor)] * 2,
    *[st.tuples(st.sampled_from(("bind_host", "bind_host", "unbind_host")), pick, actor, st.sampled_from(HOSTS))] * 3,
    *[st.tuples(st.just("register_routed"), actor, st.integers(-3, 3), st.sampled_from((None, "GET")),
                st.sampled_from(ROUTE_PATTERNS))] * 4,
    # an API as a ledger older than groups holds it: no group_id, no route checks (ambiguities)
    *[st.tuples(st.just("legacy_routed"), actor, st.sampled_from((None, "GET")), st.sampled_from(ROUTE_PATTERNS))] * 2,
)


def _nth(items: list[str], i: int) -> str:
    """The i-th known id (modulo), or an id that names nothing when there are none."""
    return items[i % len(items)] if items else MISSING


class Driver:
    """Runs one op against the ledger and, if the ledger accepts it, against the model."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self.m = Model()
        self.apps: list[str] = []
        self.apis: list[str] = []
        self.all_keys: list[str] = []
        self.all_codes: list[str] = []
        self.groups: list[str] = []
        self.accepted = 0

    def run(self, step: int, o: tuple[Any, ...]) -> bool:
        when = T0 + timedelta(minutes=step)
        try:
            getattr(self, o[0])(when, *o[1:])
        except LedgerError:
            return False
        self.accepted += 1
        return True

    def register_api(self, when: datetime, owner: str, mode: str) -> None:
        r = self.ledger.register_api(owner, f"api{len(self.apis)}", appcode_mode=mode, at=when)
        api = r.ids["api_id"]
        self.apis.append(api)
        self.m.apis[api], self.m.api_owner[api] = mode, owner

    def create_group(self, when: datetime, owner: str) -> None:
        gid = self.ledger.create_group(owner, f"g{len(self.groups)}", at=when).ids["group_id"]
        self.groups.append(gid)
        self.m.groups[gid] = owner

    def bind_host(self, when: datetime, i: int, who: str, host: str) -> None:
        gid = _nth(self.groups, i)
        self.ledger.bind_host(who, gid, host, at=when)
        self.m.hosts[host] = gid

    def unbind_host(self, when: datetime, i: int, who: str, host: str) -> None:
        gid = _nth(self.groups, i)
        self.ledger.unbind_host(who, gid, host, at=when)
        del self.m.hosts[host]

    def register_routed(self, when: datetime, owner: str, g: int, method: str | None, path: str) -> None:
        gid = None if g < 0 else _nth(self.groups, g)
        r = self.ledger.register_api(owner, f"api{len(self.apis)}", http_method=method, path_pattern=path,
                                     group_id=gid, at=when)
        api = r.ids["api_id"]
        self.apis.append(api)
        self.m.apis[api], self.m.api_owner[api] = "DISABLE", owner
        self.m.routes[api] = (owner, gid or default_group_id(owner), method, path)

    def legacy_routed(self, when: datetime, owner: str, method: str | None, path: str) -> None:
        from ledger.domain import Acting, acting

        token = acting.set(Acting(owner, "test", when))
        try:
            api = legacy_api(self.ledger, owner, f"api{len(self.apis)}", http_method=method, path_pattern=path)
        finally:
            acting.reset(token)
        self.apis.append(api)
        self.m.apis[api], self.m.api_owner[api] = "DISABLE", owner
        self.m.routes[api] = (owner, default_group_id(owner), method, path)

    def create_app(self, when: datetime, owner: str, ext: str) -> None:
        r = self.ledger.create_app(owner, f"app{len(self.apps):03d}", extension=ext, at=when)
        app = r.ids["app_id"]
        self.apps.append(app)
        self.m.app_owner[app], self.m.enabled[app], self.m.extension[app] = owner, True, ext
        self._key(app, r)
        self._code(app, r)

    def _key(self, app: str, r: Any) -> None:
        self.m.keys[r.ids["app_key"]] = app
        self.m.secrets[r.ids["app_key"]] = r.revealed["app_secret"]
        self.all_keys.append(r.ids["app_key"])

    def _code(self, app: str, r: Any) -> None:
        self.m.codes[r.revealed["app_code"]] = app
        self.all_codes.append(r.revealed["app_code"])

    def modify_app(self, when: datetime, i: int, who: str, ext: str) -> None:
        app = _nth(self.apps, i)
        self.ledger.modify_app(app, who, extension=ext, at=when)
        self.m.extension[app] = ext

    def disable_app(self, when: datetime, i: int, who: str) -> None:
        app = _nth(self.apps, i)
        self.ledger.disable_app(app, who, at=when)
        self.m.enabled[app] = False

    def enable_app(self, when: datetime, i: int, who: str) -> None:
        app = _nth(self.apps, i)
        self.ledger.enable_app(app, who, at=when)
        self.m.enabled[app] = True

    def delete_app(self, when: datetime, i: int, who: str) -> None:
        app = _nth(self.apps, i)
        self.ledger.delete_app(app, who, at=when)
        self.m.deleted.add(app)

    def add_key_pair(self, when: datetime, i: int, who: str) -> None:
        app = _nth(self.apps, i)
        self._key(app, self.ledger.add_key_pair(app, who, at=when))

    def delete_key_pair(self, when: datetime, i: int, k: int, who: str) -> None:
        app, key = _nth(self.apps, i), _nth(self.all_keys, k) if self.all_keys else "missing-key-1"
        self.ledger.delete_key_pair(app, key, who, at=when)
        del self.m.keys[key]

    def reset_key_pair(self, when: datetime, k: int, who: str, rename: bool) -> None:
        key = _nth(self.all_keys, k) if self.all_keys else "missing-key-1"
        new_key = f"renamed-{len(self.all_keys):04d}" if rename else None
        r = self.ledger.reset_key_pair(key, who, new_app_key=new_key, at=when)
        app = self.m.keys.pop(key)
        self._key(app, r)

    def add_app_code(self, when: datetime, i: int, who: str) -> None:
        app = _nth(self.apps, i)
        self._code(app, self.ledger.add_app_code(app, who, at=when))

    def delete_app_code(self, when: datetime, i: int, c: int, who: str) -> None:
        app, code = _nth(self.apps, i), _nth(self.all_codes, c) if self.all_codes else "A" * 32
        self.ledger.delete_app_code(app, code, who, at=when)
        del self.m.codes[code]

    def reset_app_code(self, when: datetime, c: int, who: str) -> None:
        code = _nth(self.all_codes, c) if self.all_codes else "A" * 32
        r = self.ledger.reset_app_code(code, who, at=when)
        app = self.m.codes.pop(code)
        self._code(app, r)

    def grant(self, when: datetime, who: str, apps: list[int], a: int, stage: str, minutes: float | None) -> None:
        app_ids, api = [_nth(self.apps, i) for i in apps], _nth(self.apis, a)
        until = None if minutes is None else when + timedelta(minutes=minutes)
        self.ledger.grant(who, app_ids, api, stage, until=until, at=when)
        for app in app_ids:
            self.m.grants[(app, api, stage)] = None if until is None else until.timestamp()

    def modify_api(self, when: datetime, a: int, who: str, mode: str) -> None:
        api = _nth(self.apis, a)
        self.ledger.modify_api(api, who, appcode_mode=mode, at=when)
        self.m.apis[api] = mode

    def delete_api(self, when: datetime, a: int, who: str) -> None:
        # The API is gone (unknown_api) and every grant on it with it; granting it, revoking
        # on it or modifying it again is refused (a deleted API is not found).
        api = _nth(self.apis, a)
        self.ledger.delete_api(api, who, at=when)
        del self.m.apis[api]
        self.m.routes.pop(api, None)  # a deleted API routes nowhere
        self.m.grants = {k: v for k, v in self.m.grants.items() if k[1] != api}

    def revoke(self, when: datetime, who: str, i: int, a: int, stage: str) -> None:
        app, api = _nth(self.apps, i), _nth(self.apis, a)
        self.ledger.revoke(who, app, api, stage, at=when)
        del self.m.grants[(app, api, stage)]


def assert_agrees(index: AuthIndex, d: Driver, m: Model, t: float) -> int:
    """Every credential × API × stage at ``t``: the index answers as the model; returns allowed count."""
    allowed = 0
    creds = [("app_key", k) for k in d.all_keys] + [("app_code", c) for c in d.all_codes]
    creds += [("app_id", a) for a in d.apps]
    creds += [("app_key", "never-issued-key"), ("app_code", "B" * 32), ("app_id", MISSING)]
    for kind, cred in creds:
        for api in [*d.apis, MISSING]:
            for stage in STAGES:
                want = could_call(m, kind, cred, api, stage, t)
                got = index.check(cred, api, stage, t, kind=kind)
                assert (got.allowed, got.reason) == want, (kind, cred, api, stage, t)
                if got.allowed:
                    app = cred if kind == "app_id" else (m.keys if kind == "app_key" else m.codes)[cred]
                    assert (got.app_id, got.extension) == (app, m.extension[app])
                    allowed += 1
    for key in d.all_keys:  # the verifier's view: secrets and codes of live credentials only
        app = m.keys.get(key)
        live = app is not None and app not in m.deleted
        assert index.secret_for(key) == ((app, m.secrets[key]) if live else None)
    for code in d.all_codes:
        app = m.codes.get(code)
        assert index.app_for_code(code) == (app if app is not None and app not in m.deleted else None)
    return allowed


@settings(max_examples=80)
@given(ops=st.lists(op, min_size=8, max_size=40))
def test_following_equals_rebuilding_and_check_equals_the_model(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = open_ledger(str(Path(tmp) / "ledger.db"), key=TEST_KEY)
        try:
            # Bootstrap so most random ops land on something real.
            ops = [("register_api", "acme", "HEADER"), ("create_app", "bob", "ext-a"),
                   ("grant", "acme", [0], 0, "RELEASE", None), *ops]
            d = Driver(ledger)
            followed = AuthIndex(ledger.box)
            follower = Follower(ledger, followed)
            history: list[tuple[float, Model]] = []
            for step, o in enumerate(ops):
                before = ledger.recorder.max_notification_id() or 0
                ok = d.run(step, o)
                if not ok:  # a refused command writes nothing
                    assert (ledger.recorder.max_notification_id() or 0) == before
                follower.catch_up()
                assert followed.position == (ledger.recorder.max_notification_id() or 0)
                history.append(((T0 + timedelta(minutes=step)).timestamp(), copy.deepcopy(d.m)))

            rebuilt = AuthIndex.build(ledger)
            assert followed.hosts() == rebuilt.hosts() == d.m.hosts
            assert_routes_agree(Router(followed), d.m)
            assert_routes_agree(Router(rebuilt), d.m)
            assert followed.digest() == rebuilt.digest()
            assert followed.snapshot() == rebuilt.snapshot()
            assert followed.position == rebuilt.position

            # Instants between commands, judged against the history up to that instant.
            for stamp, model in history[:: max(1, len(history) // 6)]:
                t = stamp + 15.0
                past = AuthIndex.build(ledger, until_time=datetime.fromtimestamp(t, UTC))
                assert_agrees(past, d, model, t)
            # After the last command: around and exactly at every end time, and far later.
            last = history[-1][0]
            ends = {e for e in d.m.grants.values() if e is not None}
            instants = {last + 1.0, last + 86400.0} | ends | {e - 0.001 for e in ends if e - 0.001 > last}
            allowed = [assert_agrees(followed, d, d.m, t) for t in sorted(i for i in instants if i > last)]
            event(f"allowed at the first final instant: {'0' if not allowed[0] else '>0'}")
            event(f"commands accepted: {min(d.accepted // 10, 3) * 10}+")
            event(f"apps deleted: {bool(d.m.deleted)}, grants: {min(len(d.m.grants), 5)}")
            event(f"hosts bound: {min(len(d.m.hosts), 2)}, routed APIs: {min(len(d.m.routes), 3)}")
            event(f"route owners: {min(len({r[0] for r in d.m.routes.values()}), 2)}")
        finally:
            ledger.close()
