"""One duration parser for every ``for`` (CLI ``--for`` and HTTP ``"for"``): ``45s``, ``90m``,
``12h``, ``30d``, ``2w`` — a positive whole number and a unit, at most 100 years — and one
reading of a grant's end (``grant_end``: ``until`` or ``for``, never both), shared by
``authledger grant`` and ``POST /v1/grants`` so both accept exactly the same forms."""

from __future__ import annotations

from datetime import datetime, timedelta

from ledger.errors import InvalidInput

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_SECONDS = 100 * 366 * 86400


def parse_duration(value: object, field: str = "for") -> timedelta:
    """The timedelta ``value`` names; ``InvalidInput`` (with ``field``) for anything else."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string such as 30d", field=field)
    text = value.strip()
    if len(text) < 2 or len(text) > 12 or text[-1] not in UNITS or not text[:-1].isascii() \
            or not text[:-1].isdigit():
        raise InvalidInput(f"{field} must be a number and a unit (s, m, h, d, w), got {text[:40]!r}", field=field)
    seconds = int(text[:-1]) * UNITS[text[-1]]
    if not 0 < seconds <= MAX_SECONDS:
        raise InvalidInput(f"{field} must be more than 0 and at most 100 years", field=field)
    return timedelta(seconds=seconds)


def grant_end(until: object, for_: object, now: datetime) -> object:
    """A grant's end as given: ``until`` (an ISO 8601 instant with a timezone, checked by the
    ledger's ``rules.aware_instant``), ``now + for``, or None (never ends); both is refused."""
    if for_ is None:
        return until
    if until is not None:
        raise InvalidInput("give until or for, not both", field="for")
    return now + parse_duration(for_)
