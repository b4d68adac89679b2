"""Random ledger histories with injected timestamps, for the audit properties."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from ledger.application import Ledger
from ledger.errors import LedgerError

T0 = datetime(2026, 3, 3, 3, 0, tzinfo=UTC)
STAGES = ("RELEASE", "TEST")
PROVIDER, CONSUMER = "provider1", "consumer1"

steps = st.sampled_from([timedelta(0), timedelta(microseconds=1), timedelta(seconds=1), timedelta(seconds=7),
                         timedelta(seconds=60)])
app_ix = st.integers(0, 2)
ops = st.one_of(
    st.tuples(st.just("create"), app_ix),
    st.tuples(st.just("grant"), app_ix, st.integers(0, 1), st.sampled_from(STAGES),
              st.one_of(st.none(), st.integers(1, 120))),
    st.tuples(st.just("grant"), app_ix, st.integers(0, 1), st.sampled_from(STAGES), st.integers(1, 120)),
    st.tuples(st.just("revoke"), app_ix, st.integers(0, 1), st.sampled_from(STAGES), st.booleans()),
    st.tuples(st.just("disable"), app_ix),
    st.tuples(st.just("enable"), app_ix),
    st.tuples(st.just("delete"), app_ix),
    st.tuples(st.just("add_key"), app_ix),
    st.tuples(st.just("delete_key"), app_ix),
    st.tuples(st.just("reset_key"), app_ix, st.booleans()),
    st.tuples(st.just("add_code"), app_ix),
    st.tuples(st.just("reset_code"), app_ix),
    st.tuples(st.just("delete_code"), app_ix),
    # The APIs change too: their AppCode mode (codes could call before, not after, or the
    # reverse), and deletion (every grant on it ends; later grants on it are refused).
    st.tuples(st.just("modify_api"), st.integers(0, 1), st.sampled_from(["DISABLE", "HEADER"])),
    st.tuples(st.just("delete_api"), st.integers(0, 1)),
)
histories = st.lists(st.tuples(steps, ops), min_size=8, max_size=50)


@dataclass
class Driver:
    """Plays operations on a ledger at injected instants; remembers what it needs to."""

    ledger: Ledger
    now: datetime = T0
    apis: list[str] = field(default_factory=list)
    apps: dict[int, str] = field(default_factory=dict)
    keys: dict[int, list[str]] = field(default_factory=dict)
    codes: dict[int, list[str]] = field(default_factory=dict)
    counter: int = 0

    def setup(self) -> None:
        L = self.ledger
        self.apis.append(L.register_api(PROVIDER, "codes_ok", appcode_mode="HEADER", at=self.now).ids["api_id"])
        self.apis.append(L.register_api(PROVIDER, "keys_only", appcode_mode="DISABLE", at=self.now).ids["api_id"])
        for i in range(3):
            self.do(("create", i))

    def _code(self) -> str:
        self.counter += 1
        return f"Code{self.counter:012d}abcdefgh"

    def _key(self) -> str:
        self.counter += 1
        return f"key-{self.counter:08d}"

    def play(self, history: list[tuple[timedelta, tuple[Any, ...]]]) -> None:
        for step, op in history:
            self.now += step
            try:
                self.do(op)
            except LedgerError:
                pass  # refused commands leave no event

    def do(self, op: tuple[Any, ...]) -> None:
        L, at, name = self.ledger, self.now, op[0]
        i = op[1]
        if name == "modify_api":
            L.modify_api(self.apis[i], PROVIDER, appcode_mode=op[2], at=at)
            return
        if name == "delete_api":
            L.delete_api(self.apis[i], PROVIDER, at=at)
            return
        app = self.apps.get(i)
        if name == "create":
            if app is not None and not L.get_app(app).deleted:
                return
            key, code = self._key(), self._code()
            r = L.create_app(CONSUMER, f"app{i}", app_key=key, app_code=code, at=at)
            self.apps[i], self.keys[i], self.codes[i] = r.ids["app_id"], [key], [code]
            return
        if app is None:
            return
        if name == "grant":
            until = None if op[4] is None else at + timedelta(seconds=op[4])
            L.grant(PROVIDER, app, self.apis[op[2]], op[3], until=until, at=at)
        elif name == "revoke":
            L.revoke(PROVIDER if op[4] else CONSUMER, app, self.apis[op[2]], op[3], at=at)
        elif name == "disable":
            L.disable_app(app, CONSUMER, at=at)
        elif name == "enable":
            L.enable_app(app, CONSUMER, at=at)
        elif name == "delete":
            L.delete_app(app, CONSUMER, at=at)
        elif name == "add_key":
            key = self._key()
            L.add_key_pair(app, CONSUMER, app_key=key, at=at)
            self.keys[i].append(key)
        elif name == "delete_key" and len(self.keys[i]) > 1:
            L.delete_key_pair(app, self.keys[i][-1], CONSUMER, at=at)
            self.keys[i].pop()
        elif name == "reset_key":
            old = self.keys[i][0]
            new = self._key() if op[2] else None
            L.reset_key_pair(old, CONSUMER, new_app_key=new, at=at)
            if new:
                self.keys[i][0] = new
        elif name == "add_code":
            code = self._code()
            L.add_app_code(app, CONSUMER, code=code, at=at)
            self.codes[i].append(code)
        elif name == "reset_code" and self.codes[i]:
            new = self._code()
            L.reset_app_code(self.codes[i][0], CONSUMER, new_code=new, at=at)
            self.codes[i][0] = new
        elif name == "delete_code" and self.codes[i]:
            L.delete_app_code(app, self.codes[i][-1], CONSUMER, at=at)
            self.codes[i].pop()
