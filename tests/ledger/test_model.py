"""The ledger against a plain-Python reference model, under random valid and invalid commands.

The model below is written from docs/app-model.md and the order of checks the application
documents (validation, lookups, rights, state), with dicts and sets only: it shares no
logic with ``ledger.domain``. After every step the machine asserts that both accepted or
rejected the command alike (same error class), that a rejected command wrote nothing and
an accepted one wrote the expected number of events, and that every app the ledger holds
looks the same as in the model.
"""

from __future__ import annotations

import random
import re
import shutil
import string
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from unittest import mock

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ledger import errors as E
from ledger import idempotency
from ledger.application import Ledger
from ledger.bootstrap import open_ledger

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
ACCOUNTS = ["alice", "bob", "carol"]
STAGES = ["RELEASE", "PRE", "TEST"]
# Custom AppKeys that collide, also by case; one malformed.
APP_KEYS = [None] * 6 + ["sharedKey1", "SHAREDKEY1", "sharedkey1", "otherKey22", "third-Key_3", "bad key!"]
APP_CODES = [None] * 6 + ["Code000000000000001", "code000000000000001", "Code000000000000002", "short"]
SECRETS = [None] * 4 + ["Secret!Secret!Secret!1", "too short"]
NAMES = ["MyApp", "Other_App", "MyApp", "Other_App", "Third", "x", "9lives"]
UNTILS: list[Any] = [None, None, T0 + timedelta(days=1), T0 - timedelta(days=1), T0, T0 + timedelta(days=1), T0 + timedelta(days=2), datetime(2031, 1, 1)]

KEY_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
CODE_RE = re.compile(r"[A-Za-z0-9]{16,64}")
SECRET_RE = re.compile(r"[\x21-\x7e]{16,128}")
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,25}")


class Reject(Exception):
    def __init__(self, error: type[E.LedgerError]) -> None:
        self.error = error


@dataclass
class MApp:
    owner: str
    name: str
    enabled: bool = True
    deleted: bool = False
    keys: list[list[Any]] = field(default_factory=list)  # [app_key, is_default], in order
    codes: set[str] = field(default_factory=set)
    grants: dict[tuple[str, str], Any] = field(default_factory=dict)


