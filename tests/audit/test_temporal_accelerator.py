"""The C rows of the audit builder (projections._temporal) against the Python reference (fast_apply_python).

Hypothesis writes random histories (grants given, renewed, revoked; apps disabled, enabled;
key pairs and AppCodes reset; and the topics C leaves to Python) as raw log rows — real encodings (ledger.transcoder)
and hand-made ones (every width of str, int, map header and timestamp, non-canonical forms),
then hostile ones: truncated or extended bytes, flipped bytes, wrong types, extra, missing
or repeated keys, huge ints, invalid UTF-8, other ext types, timestamps with nanoseconds out
of range, other topics, apps unknown or only in the stored index (the loader), ids not in
the uuids cache, non-bytes states. Two builders start equal; one applies the batches with
``fast_apply`` (C, handing back every row it does not take), the other with the reference:
they must end in exactly the same state (apps and their periods, new periods, ended
periods, position, horizon; compared by ``repr``, so 1 and True or 1.0 differ) or raise the
same exception after the same changes. Nothing leaks; the module must be built;
and the whole tests/audit suite passes again with the accelerator switched off.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ledger.transcoder import pack
from projections import temporal, temporal_accel
from projections.temporal import (
    PREFIX,
    AppState,
    CredPeriod,
    GrantPeriod,
    Period,
    TemporalBuilder,
    UuidCache,
    hex_to_uuid,
)
from tests.accelerated import (
    assert_built,
    assert_suite_passes_pure,
    memory_growth,
    pure_python,
)

native = pytest.mark.skipif(not temporal_accel.ACCELERATED,
                            reason="the C grant rows are not in use: this run is the pure-Python one")

# Apps: created by an event of the history, only in the stored index (the loader's), unknown.
CREATED = [f"{i:032x}" for i in range(1, 4)]
STORED = [f"{i:032x}" for i in range(0xA1, 0xA4)]
UNKNOWN = [f"{0xEE:032x}", "not-hex", "zz" * 16]
APIS = ["api-1", "api-2", "apí-3"]
STAGES = ["RELEASE", "PRE", "TEST"]
KEYS = ["k1", "k2", "ключ"]
CODES = ["h1", "h2", "хэш"]  # AppCode hashes (the loader's apps hold the first two)
HINTS = ["ab12", "", "é9", "****"]
GIVEN, CHANGED = PREFIX + "GrantGiven", PREFIX + "GrantEndChanged"


def loader(app_id: str) -> AppState | None:
    """The stored index's apps, with periods already written (ids): the first enabled, the
    second disabled, the third deleted; each with grants and key periods."""
    for n, h in enumerate(STORED):
        if hex_to_uuid(h) == app_id:
            app = AppState(app_id, "owner", 10, 1)
            app.dirty = False
            if n == 0:
                app.enabled = Period(app_id, 10, 1, id=100 + n)
            elif n == 2:
                app.deleted, app.deleted_pos = 20, 2
            for k, (api, stage) in enumerate([("api-1", "RELEASE"), ("api-2", "PRE")]):
                app.grants[(api, stage)] = GrantPeriod(app_id, api, stage, 5_000 + k, 10, 1, id=200 + 10 * n + k)
            for k, key in enumerate(KEYS[:2]):
                app.creds[key] = CredPeriod(app_id, key, "app_key", key, 10, 1, id=300 + 10 * n + k)
            for k, code in enumerate(CODES[:2]):
                app.creds[code] = CredPeriod(app_id, code, "app_code", "****zz", 10, 1, id=400 + 10 * n + k)
            return app
    return None


# -- msgpack, written by hand (every width, canonical or not) -------------------------------------

def m_str(b: bytes, width: int) -> bytes:
    """A str of ``b`` (any bytes: invalid UTF-8 too) in the smallest form that fits, or wider."""
    n = len(b)
    forms = [(n < 32, bytes([0xA0 | n])), (n < 256, b"\xd9" + struct.pack(">B", n)),
             (n < 65536, b"\xda" + struct.pack(">H", n)), (True, b"\xdb" + struct.pack(">I", n))]
    fitting = [h for ok, h in forms if ok]
    return fitting[min(width, len(fitting) - 1)] + b


def m_int(v: int, width: int) -> bytes:
    """An int in one of the forms that can hold it (the smallest, or a wider one)."""
    forms: list[bytes] = []
    if 0 <= v <= 0x7F:
        forms.append(bytes([v]))
    if -32 <= v < 0:
        forms.append(struct.pack(">b", v))
    for code, fmt, lo, hi in ((0xCC, ">B", 0, 2**8), (0xCD, ">H", 0, 2**16), (0xCE, ">I", 0, 2**32),
                              (0xCF, ">Q", 0, 2**64), (0xD0, ">b", -2**7, 2**7), (0xD1, ">h", -2**15, 2**15),
                              (0xD2, ">i", -2**31, 2**31), (0xD3, ">q", -2**63, 2**63)):
        if lo <= v < hi:
            forms.append(bytes([code]) + struct.pack(fmt, v))
    return forms[min(width, len(forms) - 1)]


def m_ts(sec: int, nsec: int, form: str) -> bytes:
    """A msgpack timestamp (ext -1) in the 32, 64 or 96-bit layout, in a fixext or an ext container."""
    if form == "32":
        body = struct.pack(">I", sec % 2**32)
    elif form == "64":
        body = struct.pack(">Q", ((nsec % 2**30) << 34) | (sec % 2**34))
    else:
        body = struct.pack(">Iq", nsec % 2**32, max(-2**63, min(2**63 - 1, sec)))
    return _ext(-1, body)


def _ext(code: int, body: bytes, wide: bool = False) -> bytes:
    n, t = len(body), struct.pack(">b", code)
    fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
    if n in fixed and not wide:
        return bytes([fixed[n]]) + t + body
    if n < 256 and not (wide and n % 2):
        return b"\xc7" + struct.pack(">B", n) + t + body
    if n % 3 == 0:
        return b"\xc9" + struct.pack(">I", n) + t + body
    return b"\xc8" + struct.pack(">H", n) + t + body


def m_map(pairs: list[tuple[bytes, bytes]], width: int) -> bytes:
    n = len(pairs)
    head = [bytes([0x80 | n]) if n < 16 else None, b"\xde" + struct.pack(">H", n), b"\xdf" + struct.pack(">I", n)]
    heads = [h for h in head if h is not None]
    return heads[min(width, len(heads) - 1)] + b"".join(k + v for k, v in pairs)


# -- strategies ------------------------------------------------------------------------------------

widths = st.integers(0, 3)
seconds = st.one_of(st.integers(0, 2**32 - 1), st.integers(-2**40, 2**40), st.sampled_from(
    [0, 1, 2**32 - 1, 2**32, 2**34 - 1, 2**34, -1, -62135596800, 253402300799, 9_000_000_000_000,
     9_000_000_000_001, -9_000_000_000_000, -9_000_000_000_001, 2**63 - 1, -2**63]))
nanos = st.one_of(st.integers(0, 999_999_999), st.sampled_from([0, 999, 1000, 999_999_999, 10**9, 2**30 - 1, 2**32 - 1]))
ts_value = st.builds(m_ts, seconds, nanos, st.sampled_from(["32", "64", "96"]))
huge = st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, -2**63, -2**63 + 1, -1, -999, -1000, -1001, 999, 1000, 1001])
int_value = st.builds(m_int, st.one_of(st.integers(-2**63, 2**64 - 1), huge, st.integers(-40, 300)), widths)
odd_text = st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"a\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf",
                            "é".encode(), "ключ".encode(), b"x" * 40])
text_value = st.builds(m_str, st.integers(0, 9).flatmap(lambda n: st.text(max_size=6).map(str.encode) if n < 8
                                                        else odd_text), widths)
other_value = st.sampled_from([b"\xc0", b"\xc2", b"\xc3", b"\xca\x00\x00\x00\x00", b"\xcb" + struct.pack(">d", 1.5),
                               b"\xc4\x01x", b"\x90", b"\x91\x01", b"\x80", b"\xc1", _ext(1, bytes(16)),
                               _ext(2, struct.pack(">q", 1_700_000_000_000_000)), _ext(3, b"\x90"), _ext(-1, b"\x00"),
                               _ext(-1, bytes(16)), _ext(-1, bytes(4), wide=True), _ext(-1, bytes(12), wide=True),
                               _ext(5, bytes(8))])
any_value = st.one_of(ts_value, int_value, text_value, other_value)
ids = st.sampled_from(APIS).map(str.encode)
stages = st.sampled_from(STAGES).map(str.encode)


def m_bin(b: bytes, width: int) -> bytes:
    n = len(b)
    forms = [(n < 256, b"\xc4" + struct.pack(">B", n)), (n < 65536, b"\xc5" + struct.pack(">H", n)),
             (True, b"\xc6" + struct.pack(">I", n))]
    fitting = [h for ok, h in forms if ok]
    return fitting[min(width, len(fitting) - 1)] + b


EVENT = ("timestamp", "actor", "source")
FIELDS = {  # the keys of each topic's state the C path takes
    "GrantGiven": (*EVENT, "api_id", "stage", "until"),
    "GrantEndChanged": (*EVENT, "api_id", "stage", "until"),
    "GrantRevoked": (*EVENT, "api_id", "stage", "role"),
    "AppDisabled": EVENT,
    "AppEnabled": EVENT,
    "KeyPairReset": (*EVENT, "app_key", "new_app_key", "secret_sealed"),
    "AppCodeReset": (*EVENT, "code_hash", "new_code_hash", "code_sealed", "hint"),
}
usual = {  # each key's value as the ledger writes it, in any msgpack width
    "timestamp": st.one_of(ts_value, ts_value, int_value),
    "actor": text_value, "source": text_value, "role": text_value,
    "api_id": st.builds(m_str, ids, widths), "stage": st.builds(m_str, stages, widths),
    "until": st.one_of(st.just(b"\xc0"), ts_value, int_value),
    "app_key": st.builds(m_str, st.sampled_from([*KEYS[:2], *KEYS]).map(str.encode), widths),
    "new_app_key": st.builds(m_str, st.sampled_from([*KEYS[:2], *KEYS]).map(str.encode), widths),
    "secret_sealed": st.builds(m_bin, st.binary(max_size=40), widths),
    # the old hash one the app holds, or not (also an AppKey's name: another credential), the new one likewise
    "code_hash": st.builds(m_str, st.sampled_from([*CODES[:2], *CODES, "k1"]).map(str.encode), widths),
    "new_code_hash": st.builds(m_str, st.sampled_from([*CODES[:2], *CODES, "k2"]).map(str.encode), widths),
    "code_sealed": st.builds(m_bin, st.binary(max_size=40), widths),
    "hint": st.one_of(st.builds(m_str, st.sampled_from(HINTS).map(str.encode), widths), text_value),
}


@st.composite
def state_of(draw: Any, topic: str) -> bytes:
    """A state of ``topic``: mostly what the ledger writes, otherwise odd encodings or hostile values."""
    kind = draw(st.integers(0, 9))
    if kind < 5:  # the ledger's own encoding
        from datetime import UTC, datetime, timedelta

        t = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=draw(st.integers(-10**15, 10**15)))
        until = draw(st.one_of(st.none(), st.just(t + timedelta(days=3)),
                               st.just(datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=UTC))))
        values = {"timestamp": t, "actor": "acct1", "source": "cli", "api_id": draw(st.sampled_from(APIS)),
                  "stage": draw(st.sampled_from(STAGES)), "until": until, "role": "provider",
                  "app_key": draw(st.sampled_from([*KEYS[:2], *KEYS])),
                  "new_app_key": draw(st.sampled_from([*KEYS[:2], *KEYS])),
                  "secret_sealed": b"\x01sealed", "code_hash": draw(st.sampled_from([*CODES[:2], *CODES])),
                  "new_code_hash": draw(st.sampled_from([*CODES[:2], *CODES])), "code_sealed": b"\x02sealed",
                  "hint": draw(st.sampled_from(HINTS))}
        state = {k: values[k] for k in FIELDS[topic]}
        if topic == "GrantGiven" and draw(st.booleans()):  # version 2 (ledger.domain): two more keys
            state["description"] = draw(st.sampled_from([None, "nightly sync", "ünïcode ✓", ""]))
            state["class_version"] = 2
        return pack(state)
    pairs = {k.encode(): draw(usual[k] if kind < 9 else st.one_of(usual[k], any_value)) for k in FIELDS[topic]}
    items = [(m_str(k, draw(widths)), v) for k, v in pairs.items()]
    items = draw(st.permutations(items))
    change = draw(st.sampled_from(["none"] * 10 + ["drop", "extra", "repeat", "rename", "bin_key"]))
    if change == "drop":
        items.pop(draw(st.integers(0, len(items) - 1)))
    elif change == "extra":
        items.append((m_str(draw(st.sampled_from([b"role", b"until", b"app_key", b"hint", b"code_hash", b"timestamp2",
                                                  b"", b"description", b"class_version"])), 0),
                      draw(any_value)))
    elif change == "repeat":
        items.append(draw(st.sampled_from(items)))
    elif change == "rename":
        i = draw(st.integers(0, len(items) - 1))
        items[i] = (m_str(b"Stage", 0), items[i][1])
    elif change == "bin_key":
        i = draw(st.integers(0, len(items) - 1))
        items[i] = (b"\xc4\x05stage", items[i][1])
    return m_map(items, draw(widths))


@st.composite
def damaged(draw: Any, data: bytes) -> bytes:
    how = draw(st.sampled_from(["as is"] * 15 + ["truncate", "append", "flip", "random", "header"]))
    if how == "truncate":
        return data[:draw(st.integers(0, max(0, len(data) - 1)))]
    if how == "append":
        return data + draw(st.binary(min_size=1, max_size=3))
    if how == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1:]
    if how == "random":
        return draw(st.binary(max_size=40))
    if how == "header" and data:  # the map's count claims a huge number of entries
        return b"\xdf\xff\xff\xff\xff" + data[1:]
    return data


other_state = st.sampled_from([  # topics Python applies (or ignores)
    ("AppCreated", {"owner": "o", "name": "n", "description": "", "tags": {}, "extension": ""}),
    ("KeyPairAdded", {"app_key": "k1", "secret_sealed": b"s"}),
    ("KeyPairAdded", {"app_key": "k2", "secret_sealed": b"s"}),
    ("KeyPairDeleted", {"app_key": "k1"}),
    ("AppCodeAdded", {"code_hash": "h1", "code_sealed": b"s", "hint": "cd34"}),
    ("AppCodeAdded", {"code_hash": "хэш", "code_sealed": b"s", "hint": "é"}),
    ("AppCodeDeleted", {"code_hash": "h2"}),
    ("AppDeleted", {}),
    ("TokenIssued", {"account": "a"}),
    ("AppKeyClaimed", {"app_id": "x"}),
    ("NoSuchEvent", {}),
])


@st.composite
def row(draw: Any, pos: int) -> tuple[Any, ...]:
    oid = draw(st.integers(0, 19).flatmap(lambda n: st.sampled_from(STORED if n < 10 else CREATED if n < 19 else UNKNOWN)))
    if draw(st.integers(0, 19)) < 18:
        name = draw(st.sampled_from(["GrantGiven", "GrantEndChanged", "GrantGiven", "GrantRevoked", "AppDisabled",
                                     "AppEnabled", "KeyPairReset", "AppCodeReset", "AppCodeReset"]))
        topic, data = PREFIX + name, draw(damaged(draw(state_of(name))))
    else:
        name, fields = draw(other_state)
        from datetime import UTC, datetime

        topic, data = PREFIX + name, pack({"timestamp": datetime(2026, 1, 2, tzinfo=UTC), "actor": "a", "source": "s",
                                           **fields})
    odd = draw(st.integers(0, 99))
    if odd == 0:
        data = data.hex()  # a state that is not bytes
    elif odd == 1:
        topic = topic.encode()
    elif odd == 2:
        return (pos, oid, 1, topic)  # a short row
    elif odd == 3:
        return (float(pos), oid, 1, topic, data)  # a position that is not an int
    return (pos, oid, 1, topic, data)


@st.composite
def histories(draw: Any) -> list[list[tuple[Any, ...]]]:
    """Batches of rows: first the apps of CREATED created, then grants and the rest."""
    from datetime import UTC, datetime

    first = [(i + 1, h, 1, PREFIX + "AppCreated",
              pack({"timestamp": datetime(2026, 1, 1, tzinfo=UTC), "actor": "a", "source": "s", "owner": "o",
                    "name": f"app{i}", "description": "", "tags": {}, "extension": ""}))
             for i, h in enumerate(CREATED)]
    rows = []
    for pos in range(len(first) + 1, len(first) + 1 + draw(st.integers(1, 60))):
        rows.append(draw(row(pos)))
    cuts = sorted(draw(st.lists(st.integers(0, len(rows)), max_size=3)))
    batches, prev = [first], 0
    for c in [*cuts, len(rows)]:
        batches.append(rows[prev:c])
        prev = c
    return batches


# -- the comparison ------------------------------------------------------------------------------

def state(b: TemporalBuilder) -> str:
    apps = {k: (a.app_id, a.owner, a.created, a.created_pos, a.deleted, a.deleted_pos, a.dirty, a.enabled,
                a.creds, list(a.grants.items())) for k, a in b.apps.items()}
    return repr((apps, b.new_enabled, b.new_creds, b.new_grants, b.ended, b.new_apis, b.new_names,
                 b.position, b.horizon))


def run(batches: list[list[tuple[Any, ...]]], *, accelerated: bool, seed_uuids: bool) -> tuple[str, list[Any]]:
    """Apply the batches; after an exception, go on with the rows after the one that raised
    (the first one past the builder's position), so one bad row does not end the story."""
    b = TemporalBuilder(loader)
    uuids = UuidCache()
    if seed_uuids:
        for h in CREATED + STORED:
            uuids[h]
    outcomes: list[Any] = []
    for batch in batches:
        rest = list(batch)
        while True:
            try:
                (b.fast_apply if accelerated else b.fast_apply_python)(rest, uuids)
                outcomes.append("ok")
                break
            except Exception as e:  # noqa: BLE001 - the same exception is the point
                outcomes.append((type(e), str(e)))
                k = next(k for k, r in enumerate(rest) if r[0] > b.position)
                rest = rest[k + 1:]
            finally:
                outcomes.append(state(b))
    return state(b), outcomes


@native
@settings(max_examples=600, deadline=None)
@given(batches=histories(), seed_uuids=st.booleans())
def test_the_c_rows_end_in_the_reference_state(batches: list[list[tuple[Any, ...]]], seed_uuids: bool) -> None:
    reference = run(batches, accelerated=False, seed_uuids=seed_uuids)
    assert run(batches, accelerated=True, seed_uuids=seed_uuids) == reference
    raised = sum(isinstance(o, tuple) for o in reference[1])
    event(f"exceptions: {min(raised, 3)}{'+' if raised > 3 else ''}")


# -- direct checks of the decoder ---------------------------------------------------------------------

def _builder_with_app() -> tuple[TemporalBuilder, UuidCache, str]:
    b = TemporalBuilder(loader)
    uuids = UuidCache()
    app_id = uuids[STORED[0]]
    b.apps[app_id] = loader(app_id)  # type: ignore[assignment]
    return b, uuids, app_id


def _grant(pos: int, data: bytes, topic: str = GIVEN) -> tuple[Any, ...]:
    return (pos, STORED[0], pos, topic, data)


def _pairs(timestamp: bytes, until: bytes = b"\xc0", api: bytes = m_str(b"api-1", 0),
           stage: bytes = m_str(b"RELEASE", 0)) -> bytes:
    return m_map([(m_str(b"timestamp", 0), timestamp), (m_str(b"actor", 0), m_str(b"a", 0)),
                  (m_str(b"source", 0), m_str(b"s", 0)), (m_str(b"api_id", 0), api),
                  (m_str(b"stage", 0), stage), (m_str(b"until", 0), until)], 0)


TAKEN = [
    m_ts(1_700_000_000, 0, "32"), m_ts(1_700_000_000, 999_999_999, "64"), m_ts(2**34 - 1, 123_456_789, "64"),
    m_ts(-1, 1, "96"), m_ts(-62_135_596_800, 999_999, "96"), m_ts(9_000_000_000_000, 999_999_999, "96"),
    m_ts(-9_000_000_000_000, 0, "96"), m_int(0, 0), m_int(-1, 0), m_int(-1001, 3), m_int(2**64 - 1, 0),
    m_int(-2**63, 0), m_int(2**63 - 1, 0), _ext(-1, struct.pack(">I", 7), wide=True),
]
LEFT = [  # rows the C path hands back (Python decides: a value, or an exception)
    m_ts(9_000_000_000_001, 0, "96"), m_ts(-9_000_000_000_001, 0, "96"), m_ts(5, 10**9, "96"), m_ts(5, 10**9, "64"),
    b"\xc3", b"\xcb" + struct.pack(">d", 1.0), m_str(b"1", 0), _ext(2, struct.pack(">q", 5)), _ext(-1, bytes(16)),
]


@native
@pytest.mark.parametrize("ts", TAKEN, ids=lambda b: b.hex())
def test_the_c_path_takes_every_timestamp_form_and_converts_it_as_msgpack_does(ts: bytes) -> None:
    data = _pairs(ts, until=ts)
    b, uuids, app_id = _builder_with_app()
    assert temporal_accel.native.grant_rows(b, [_grant(7, data)], 0, uuids, AppState) == 1
    ns = msgpack.unpackb(data, timestamp=2)["timestamp"]
    p = b.apps[app_id].grants[("api-1", "RELEASE")]
    assert p == [None, app_id, "api-1", "RELEASE", ns // 1000, ns // 1000, None, 7, None]
    assert b.horizon == ns // 1000 and b.position == 7
    assert b.ended["grant_periods"] == [(ns // 1000, 7, 200)]
    assert b.new_grants == [p]


@native
@pytest.mark.parametrize("ts", LEFT, ids=lambda b: b.hex())
def test_the_c_path_hands_back_what_it_does_not_take(ts: bytes) -> None:
    b, uuids, _ = _builder_with_app()
    before = state(b)
    assert temporal_accel.native.grant_rows(b, [_grant(7, _pairs(ts))], 0, uuids, AppState) == 0
    assert state(b) == before


def _usual_rows(n: int) -> list[tuple[Any, ...]]:
    """Rows of every topic the C path takes, as the ledger writes them (one app)."""
    from datetime import UTC, datetime, timedelta

    t = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(1, n):
        name = ("GrantGiven", "GrantEndChanged", "GrantEndChanged", "GrantRevoked", "AppDisabled", "AppEnabled",
                "KeyPairReset", "KeyPairReset", "AppKeyClaimed", "AppCodeReset", "AppCodeReset")[i % 11]
        values = {"timestamp": t + timedelta(seconds=i), "actor": "acct1", "source": "cli", "api_id": APIS[i % 2],
                  "stage": STAGES[i % 3], "until": None if i % 4 else t, "role": "provider",
                  "app_key": KEYS[i % 2], "new_app_key": KEYS[(i // 9) % 2], "secret_sealed": b"\x01sealed",
                  "code_hash": CODES[i % 3], "new_code_hash": CODES[(i // 11) % 3], "code_sealed": b"\x02sealed",
                  "hint": HINTS[i % 4]}
        out.append(_grant(i, pack({k: values[k] for k in FIELDS.get(name, EVENT)}), PREFIX + name))
    return out


@native
def test_the_usual_rows_are_taken_whole() -> None:
    """The usual rows never leave C (else the accelerator would accelerate nothing)."""
    b, uuids, app_id = _builder_with_app()
    batch = _usual_rows(400)
    assert temporal_accel.native.grant_rows(b, batch, 0, uuids, AppState) == len(batch)
    c = TemporalBuilder(loader)
    c.apps[app_id] = loader(app_id)  # type: ignore[assignment]
    c.fast_apply_python(batch, UuidCache())
    assert state(b) == state(c)
    assert b.ended["grant_periods"] and b.ended["cred_periods"] and b.ended["enabled_periods"]


@native
def test_a_version_2_grant_given_is_taken_in_c_as_the_reference_applies_it() -> None:
    """GrantGiven version 2 adds description and class_version (unread by the handler): such
    rows stay in C, one of them short of a required key does not."""
    from datetime import UTC, datetime, timedelta

    t = datetime(2026, 1, 1, tzinfo=UTC)
    base = {"timestamp": t, "actor": "a", "source": "s", "api_id": APIS[0], "stage": "RELEASE", "until": None}
    batch = [_grant(7, pack({**base, "description": "nightly sync", "class_version": 2})),
             _grant(8, pack({**base, "stage": "PRE", "description": None, "class_version": 2})),
             _grant(9, pack({**base, "stage": "TEST", "timestamp": t + timedelta(seconds=1)}))]
    b, uuids, app_id = _builder_with_app()
    assert temporal_accel.native.grant_rows(b, batch, 0, uuids, AppState) == len(batch)
    c = TemporalBuilder(loader)
    c.apps[app_id] = loader(app_id)  # type: ignore[assignment]
    c.fast_apply_python(batch, UuidCache())
    assert state(b) == state(c)
    short = {k: v for k, v in base.items() if k != "until"}
    b, uuids, _ = _builder_with_app()
    assert temporal_accel.native.grant_rows(b, [_grant(7, pack({**short, "description": "x", "class_version": 2}))],
                                            0, uuids, AppState) == 0


@native
def test_an_appcode_reset_is_applied_as_the_reference_does() -> None:
    """The old hash's period closed (its ended tuple when it was written), the new one opened
    with the masked hint; a reset to the same hash closes it once and opens it again."""
    from datetime import UTC, datetime

    t = datetime(2026, 1, 1, tzinfo=UTC)

    def reset(pos: int, old: str, new: str, hint: str) -> tuple[Any, ...]:
        return _grant(pos, pack({"timestamp": t, "actor": "a", "source": "s", "code_hash": old,
                                 "new_code_hash": new, "code_sealed": b"x", "hint": hint}), PREFIX + "AppCodeReset")

    batch = [reset(7, "h1", "h3", "ab12"), reset(8, "h2", "h2", "é9"), reset(9, "h3", "h1", "")]
    b, uuids, app_id = _builder_with_app()
    assert temporal_accel.native.grant_rows(b, batch, 0, uuids, AppState) == len(batch)
    us = (t - temporal.EPOCH) // temporal.timedelta(microseconds=1)
    assert b.ended["cred_periods"] == [(us, 7, 400), (us, 8, 401)]
    assert [p[2:5] for p in b.new_creds] == [["h3", "app_code", "****ab12"], ["h2", "app_code", "****é9"],
                                             ["h1", "app_code", "****"]]
    assert b.new_creds[0][6:] == [us, 7, 9]  # h3's period, closed by the third reset
    c = TemporalBuilder(loader)
    c.apps[app_id] = loader(app_id)  # type: ignore[assignment]
    c.fast_apply_python(batch, UuidCache())
    assert state(b) == state(c)


@native
def test_fast_apply_uses_the_c_path_and_the_environment_variable_forces_the_reference() -> None:
    assert temporal._native is temporal_accel.native
    code = "from projections import temporal_accel as a, temporal as t; print(a.ACCELERATED, t._native is None)"
    assert pure_python(code) == ["False", "True"]


def test_the_extension_is_built() -> None:
    assert_built("projections._temporal", temporal_accel.ACCELERATED)


@native
def test_the_audit_suite_passes_without_the_accelerator() -> None:
    assert_suite_passes_pure("audit")


# -- no leaks ------------------------------------------------------------------------------------

@native
def test_nothing_leaks() -> None:
    from datetime import UTC, datetime

    t = datetime(2026, 1, 1, tzinfo=UTC)
    good = [pack({"timestamp": t, "actor": "a", "source": "s", "api_id": api, "stage": stage, "until": u})
            for api in APIS for stage in STAGES for u in (None, t)]
    hostile = [_pairs(ts) for ts in LEFT] + [_pairs(m_ts(1, 2, "96"), api=m_str(b"\xff", 0)), b"\x86", b"",
                                              _pairs(m_ts(1, 2, "96")) + b"\x00", _pairs(m_ts(1, 2, "96"))[:-3]]
    rows = [_grant(i, d, (GIVEN, CHANGED)[i % 2]) for i, d in enumerate(good + hostile + good, 1)]
    rows += [(len(rows) + k, *r[1:]) for k, r in enumerate(_usual_rows(40), 1)]
    rows.append((len(rows) + 1, UNKNOWN[0], 1, GIVEN, good[0]))  # an unknown app: ValueError from Python

    def work() -> None:
        b, uuids, _ = _builder_with_app()
        try:
            b.fast_apply(rows, uuids)
        except ValueError:
            pass
        try:
            temporal_accel.native.grant_rows(b, rows, "x", uuids, AppState)  # type: ignore[arg-type]
        except TypeError:
            pass

    assert memory_growth(work, warm=50, rounds=3000) < 64_000  # a leaked object per row would be > 1 MB
