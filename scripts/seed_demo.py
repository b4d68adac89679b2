#!/usr/bin/env python3
"""A seeded demonstration history: a year of an API marketplace, the same for the same seed.

    python scripts/seed_demo.py --db demo.db [--seed 7] [--apps 36] [--operations 900] [--force]

A few accounts publish APIs and create apps; over 2025 they grant (across accounts too,
with and without end times), renew, revoke, let grants expire, disable and enable apps,
add, reset and delete key pairs and AppCodes, and one app is deleted. Every id, AppKey,
AppSecret and AppCode comes from ``random.Random(seed)`` and every event carries an
injected timestamp, so the reports on the result are byte-identical run after run.
(The sealed bytes in the database still differ: they are encrypted with random nonces
under the database's own key, and no report shows them.)
"""

from __future__ import annotations

import argparse
import os
import random
import string
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.application import Ledger
from ledger.bootstrap import open_ledger
from ledger.domain import Api, App
from ledger.errors import LedgerError
from ledger.isotime import iso

START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
ACCOUNTS = ("acme-payments", "globex-retail", "initech-data", "umbrella-logistics")
PROVIDERS = ACCOUNTS[:3]
API_NAMES = ("payments_charge", "payments_refund", "catalog_search", "catalog_items", "orders_create",
             "orders_status", "analytics_events", "analytics_reports", "shipping_quotes", "shipping_labels",
             "identity_lookup", "fx_rates")
STAGES = ("RELEASE", "RELEASE", "RELEASE", "PRE", "TEST")
ALNUM = string.ascii_letters + string.digits


@contextmanager
def seeded_ids(rng: random.Random) -> Iterator[None]:
    """App and Api ids drawn from the seeded generator (uuid4-shaped) while seeding."""
    saved = App.__dict__["create_id"], Api.__dict__["create_id"]

    def create_id() -> UUID:
        return UUID(int=rng.getrandbits(128), version=4)

    App.create_id = staticmethod(create_id)  # type: ignore[method-assign]
    Api.create_id = staticmethod(create_id)  # type: ignore[method-assign]
    try:
        yield
    finally:
        App.create_id, Api.create_id = saved  # type: ignore[method-assign]