class Model:
    """What docs/app-model.md says the ledger holds, with the application's documented check order."""

    def __init__(self) -> None:
        self.apis: dict[str, str] = {}  # api id -> owner
        self.apps: dict[str, MApp] = {}
        self.key_claims: dict[str, tuple[str, str]] = {}  # lower(key) -> (key, app id)
        self.code_claims: dict[str, str] = {}  # code -> app id

    # helpers
    def valid(self, ok: bool) -> None:
        if not ok:
            raise Reject(E.InvalidInput)

    def app(self, app_id: str) -> MApp:
        if app_id not in self.apps:
            raise Reject(E.AppNotFound)
        return self.apps[app_id]

    def owned(self, app_id: str, actor: str, unknown: Any = None) -> MApp:
        app = self.app(app_id)
        if app.owner != actor:
            # A credential named by value (AppKey, AppCode) of another account answers as an
            # unknown one (issue 14.3); an app named by id answers 403.
            raise Reject(unknown or E.NotPermitted)
        if app.deleted:
            raise Reject(E.AppIsDeleted)
        return app

    def key_free(self, key: str | None) -> None:
        if key is not None and key.lower() in self.key_claims:
            raise Reject(E.DuplicateAppKey)

    def code_free(self, code: str | None) -> None:
        if code is not None and code in self.code_claims:
            raise Reject(E.DuplicateAppCode)

    # commands: each checks (raising Reject) and returns (events expected, commit(receipt))
    def register_api(self, owner: str) -> tuple[int, Callable[[Any], None]]:
        return 1, lambda r: self.apis.__setitem__(r.ids["api_id"], owner)

    def create_app(self, owner: str, name: str, key: str | None, secret: str | None, code: str | None):  # type: ignore[no-untyped-def]
        self.valid(bool(NAME_RE.fullmatch(name)))
        self.valid(key is None or bool(KEY_RE.fullmatch(key)))
        self.valid(secret is None or bool(SECRET_RE.fullmatch(secret)))
        self.valid(code is None or bool(CODE_RE.fullmatch(code)))
        self.key_free(key)
        self.code_free(code)

        def commit(r: Any) -> None:
            app_id = r.ids["app_id"]
            k, c = r.ids["app_key"], r.revealed["app_code"]
            self.apps[app_id] = MApp(owner, name, keys=[[k, True]], codes={c})
            self.key_claims[k.lower()] = (k, app_id)
            self.code_claims[c] = app_id

        return 5, commit

    def modify_app(self, app_id: str, actor: str, name: str):  # type: ignore[no-untyped-def]
        self.valid(bool(NAME_RE.fullmatch(name)))
        app = self.owned(app_id, actor)
        return int(app.name != name), lambda r: setattr(app, "name", name)

    def set_enabled(self, app_id: str, actor: str, enabled: bool):  # type: ignore[no-untyped-def]
        app = self.owned(app_id, actor)
        return int(app.enabled != enabled), lambda r: setattr(app, "enabled", enabled)

    def delete_app(self, app_id: str, actor: str):  # type: ignore[no-untyped-def]
        app = self.owned(app_id, actor)
        return 1, lambda r: setattr(app, "deleted", True)

    def add_key_pair(self, app_id: str, actor: str, key: str | None, secret: str | None):  # type: ignore[no-untyped-def]
        self.valid(key is None or bool(KEY_RE.fullmatch(key)))
        self.valid(secret is None or bool(SECRET_RE.fullmatch(secret)))
        app = self.owned(app_id, actor)
        self.key_free(key)
        if len(app.keys) >= 10:
            raise Reject(E.KeyPairLimitReached)

        def commit(r: Any) -> None:
            k = r.ids["app_key"]
            app.keys.append([k, False])
            self.key_claims[k.lower()] = (k, app_id)

        return 2, commit

    def delete_key_pair(self, app_id: str, actor: str, key: str):  # type: ignore[no-untyped-def]
        self.valid(bool(KEY_RE.fullmatch(key)))
        app = self.owned(app_id, actor)
        live = [p for p in app.keys if p[0] == key]
        if not live:
            raise Reject(E.KeyPairNotFound)
        if live[0][1]:
            raise Reject(E.DefaultKeyPairUndeletable)
        return 1, lambda r: app.keys.remove(live[0])

    def reset_key_pair(self, key: str, actor: str, new_key: str | None, secret: str | None):  # type: ignore[no-untyped-def]
        self.valid(bool(KEY_RE.fullmatch(key)))
        self.valid(new_key is None or bool(KEY_RE.fullmatch(new_key)))
        self.valid(secret is None or bool(SECRET_RE.fullmatch(secret)))
        claim = self.key_claims.get(key.lower())
        if claim is None or claim[0] != key:
            raise Reject(E.KeyPairNotFound)
        app = self.owned(claim[1], actor, unknown=E.KeyPairNotFound)  # another's key: as unknown
        live = [p for p in app.keys if p[0] == key]
        if not live:
            raise Reject(E.KeyPairNotFound)
        changes_key = new_key is not None and new_key != key
        if changes_key:
            self.key_free(new_key)

        def commit(r: Any) -> None:
            if changes_key:
                live[0][0] = new_key
                self.key_claims[new_key.lower()] = (new_key, claim[1])  # type: ignore[union-attr]

        return 1 + changes_key, commit

    def add_app_code(self, app_id: str, actor: str, code: str | None):  # type: ignore[no-untyped-def]
        self.valid(code is None or bool(CODE_RE.fullmatch(code)))
        app = self.owned(app_id, actor)
        self.code_free(code)

        def commit(r: Any) -> None:
            c = r.revealed["app_code"]
            app.codes.add(c)
            self.code_claims[c] = app_id

        return 2, commit

    def delete_app_code(self, app_id: str, actor: str, code: str):  # type: ignore[no-untyped-def]
        self.valid(bool(CODE_RE.fullmatch(code)))
        app = self.owned(app_id, actor)
        if code not in app.codes:
            raise Reject(E.AppCodeNotFound)
        return 1, lambda r: app.codes.discard(code)

    def reset_app_code(self, code: str, actor: str, new_code: str | None):  # type: ignore[no-untyped-def]
        self.valid(bool(CODE_RE.fullmatch(code)))
        self.valid(new_code is None or bool(CODE_RE.fullmatch(new_code)))
        if code not in self.code_claims:
            raise Reject(E.AppCodeNotFound)
        app_id = self.code_claims[code]
        app = self.owned(app_id, actor, unknown=E.AppCodeNotFound)  # another's code: as unknown
        if code not in app.codes:
            raise Reject(E.AppCodeNotFound)
        self.code_free(new_code)

        def commit(r: Any) -> None:
            c = r.revealed["app_code"]
            app.codes.discard(code)
            app.codes.add(c)
            self.code_claims[c] = app_id

        return 2, commit

    def grant(self, actor: str, app_ids: list[str], api_ids: list[str], stage: str, until: Any, now: datetime):  # type: ignore[no-untyped-def]
        self.valid(stage in STAGES)
        self.valid(until is None or until.tzinfo is not None)
        self.valid(until is None or until > now)
        for api_id in api_ids:
            if api_id not in self.apis:
                raise Reject(E.ApiNotFound)
        apps = [self.app(a) for a in app_ids]
        if any(self.apis[a] != actor for a in api_ids):
            raise Reject(E.NotPermitted)
        if any(app.deleted for app in apps):
            raise Reject(E.AppIsDeleted)
        changes = [(app, (api_id, stage)) for app in apps for api_id in api_ids if app.grants.get((api_id, stage), "absent") != until]

        def commit(r: Any) -> None:
            for app, key in changes:
                app.grants[key] = until

        return len(changes), commit

    def revoke(self, actor: str, app_id: str, api_id: str, stage: str):  # type: ignore[no-untyped-def]
        self.valid(stage in STAGES)
        if api_id not in self.apis:
            raise Reject(E.ApiNotFound)
        app = self.app(app_id)
        if actor not in (self.apis[api_id], app.owner):
            raise Reject(E.NotPermitted)
        if app.deleted:
            raise Reject(E.AppIsDeleted)
        if (api_id, stage) not in app.grants:
            raise Reject(E.GrantNotFound)
        return 1, lambda r: app.grants.pop((api_id, stage))


class LedgerVersusModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # Generated ids and credentials come from a seeded generator, so that hypothesis's
        # replay of a test case (when shrinking) sees exactly the same ledger: with random
        # values, a replay could take another path and end as FlakyStrategyDefinition.
        rng = random.Random(0)
        alnum = string.ascii_letters + string.digits
        text = lambda n: "".join(rng.choice(alnum) for _ in range(n))  # noqa: E731
        self._patches = [
            mock.patch("ledger.crypto.generate_app_key", lambda: text(24)),
            mock.patch("ledger.crypto.generate_app_secret", lambda: text(43)),
            mock.patch("ledger.crypto.generate_app_code", lambda: text(32)),
            mock.patch("ledger.domain.uuid4", lambda: uuid.UUID(int=rng.getrandbits(128), version=4)),
        ]
        for p in self._patches:
            p.start()
        self.model = Model()
        self.keyed: dict[tuple[str, str], tuple[dict[str, Any], Any]] = {}  # (account, key) -> (request, receipt)
        self.ledger = self.open()
        self.now = T0
        self.unknown = str(uuid.UUID(int=12345))

    def open(self) -> Ledger:
        return open_ledger(":memory:", key=bytes(32))

    def teardown(self) -> None:
        self.ledger.close()
        for p in self._patches:
            p.stop()

    # -- the harness --------------------------------------------------------------------
    def step(self, model_cmd: Callable[[], Any], ledger_cmd: Callable[[datetime], Any]) -> None:
        self.now += timedelta(minutes=1)
        before = self.ledger.recorder.max_notification_id() or 0
        try:
            expected, commit = model_cmd()
            want: type[E.LedgerError] | None = None
        except Reject as r:
            want = r.error
        try:
            receipt = ledger_cmd(self.now)
            got: type[E.LedgerError] | None = None
        except E.LedgerError as e:
            got = type(e)
        event(f"{want.__name__ if want else 'accepted'}")
        assert got is want, f"ledger: {got and got.__name__}, model: {want and want.__name__}"
        after = self.ledger.recorder.max_notification_id() or 0
        if want is not None:
            assert after == before, "a rejected command wrote events"
            return
        assert receipt.events == expected == after - before
        commit(receipt)

    def pick(self, data: st.DataObject, items: list[Any], label: str) -> Any:
        return data.draw(st.sampled_from(items) if items else st.just(self.unknown), label=label)

    def app_id(self, data: st.DataObject) -> str:
        return self.pick(data, list(self.model.apps) + [self.unknown], "app")

    def api_id(self, data: st.DataObject) -> str:
        return self.pick(data, list(self.model.apis) + [self.unknown], "api")

    def actor(self, data: st.DataObject, app_id: str | None = None) -> str:
        # Mostly the owner, sometimes someone else.
        owner = self.model.apps[app_id].owner if app_id in self.model.apps else "alice"
        return data.draw(st.sampled_from([owner, owner, owner] + ACCOUNTS), label="actor")

    def some_key(self, data: st.DataObject) -> str:
        known = [k for app in self.model.apps.values() for k, _ in app.keys]
        claimed = [k for k, _ in self.model.key_claims.values()]
        return self.pick(data, known + claimed + ["nosuchkey1", "SHAREDKEY1", "bad key!"], "key")

    def some_code(self, data: st.DataObject) -> str:
        known = [c for app in self.model.apps.values() for c in app.codes]
        return self.pick(data, known + list(self.model.code_claims) + ["Code000000000000001", "Nope0000000000000000", "short"], "code")

    @initialize(provider=st.sampled_from(ACCOUNTS), consumer=st.sampled_from(ACCOUNTS))
    def a_provider_and_a_consumer(self, provider: str, consumer: str) -> None:
        self.step(lambda: self.model.register_api(provider), lambda at: self.ledger.register_api(provider, "api", at=at))
        self.step(
            lambda: self.model.create_app(consumer, "FirstApp", None, None, None),
            lambda at: self.ledger.create_app(consumer, "FirstApp", at=at),
        )

    # -- rules -----------------------------------------------------------------------
    @rule(owner=st.sampled_from(ACCOUNTS))
    def register_api(self, owner: str) -> None:
        self.step(lambda: self.model.register_api(owner), lambda at: self.ledger.register_api(owner, "api", at=at))

    @rule(owner=st.sampled_from(ACCOUNTS), name=st.sampled_from(NAMES), key=st.sampled_from(APP_KEYS),
          secret=st.sampled_from(SECRETS), code=st.sampled_from(APP_CODES))
    def create_app(self, owner: str, name: str, key: str | None, secret: str | None, code: str | None) -> None:
        self.step(
            lambda: self.model.create_app(owner, name, key, secret, code),
            lambda at: self.ledger.create_app(owner, name, app_key=key, app_secret=secret, app_code=code, at=at),
        )

    @rule(owner=st.sampled_from(ACCOUNTS), name=st.sampled_from(NAMES), key=st.sampled_from(["k1", "k2"]))
    def create_app_under_an_idempotency_key(self, owner: str, name: str, key: str) -> None:
        """A client's retry: the first success under (account, key) is recorded (one more
        event); the same request again replays it and writes nothing; another request with
        the key is refused and writes nothing; a refused first try leaves the key unused."""
        request = {"name": name}
        prior = self.keyed.get((owner, key))
        if prior is None:
            def model() -> Any:
                expected, commit = self.model.create_app(owner, name, None, None, None)

                def commit_and_record(r: Any) -> None:
                    commit(r)
                    self.keyed[(owner, key)] = (request, r)
                return expected + 1, commit_and_record

            def ledger(at: datetime) -> Any:
                return self.ledger.create_app(owner, name, at=at, idempotency=idempotency.request(key, "test:app create", request))

            self.step(model, ledger)
            return
        self.now += timedelta(minutes=1)
        before = self.ledger.recorder.max_notification_id()
        first = prior[1]
        if prior[0] == request:
            again = self.ledger.create_app(owner, name, at=self.now, idempotency=idempotency.request(key, "test:app create", request))
            assert again.replayed and again.ids == first.ids and again.revealed == {}
            assert (again.position, again.events, again.timestamp) == (first.position, first.events, first.timestamp)
            event("replayed")
        else:
            # Input validation comes first (the order of checks), then the key.
            want = E.IdempotencyKeyReused if NAME_RE.fullmatch(name) else E.InvalidInput
            try:
                self.ledger.create_app(owner, name, at=self.now, idempotency=idempotency.request(key, "test:app create", request))
                raise AssertionError("a reused key ran another request")
            except E.LedgerError as e:
                assert type(e) is want, (type(e), want)
                event(want.__name__)
        assert self.ledger.recorder.max_notification_id() == before

    @rule(data=st.data(), name=st.sampled_from(NAMES))
    def modify_app(self, data: st.DataObject, name: str) -> None:
        app_id = self.app_id(data)
        actor = self.actor(data, app_id)
        self.step(lambda: self.model.modify_app(app_id, actor, name), lambda at: self.ledger.modify_app(app_id, actor, name=name, at=at))

    @rule(data=st.data(), enabled=st.booleans())
    def disable_or_enable(self, data: st.DataObject, enabled: bool) -> None:
        app_id = self.app_id(data)
        actor = self.actor(data, app_id)
        command = self.ledger.enable_app if enabled else self.ledger.disable_app
        self.step(lambda: self.model.set_enabled(app_id, actor, enabled), lambda at: command(app_id, actor, at=at))

    @rule(data=st.data())
    def delete_app(self, data: st.DataObject) -> None:
        app_id = self.app_id(data)
        actor = self.actor(data, app_id)
        self.step(lambda: self.model.delete_app(app_id, actor), lambda at: self.ledger.delete_app(app_id, actor, at=at))

    @rule(data=st.data(), key=st.sampled_from(APP_KEYS), secret=st.sampled_from(SECRETS), times=st.integers(1, 4))
    def add_key_pair(self, data: st.DataObject, key: str | None, secret: str | None, times: int) -> None:
        app_id = self.app_id(data)
        actor = self.actor(data, app_id)
        for _ in range(times):  # several at once, to reach the limit of 10
            self.step(
                lambda: self.model.add_key_pair(app_id, actor, key, secret),
                lambda at: self.ledger.add_key_pair(app_id, actor, app_key=key, app_secret=secret, at=at),
            )

    @rule(data=st.data())
    def delete_key_pair(self, data: st.DataObject) -> None:
        app_id = self.app_id(data)
        actor = self.actor(data, app_id)
        key = self.some_key(data)
        self.step(lambda: self.model.delete_key_pair(app_id, actor, key), lambda at: self.ledger.delete_key_pair(app_id, key, actor, at=at))

    @rule(data=st.data(), new_key=st.sampled_from(APP_KEYS), secret=st.sampled_from(SECRETS))
    def reset_key_pair(self, data: st.DataObject, new_key: str | None, secret: str | None) -> None:
        key = self.some_key(data)
        claim = self.model.key_claims.get(key.lower())
        actor = self.actor(data, claim[1] if claim else None)
        self.step(
            lambda: self.model.reset_key_pair(key, actor, new_key, secret),
            lambda at: self.ledger.reset_key_pair(key, actor, new_app_key=new_key, new_app_secret=secret, at=at),
        )

    @rule(data=st.data(), code=st.sampled_from(APP_CODES))
    def add_app_code(self, data: st.DataObject, code: str | None) -> None:
        app_id = self.app_id(data)
        actor = self.actor(data, app_id)
        self.step(lambda: self.model.add_app_code(app_id, actor, code), lambda at: self.ledger.add_app_code(app_id, actor, code=code, at=at))

    @rule(data=st.data())
    def delete_app_code(self, data: st.DataObject) -> None:
        app_id = self.app_id(data)
        actor = self.actor(data, app_id)
        code = self.some_code(data)
        self.step(lambda: self.model.delete_app_code(app_id, actor, code), lambda at: self.ledger.delete_app_code(app_id, code, actor, at=at))

    @rule(data=st.data(), new_code=st.sampled_from(APP_CODES))
    def reset_app_code(self, data: st.DataObject, new_code: str | None) -> None:
        code = self.some_code(data)
        actor = self.actor(data, self.model.code_claims.get(code))
        self.step(
            lambda: self.model.reset_app_code(code, actor, new_code),
            lambda at: self.ledger.reset_app_code(code, actor, new_code=new_code, at=at),
        )

    @rule(data=st.data(), stage=st.sampled_from(STAGES + ["PROD"]), until=st.sampled_from(UNTILS), bulk=st.integers(1, 3))
    def grant(self, data: st.DataObject, stage: str, until: Any, bulk: int) -> None:
        many_apps = data.draw(st.booleans(), label="many apps")
        apps = [self.app_id(data) for _ in range(bulk if many_apps else 1)]
        apis = [self.api_id(data) for _ in range(1 if many_apps else bulk)]
        apps, apis = list(dict.fromkeys(apps)), list(dict.fromkeys(apis))
        owner = self.model.apis.get(apis[0], "alice")
        actor = data.draw(st.sampled_from([owner, owner] + ACCOUNTS), label="actor")
        self.step(
            lambda: self.model.grant(actor, apps, apis, stage, until, self.now),
            lambda at: self.ledger.grant(actor, apps, apis, stage, until=until, at=at),
        )

    @rule(data=st.data(), stage=st.sampled_from(STAGES + ["PROD"]))
    def revoke(self, data: st.DataObject, stage: str) -> None:
        granted = [(a, api, s) for a, app in self.model.apps.items() for (api, s) in app.grants]
        if granted and data.draw(st.booleans(), label="an existing grant"):
            app_id, api_id, stage = data.draw(st.sampled_from(granted), label="grant")
        else:
            app_id, api_id = self.app_id(data), self.api_id(data)
        candidates = [self.model.apis.get(api_id, "alice"), self.model.apps[app_id].owner if app_id in self.model.apps else "bob"]
        actor = data.draw(st.sampled_from(candidates + ACCOUNTS), label="actor")
        self.step(lambda: self.model.revoke(actor, app_id, api_id, stage), lambda at: self.ledger.revoke(actor, app_id, api_id, stage, at=at))

    # -- what must hold after every step ---------------------------------------------
    @invariant()
    def ledger_state_equals_model(self) -> None:
        for app_id, m in self.model.apps.items():
            app = self.ledger.get_app(app_id)
            seen = {
                "owner": app.owner,
                "name": app.name,
                "enabled": app.enabled,
                "deleted": app.deleted,
                "keys": [[k, p.is_default] for k, p in app.key_pairs.items()],
                "codes": len(app.app_codes),
                "grants": {k: g.until for k, g in app.grants.items()},
            }
            expected = {
                "owner": m.owner, "name": m.name, "enabled": m.enabled, "deleted": m.deleted,
                "keys": m.keys, "codes": len(m.codes), "grants": m.grants,
            }
            assert seen == expected, app_id
            # The AppKey claim of every live pair points back at its app.
            for k, _ in m.keys:
                assert str(self.ledger.app_id_for_key(k)) == app_id
        for api_id, owner in self.model.apis.items():
            assert self.ledger.get_api(api_id).owner == owner


