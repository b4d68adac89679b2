"""The one instant format of every answer, as the tests hold answers to it.

ISO 8601 in UTC with ``Z``, ``.ffffff`` only when the instant has microseconds: never an
offset like ``+00:00``, never a number of seconds or microseconds (issue 17.4). Written out
here rather than imported from ``ledger.isotime``, so a change there cannot move the bar.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

ONE_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?Z")
# Anything that starts like a date and a time is an instant, whatever key holds it.
LOOKS_LIKE_AN_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")
INSTANT_KEYS = {"at", "until", "grant_until", "timestamp", "start", "end", "from", "to", "since"}
# Epoch seconds (2001-2128) or microseconds (2001-2128) where no count or position gets.
_SECONDS, _MICROS = (10**9, 5 * 10**9), (10**15, 5 * 10**15)


def _instant_key(key: str) -> bool:
    return key in INSTANT_KEYS or key.endswith("_at") or key.endswith("_until")


def check_instants(doc: Any, where: str = "") -> Counter[str]:
    """Fail on any instant not in the one format; count the instants seen, by key."""
    seen: Counter[str] = Counter()

    def walk(value: Any, key: str, path: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k), f"{path}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, key, f"{path}[{i}]")
        elif isinstance(value, str):
            if _instant_key(key) or LOOKS_LIKE_AN_INSTANT.match(value):
                assert ONE_FORMAT.fullmatch(value), f"{where}{path} = {value!r} is not ISO 8601 UTC with Z"
                assert not value.endswith(".000000Z"), f"{where}{path} = {value!r}: zero microseconds shown"
                seen[key] += 1
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            assert not _instant_key(key), f"{where}{path} = {value!r}: an instant as a number"
            for lo, hi in (_SECONDS, _MICROS):
                assert not lo <= value < hi, f"{where}{path} = {value!r} looks like an epoch instant"

    walk(doc, "", "$")
    return seen
