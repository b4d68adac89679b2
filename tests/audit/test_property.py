"""The temporal index agrees with brute force: replay up to T into a fresh AuthIndex, ask check()."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.bootstrap import open_ledger
from projections import intervals as iv
from projections.auth_index import AuthIndex
from projections.events import read
from projections.log import log_for
from projections.temporal import from_micros, to_micros
from projections.temporal_queries import AuditQueries, ExportEvents
from projections.temporal_store import TemporalStore
from tests.audit.histories import STAGES, Driver, histories
from tests.conftest import TEST_KEY


def credentials_and_instants(ledger):
    """Every credential that ever existed, and every instant where something changed (µs)."""
    creds: set[tuple[str, str]] = set()
    instants: set[int] = set()
    for _pos, _topic, _oid, s in read(log_for(ledger)):
        instants.add(to_micros(s["timestamp"]))
        if s.get("until") is not None:
            instants.add(to_micros(s["until"]))
        for f in ("app_key", "new_app_key"):
            if f in s and "app_id" not in s:  # not the claim
                creds.add(("app_key", s[f]))
        for f in ("code_hash", "new_code_hash"):
            if f in s and "app_id" not in s:
                creds.add(("app_code_hash", s[f]))
    return sorted(creds), instants


def index_of(ledger) -> AuditQueries:
    store = TemporalStore(":memory:")
    store.catch_up(log_for(ledger))
    return AuditQueries(store, ExportEvents([]))


@settings(max_examples=150, deadline=None)
@given(history=histories, extra=st.lists(st.integers(-5_000_000, 400_000_000), max_size=5),
       cut=st.tuples(st.integers(0, 10**9), st.integers(1, 10**9)))
def test_temporal_answers_equal_brute_force_at_every_boundary(history, extra, cut):
    ledger = open_ledger(":memory:", key=TEST_KEY)
    d = Driver(ledger)
    d.setup()
    d.play(history)
    creds, instants = credentials_and_instants(ledger)
    q = index_of(ledger)
    base = to_micros(d.now)
    points = set(instants) | {t - 1 for t in instants} | {t + 1 for t in instants} | {base + e for e in extra}
    # Windows: the whole history, so every interval is complete.
    lo, hi = min(points) - 1, max(points) + 10**12
    windows = {}
    for api in d.apis:
        for r in q.who_could_call_between(api, lo, hi):
            windows.setdefault((r["credential_id"], api, r["stage"]), []).append((r["start"], r["end"]))
    # A sub-window gives the whole-history intervals clipped to it, with the same causes.
    wlo = min(points) + cut[0] % (max(points) - min(points) + 2)
    whi = wlo + cut[1]
    for api in d.apis:
        full = q.who_could_call_between(api, lo, hi)
        want = [(r["credential_id"], r["stage"], max(r["start"], wlo), min(r["end"], whi), r["start"] < wlo,
                 r["end_clipped"] or r["end"] > whi, r["start_cause"], r["end_cause"])
                for r in full if r["start"] < whi and r["end"] > wlo]
        got = [(r["credential_id"], r["stage"], r["start"], r["end"], r["start_clipped"], r["end_clipped"],
                r["start_cause"], r["end_cause"]) for r in q.who_could_call_between(api, wlo, whi)]
        assert got == want
    for t in sorted(points):
        at: datetime = from_micros(t)
        brute = AuthIndex.build(ledger, until_time=at)
        for api in d.apis:
            expected_who = set()
            for kind, cred in creds:
                for stage in STAGES:
                    allowed = brute.check(cred, api, stage, at=at, kind=kind).allowed
                    got = q.could_call(cred, api, stage, t, kind=kind)
                    assert got == allowed, (kind, cred, api, stage, at, brute.check(cred, api, stage, at=at, kind=kind))
                    in_window = any(s <= t < (e if e is not None else iv.INF)
                                    for s, e in windows.get((cred, api, stage), []))
                    assert in_window == allowed, ("window", kind, cred, api, stage, at)
                    if allowed:
                        expected_who.add((cred, stage))
            who = {(r["credential_id"], r["stage"]) for r in q.who_could_call_at(api, t)}
            assert who == expected_who, (api, at)
    ledger.close()
