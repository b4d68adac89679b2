"""Benchmark section "lists": the /v1 list pages at 10,000 apps and 50,000 grants (issue 15.3).

Each figure is the server-side time of one GET answered by the admin app in-process
(Starlette's TestClient: no socket, so client overhead is in the figure too — an upper
bound), median and p99 over the repeats, the catalog index already caught up. Next to
them, in the same run, the floor they replace: the unpaged ``GET /v1/apps`` as it was
answered before paging (``ledger.catalog.apps``: a scan of the log, every app loaded and
rendered), for an auditor (every app) and for one owner (~100 apps). Goal: < 100 ms.

    python -m scripts.bench.lists [--quick]
"""

from __future__ import annotations

import random
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from scripts.bench.common import KEY, Row, cached_ledger

SECTION = "lists"
ROOT = Path(__file__).resolve().parents[2]
GOAL_MS = 100.0
STAGES = ("RELEASE", "PRE", "TEST")
OWNERS = 97


def sizes(quick: bool) -> dict[str, int]:
    d = 10 if quick else 1
    return {"apps": 10_000 // d, "apis": 1_000 // d, "grants_per_app": 5}


def _generate(ledger: Any, s: dict[str, int]) -> dict[str, Any]:
    from ledger import crypto
    from ledger.domain import Acting, Api, App, AppKeyClaim, acting

    rng = random.Random(15)
    acting.set(Acting("bench", "import"))
    apis = [Api(owner="provider", name=f"api{i}", group="g", auth_type="APP", appcode_mode="HEADER",
                signature_methods=("HmacSHA256",), nonce_required=True, http_method=None, path_pattern=None)
            for i in range(s["apis"])]
    ledger.save(*apis)
    api_ids = [str(a.id) for a in apis]
    batch: list[Any] = []
    first: dict[str, str] = {}
    for i in range(s["apps"]):
        owner = f"acct{i % OWNERS}"
        app = App(owner=owner, name=f"app{i:05d}", description="", tags={"env": ("prod", "dev", "test")[i % 3]},
                  extension="")
        key = f"lkey{i:05d}"
        app.add_key_pair(key, ledger.box.seal("secret-" + key, crypto.keypair_context(str(app.id))))
        batch.append(AppKeyClaim(app_key=key, app_id=str(app.id)))
        for api, stage in rng.sample([(a, st) for a in rng.sample(api_ids, 3) for st in STAGES[:2]],
                                     s["grants_per_app"]):
            app.grant(api, stage, None)
        first.setdefault(owner, str(app.id))
        batch.append(app)
        if len(batch) >= 2000:
            ledger.save(*batch)
            batch = []
    ledger.save(*batch)
    return {"apps": s["apps"], "grants": s["apps"] * s["grants_per_app"], "app_of_acct1": first["acct1"],
            "api": api_ids[0], "events": ledger.recorder.max_notification_id()}


def _timed(fn: Any, repeats: int) -> tuple[float, float]:
    """(median, p99) in ms."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def run(quick: bool) -> list[Row]:
    from ledger.bootstrap import open_ledger
    from ledger.tokens import issue_token

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    from authledger.service.app import create_app

    s = sizes(quick)
    path, info = cached_ledger(f"lists-{s['apps']}apps-{s['apps'] * s['grants_per_app']}grants",
                               lambda ledger: _generate(ledger, s))
    ledger = open_ledger(str(path), key=KEY)
    rows: list[Row] = []
    try:
        auditor = issue_token(ledger, "bench-audit", "bench", role="auditor").revealed["token"]
        owner = issue_token(ledger, "acct1", "bench").revealed["token"]
        app = create_app(ledger, access_log=False, follow=False)
        service = app.state.service
        client = TestClient(app, raise_server_exceptions=True)
        t0 = time.perf_counter()
        service.catalog_now()
        cold = (time.perf_counter() - t0) * 1000
        n = f"{info['apps']:,} apps, {info['grants']:,} grants"

        def get(token: str, url: str, **params: Any) -> Any:
            def call() -> None:
                r = client.get(url, params=params, headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 200, r.text

            return call

        # The floor: the unpaged /v1/apps as it was (scan the log, load and render every app).
        from authledger.service.command_handlers import _app_view
        from authledger.service.operations import Call
        from ledger import catalog
        from ledger.tokens import principal_for_token

        def old_list(token: str, who: str | None) -> Any:
            principal = principal_for_token(ledger, token)

            def call() -> None:
                c = Call(service, principal.account, {}, {}, {}, principal)
                [_app_view(c, a) for a in catalog.apps(ledger, who)]

            return call

        old_all, _ = _timed(old_list(auditor, None), 1 if not quick else 3)
        old_own, old_own_p99 = _timed(old_list(owner, "acct1"), 5)
        repeats = 60 if not quick else 30
        cases = [
            ("first page /v1/apps, auditor (limit 100)", get(auditor, "/v1/apps"), "unpaged /v1/apps, auditor", old_all),
            ("first page /v1/apps, owner of ~100", get(owner, "/v1/apps"), "unpaged /v1/apps, that owner", old_own),
            ("/v1/apps?name= (rare, scans every name)", get(auditor, "/v1/apps", name="app0999"),
             "unpaged /v1/apps, auditor", old_all),
            ("/v1/apps?tag=env=prod, auditor", get(auditor, "/v1/apps", tag="env=prod"),
             "unpaged /v1/apps, auditor", old_all),
            ("/v1/apps?app_key=", get(auditor, "/v1/apps", app_key="lkey00042"), "unpaged /v1/apps, auditor",
             old_all),
            ("/v1/grants?app_id= (owner)", get(owner, "/v1/grants", app_id=info["app_of_acct1"]),
             "unpaged /v1/apps, that owner", old_own),
            ("first page /v1/grants, auditor", get(auditor, "/v1/grants"), "unpaged /v1/apps, auditor", old_all),
            ("/v1/grants?api_id=, auditor", get(auditor, "/v1/grants", api_id=info["api"]),
             "unpaged /v1/apps, auditor", old_all),
        ]
        for metric, fn, peer, peer_value in cases:
            fn()  # warm
            med, p99 = _timed(fn, repeats)
            rows.append(Row(SECTION, f"{metric}: median ({n})", med, "ms", peer, peer_value,
                            f"< {GOAL_MS:g} ms", med < GOAL_MS))
            rows.append(Row(SECTION, f"{metric}: p99", p99, "ms", "", None, f"< {GOAL_MS:g} ms", p99 < GOAL_MS))
        rows.append(Row(SECTION, f"catalog index built from the log ({info['events']:,} events), once", cold, "ms"))
        rows.append(Row(SECTION, "unpaged /v1/apps (before paging), one owner: p99", old_own_p99, "ms"))
        client.close()
        service.close()
    finally:
        ledger.close()
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    for r in run("--quick" in sys.argv):
        peer = f"  | {r.peer}: {r.peer_value:,.1f}  ratio {r.ratio:,.3f}x" if r.peer_value else ""
        goal = f"  | goal {r.goal}: {'met' if r.met else 'NOT met'}" if r.goal else ""
        print(f"{r.metric}: {r.value:,.2f} {r.unit}{peer}{goal}")
