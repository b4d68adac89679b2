"""``ledger.isotime.iso``: the one spelling of an instant in every answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.core import Receipt
from ledger.isotime import iso
from projections.temporal import to_micros
from tests.instant_format import ONE_FORMAT


def test_utc_with_z_and_microseconds_only_when_there_are_some() -> None:
    assert iso(datetime(2026, 1, 31, 12, 0, tzinfo=UTC)) == "2026-01-31T12:00:00Z"
    assert iso(datetime(2026, 1, 31, 12, 0, 0, 250000, tzinfo=UTC)) == "2026-01-31T12:00:00.250000Z"
    assert iso(datetime(2026, 1, 31, 14, 0, tzinfo=timezone(timedelta(hours=2)))) == "2026-01-31T12:00:00Z"
    assert iso(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"
    assert iso(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == "9999-12-31T23:59:59.999999Z"
    assert iso(None) is None


def test_integer_microseconds_are_the_same_instant() -> None:
    assert iso(0) == "1970-01-01T00:00:00Z"
    assert iso(1_769_860_800_000_001) == "2026-01-31T12:00:00.000001Z"
    assert iso(-1) == "1969-12-31T23:59:59.999999Z"


@pytest.mark.parametrize("value", [datetime(2026, 1, 1), 1.5, True, "2026-01-01T00:00:00Z"])
def test_what_is_not_an_instant_is_refused(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        iso(value)  # type: ignore[arg-type]


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([UTC, ZoneInfo("America/Inuvik"), ZoneInfo("Asia/Kolkata")])))
def test_one_instant_one_string_from_any_zone_or_unit(at: datetime) -> None:
    s = iso(at)
    assert s is not None and ONE_FORMAT.fullmatch(s) and not s.endswith(".000000Z")
    assert iso(to_micros(at)) == s == iso(at.astimezone(UTC))
    assert datetime.fromisoformat(s) == at.astimezone(UTC)  # it reads back as the instant


def test_a_grant_receipt_recorded_in_the_old_spelling_replays_in_the_new_one() -> None:
    # Idempotency records keep the first answer's ids: before issue 17.4 a grant's said +00:00.
    old = Receipt(ids={"stage": "PRE", "until": "2030-01-01T00:00:00+00:00", "granted": []}, replayed=True,
                  timestamp=datetime(2026, 1, 1, tzinfo=UTC))
    d = old.to_dict()
    assert d["until"] == "2030-01-01T00:00:00Z" and d["timestamp"] == "2026-01-01T00:00:00Z"
    assert Receipt(ids={"until": None}).to_dict()["until"] is None