class Demo:
    """Plays the demonstration history on a ledger; remembers what it made."""

    def __init__(self, ledger: Ledger, seed: int = 7) -> None:
        self.L = ledger
        self.rng = random.Random(seed)
        self.now = START
        self.apis: list[tuple[str, str]] = []  # (api_id, owner)
        self.apps: list[dict[str, Any]] = []   # app_id, owner, keys, codes, enabled, deleted
        self.grants: dict[tuple[str, str, str], datetime | None] = {}
        self.events = 0

    # -- seeded values ---------------------------------------------------------------------

    def _text(self, n: int, alphabet: str = ALNUM) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def _tick(self, mean: timedelta) -> datetime:
        self.now += timedelta(seconds=self.rng.randint(1, int(mean.total_seconds() * 2)))
        return self.now

    def _do(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            r = fn(*args, source="import", at=self.now, **kwargs)
        except LedgerError:
            return None  # a refused command writes nothing; the history goes on
        self.events += r.events
        return r

    # -- the story -------------------------------------------------------------------------

    def setup(self, n_apps: int) -> None:
        for i, name in enumerate(API_NAMES):
            owner = PROVIDERS[i % len(PROVIDERS)]
            mode = "HEADER" if i % 4 == 2 else "DISABLE"
            self._tick(timedelta(hours=2))
            r = self._do(self.L.register_api, owner, name, group=name.split("_")[0], appcode_mode=mode)
            self.apis.append((r.ids["api_id"], owner))
        for i in range(n_apps):
            self._tick(timedelta(hours=6))
            self.create_app(i)

    def create_app(self, i: int) -> None:
        owner = ACCOUNTS[self.rng.randrange(len(ACCOUNTS))]
        key = self._text(24)
        code = self._text(32)
        r = self._do(self.L.create_app, owner, f"{owner.split('-')[0]}_app_{i:02d}", app_key=key,
                     app_secret=self._text(43), app_code=code, description="demo app")
        if r is not None:
            self.apps.append({"app_id": r.ids["app_id"], "owner": owner, "keys": [key], "default": key,
                              "codes": [code], "enabled": True, "deleted": False})

    def live_apps(self) -> list[dict[str, Any]]:
        return [a for a in self.apps if not a["deleted"]]

    def step(self, deleted_one: bool) -> bool:
        rng, apps = self.rng, self.live_apps()
        app = rng.choice(apps)
        op = rng.choices(
            ["grant", "regrant", "revoke", "disable", "enable", "reset_key", "add_key", "delete_key",
             "add_code", "reset_code", "delete"],
            weights=[40, 8, 9, 3, 4, 4, 3, 2, 2, 2, 1 if not deleted_one and self.now > START + YEAR / 2 else 0])[0]
        L = self.L
        if op == "grant":
            api_id, owner = rng.choice(self.apis)
            if rng.random() < 0.25:  # prefer an API of the app's own account now and then
                own = [a for a in self.apis if a[1] == app["owner"]]
                api_id, owner = rng.choice(own) if own else (api_id, owner)
            stage = rng.choice(STAGES)
            until = None if rng.random() < 0.3 else self.now + timedelta(days=rng.randint(10, 200))
            if self._do(L.grant, owner, app["app_id"], api_id, stage, until=until):
                self.grants[(app["app_id"], api_id, stage)] = until
        elif op == "regrant":
            held = sorted(k for k in self.grants if k[0] == app["app_id"])
            if held:
                _a, api_id, stage = rng.choice(held)
                owner = dict(self.apis)[api_id]
                until = self.now + timedelta(days=rng.randint(5, 120))
                if self._do(L.grant, owner, app["app_id"], api_id, stage, until=until):
                    self.grants[(app["app_id"], api_id, stage)] = until
        elif op == "revoke":
            held = sorted(k for k in self.grants if k[0] == app["app_id"])
            if held:
                grant = rng.choice(held)
                actor = dict(self.apis)[grant[1]] if rng.random() < 0.7 else app["owner"]
                if self._do(L.revoke, actor, app["app_id"], grant[1], grant[2]):
                    del self.grants[grant]
        elif op == "disable" and app["enabled"]:
            if self._do(L.disable_app, app["app_id"], app["owner"]):
                app["enabled"] = False
        elif op == "enable":
            off = [a for a in apps if not a["enabled"]]
            if off:
                a = rng.choice(off)
                if self._do(L.enable_app, a["app_id"], a["owner"]):
                    a["enabled"] = True
        elif op == "reset_key":
            key = rng.choice(app["keys"])
            new = self._text(24) if rng.random() < 0.4 else None
            if self._do(L.reset_key_pair, key, app["owner"], new_app_key=new, new_app_secret=self._text(43)) and new:
                app["keys"][app["keys"].index(key)] = new
                if app["default"] == key:
                    app["default"] = new
        elif op == "add_key" and len(app["keys"]) < 3:
            key = self._text(24)
            if self._do(L.add_key_pair, app["app_id"], app["owner"], app_key=key, app_secret=self._text(43)):
                app["keys"].append(key)
        elif op == "delete_key":
            extra = [k for k in app["keys"] if k != app["default"]]
            if extra:
                key = rng.choice(extra)
                if self._do(L.delete_key_pair, app["app_id"], key, app["owner"]):
                    app["keys"].remove(key)
        elif op == "add_code" and len(app["codes"]) < 2:
            code = self._text(32)
            if self._do(L.add_app_code, app["app_id"], app["owner"], code=code):
                app["codes"].append(code)
        elif op == "reset_code":
            code, new = rng.choice(app["codes"]), self._text(32)
            if self._do(L.reset_app_code, code, app["owner"], new_code=new):
                app["codes"][app["codes"].index(code)] = new
        elif op == "delete" and self._do(L.delete_app, app["app_id"], app["owner"]):
            app["deleted"] = True
            for k in [k for k in self.grants if k[0] == app["app_id"]]:
                del self.grants[k]
            return True
        return deleted_one

    def play(self, n_apps: int = 36, operations: int = 900) -> None:
        with seeded_ids(self.rng):
            self.setup(n_apps)
            mean = (START + YEAR - self.now) / max(operations, 1)
            deleted = False
            for i in range(operations):
                self._tick(mean)
                if i % 60 == 59 and len(self.apps) < n_apps + 6:
                    self.create_app(len(self.apps))  # a few late arrivals
                deleted = self.step(deleted)


def seed(db: str, *, seed: int = 7, apps: int = 36, operations: int = 900, force: bool = False) -> Demo:
    """Write the demonstration history into a fresh database file."""
    if os.path.exists(db):
        if not force:
            raise FileExistsError(f"{db} exists (use --force to replace it)")
        for suffix in ("", "-wal", "-shm", ".key", ".audit.sqlite", ".audit.sqlite-wal", ".audit.sqlite-shm"):
            if os.path.exists(db + suffix):
                os.unlink(db + suffix)
    ledger = open_ledger(db)
    try:
        demo = Demo(ledger, seed)
        demo.play(apps, operations)
    finally:
        ledger.close()
    return demo


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write a seeded demonstration history into a fresh ledger database.")
    p.add_argument("--db", required=True, metavar="PATH")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--apps", type=int, default=36, help="apps at the start (default 36)")
    p.add_argument("--operations", type=int, default=900, help="operations over the year (default 900)")
    p.add_argument("--force", action="store_true", help="replace an existing database")
    a = p.parse_args(argv)
    try:
        demo = seed(a.db, seed=a.seed, apps=a.apps, operations=a.operations, force=a.force)
    except FileExistsError as e:
        sys.stderr.write(f"seed_demo: error: {e}\n")
        return 2
    print(f"seeded {a.db}: {len(demo.apis)} APIs, {len(demo.apps)} apps, {demo.events} events, "
          f"{START.date()} to {iso(demo.now)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