class LedgerOnSQLiteVersusModel(LedgerVersusModel):
    def open(self) -> Ledger:
        self.tmp = tempfile.mkdtemp(prefix="authledger-model-")
        return open_ledger(f"{self.tmp}/ledger.db", key=bytes(32))

    def teardown(self) -> None:
        super().teardown()
        shutil.rmtree(self.tmp, ignore_errors=True)


LedgerVersusModel.TestCase.settings = settings(max_examples=150, stateful_step_count=50, deadline=None)
LedgerOnSQLiteVersusModel.TestCase.settings = settings(max_examples=10, stateful_step_count=25, deadline=None)
test_ledger_in_memory_agrees_with_the_model = LedgerVersusModel.TestCase
test_ledger_on_sqlite_agrees_with_the_model = LedgerOnSQLiteVersusModel.TestCase


# -- the same machine on PostgreSQL (issue 8): fewer examples, a fresh database for each ----------
def test_ledger_on_postgres_agrees_with_the_model(pg_pool: Any) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    class LedgerOnPostgresVersusModel(LedgerVersusModel):
        def open(self) -> Ledger:
            self.url = pg_pool.take()
            return open_ledger(self.url, key=bytes(32))

        def teardown(self) -> None:
            super().teardown()
            pg_pool.give_back(self.url)

    run_state_machine_as_test(LedgerOnPostgresVersusModel,
                              settings=settings(max_examples=8, stateful_step_count=25, deadline=None))
